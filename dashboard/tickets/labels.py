"""The words people see for the API's enum values, the same on every page and in every file,
and filters in words."""

from dataclasses import dataclass

from dashboard import store


def label(value):
    """A human label for an API enum value: the API's own for channels ("Customer account"),
    else the value in words ("on_hold" is "On hold"); unknown values are shown as they come.
    An empty value has no label ("")."""
    if value is None or value == "":
        return ""
    value = str(value)
    return store.CHANNELS.get(value, value.replace("_", " ").capitalize())


@dataclass(frozen=True)
class InWords:
    """Filters in words, with each filter's values kept apart from the words around them: they
    are people's and the store's words (a tag, an agent's name, what was searched), which a
    page isolates one by one (see `dashboard.bidi`). `parts` are `(label, values)`, each value
    `(text, quoted)`; `str()` is the whole as text: "Status: New, Open · Search: “refund”", or
    without the colons ("Status New, Open") when `colon` is false."""

    parts: tuple = ()
    colon: bool = True

    def __str__(self):
        gap = ": " if self.colon else " "
        parts = []
        for label, values in self.parts:
            shown = ", ".join(f"“{text}”" if quoted else text for text, quoted in values)
            parts.append(f"{label}{gap}{shown}")
        return " · ".join(parts) or "All tickets"

    def __add__(self, other):
        return InWords(self.parts + other.parts, self.colon)
