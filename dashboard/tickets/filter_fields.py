"""The filter form's own fields: ids as the API types them, lists typed or repeated, tags by
name or id. None of them asks the store anything; names that need the store (customers,
products) are resolved by the form once every field is valid."""

import re

from django import forms
from django.core.exceptions import ValidationError

from dashboard.bidi import isolate

MAX_ID = 2**31 - 1
MAX_TEXT = 200
MAX_LIST_ITEMS = 20
# Only ASCII digits make an id: "３", "+3", "3.0" and "-1" are not the integer the API reads.
DIGITS = re.compile(r"[0-9]+")


MAX_ID_DIGITS = len(str(MAX_ID))


def bounded_id(text):
    """A positive id within the API's (and the database's) range from ASCII digits, or None.
    The length is checked before `int()`, which refuses more than 4,300 digits with an error."""
    text = str(text).strip()
    if len(text) > MAX_ID_DIGITS or not DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_ID:
        return None
    return int(text)


def as_id(text, what="id"):
    """A positive id within the API's range, from ASCII digits only."""
    found = bounded_id(text)
    if found is None:
        text = str(text).strip()[:MAX_TEXT]
        raise ValidationError(
            f"“{isolate(text)}” is not a valid {what}: enter a whole number from 1."
        )
    return found


class IdConverter:
    """`<id:name>` in a URL: like `<int:...>`, but an id out of range is no match (404) rather
    than a number too large for the database or for `int()`."""

    regex = f"[0-9]{{1,{MAX_ID_DIGITS}}}"

    def to_python(self, value):
        found = bounded_id(value)
        if found is None:
            raise ValueError(value)
        return found

    def to_url(self, value):
        return str(value)


class IdField(forms.Field):
    """A positive id the API accepts as an integer."""

    def __init__(self, what="id", **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "numeric"}))
        super().__init__(**kwargs)
        self.what = what

    def to_python(self, value):
        value = str(value or "").strip()[:20]
        return as_id(value, self.what) if value else None


class TextFilterField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(max_length=MAX_TEXT, strip=True, **kwargs)


class FreeListInput(forms.TextInput):
    """Reads every repeated parameter, so `?tags=a&tags=b` and `?tags=a,b` mean the same."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)


class FreeListField(forms.Field):
    """Free entry of several values: repeated parameters and/or comma-separated text. Each
    item is an id (ASCII digits) or a name, which `name_to_id` resolves or refuses; with no
    `name_to_id`, names are kept for the form to resolve."""

    widget = FreeListInput

    def __init__(self, *, what, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.what = what
        self.name_to_id = None
        self.id_to_name = {}

    def to_python(self, value):
        values = value if isinstance(value, list | tuple) else [value]
        items = []
        for raw in values:
            items.extend(part.strip() for part in str(raw or "").split(","))
        items = [item[:MAX_TEXT] for item in items if item]
        if len(items) > MAX_LIST_ITEMS:
            raise ValidationError(f"Enter at most {MAX_LIST_ITEMS} values.", code="too_many")
        ids, names = [], []
        for item in items:
            if numberish(item):
                ids.append(as_id(item, self.what))
            elif self.name_to_id is not None:
                ids.append(self.name_to_id(item))
            else:
                names.append(item)
        return tuple(sorted(set(ids))) + tuple(dict.fromkeys(names))

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            # A bound form's value is the request's text ("2"); the names are keyed by id (2).
            shown = (self.id_to_name.get(_id_or_text(item), item) for item in value)
            return ", ".join(str(item) for item in shown if str(item).strip())
        return value


def _id_or_text(item):
    found = bounded_id(item)
    return item if found is None else found


def numberish(item):
    """A number, meant as an id: "12" is one, and "+3", "-1", "3.0" or "３" are refused as
    ids rather than taken for names."""
    return bool(re.fullmatch(r"[+-]?[\d.]+", item))


class MultipleChoiceIgnoringEmpty(forms.MultipleChoiceField):
    """`?status=` means no status filter, like every other empty parameter."""

    def to_python(self, value):
        return [item for item in super().to_python(value) if item]
