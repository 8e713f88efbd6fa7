"""The words people see for the API's enum values, the same on every page and in every file."""

from dashboard import store


def label(value):
    """A human label for an API enum value: the API's own for channels ("Customer account"),
    else the value in words ("on_hold" is "On hold"); unknown values are shown as they come.
    An empty value has no label ("")."""
    if value is None or value == "":
        return ""
    value = str(value)
    return store.CHANNELS.get(value, value.replace("_", " ").capitalize())
