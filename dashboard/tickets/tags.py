"""The team's tag catalogue as the filter form reads it: the API filters by tag id, but tickets
carry tag names, and the store has no list of tags to look them up in."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from dashboard.bidi import isolate

TAGS_LISTED = 12  # the tag names the form lists as a reminder


@dataclass(frozen=True)
class TagCatalogue:
    """The team's tags, name to id."""

    by_id: dict = field(default_factory=dict)  # id -> name

    def id_for(self, name):
        wanted = name.strip().casefold()
        return next((tag_id for tag_id, known in self.by_id.items() if known.casefold() == wanted),
                    None)  # fmt: skip


def tag_id(catalogue, name):
    """The id of the tag called `name`; a field error when the catalogue has none."""
    found = catalogue.id_for(name)
    if found is None:
        raise ValidationError(
            f"No tag is called “{isolate(name)}” in the team's tag catalogue: enter its id, or ask "
            "an admin to add it (Admin > Tags)."
        )
    return found


def help_text(text, catalogue):
    """The tags field's help, with the first tag names as a reminder."""
    known = sorted(catalogue.by_id.values(), key=str.casefold)
    if not known:
        return text
    shown = ", ".join(known[:TAGS_LISTED]) + (", …" if len(known) > TAGS_LISTED else "")
    return f"{text} Tags by name: {shown}."
