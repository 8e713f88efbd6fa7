"""Request bodies read and validated the way Django REST framework's parsers and serializer
fields do it, with DRF's own messages.

A body is parsed (`parse_body`: JSON only, 415 for other media types), then each writable
field is checked in turn (`validate`): a field not given is skipped (a partial update), unknown
fields are ignored, and every field's errors are collected into one `Invalid`, whose `errors`
become the 400 answer's body: `{"status": ["\\"x\\" is not a valid choice."]}`.

Each value must be of the JSON type the published spec gives its field. DRF's fields would
take more ("7" for the id 7, "" for null, 1 or "yes" for true, 3 for the text "3"), but the
spec does not promise it, and a client that came to lean on it would lean on what a store may
stop doing: the sandbox refuses those values, in the words DRF uses for a value of the wrong type.
"""

import json
import re
from collections.abc import Callable, Collection, Mapping
from urllib.parse import urlsplit

REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
NOT_BLANK = "This field may not be blank."

# Django's EmailValidator, simplified: a dot-atom local part and a domain with a dot in it.
_EMAIL = re.compile(
    r"^[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
)
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$")


class FieldError(ValueError):
    """One field's refusal: a list of messages, or a nested serializer's own errors."""

    def __init__(self, detail: list[str] | dict):
        super().__init__(detail)
        self.detail = detail


class Unreadable(ValueError):
    """A body that cannot be read at all: the status and `detail` message to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Invalid(ValueError):
    """A body refused; `errors` is the answer's body, field name to messages."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


def fail(message: str) -> FieldError:
    return FieldError([message])


Validator = Callable[[object], object]


def parse_body(body: bytes, content_type: str) -> object:
    """The request's data, as DRF's JSONParser reads it; `Unreadable` if it cannot be."""
    if not body:
        return {}  # no body: no data, whatever the content type
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        # The spec also lists form encodings; the sandbox reads JSON only (stricter, never laxer).
        raise Unreadable(415, f'Unsupported media type "{content_type}" in request.')
    try:
        return json.loads(body)
    except ValueError as error:
        raise Unreadable(400, f"JSON parse error - {error}") from error


def validate(data: object, fields: Mapping[str, Validator], required: Collection[str] = ()):
    """The valid values of the fields given in `data`, by name; `Invalid` if any is refused."""
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise Invalid(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    values, errors = {}, {}
    for name, check in fields.items():
        if name not in data:
            if name in required:
                errors[name] = [REQUIRED]
            continue
        try:
            values[name] = check(data[name])
        except FieldError as error:
            errors[name] = error.detail
    if errors:
        raise Invalid(errors)
    return values


# -- Fields --


def char(*, allow_null=False, allow_blank=False, max_length: int | None = None) -> Validator:
    """DRF's CharField, whitespace trimmed; a number is not text (DRF would take its digits)."""

    def check(value):
        if value is None:
            if allow_null:
                return None
            raise fail(NOT_NULL)
        if not isinstance(value, str):
            raise fail("Not a valid string.")
        text = value.strip()
        if not text:
            if allow_blank:
                return ""
            raise fail(NOT_BLANK)
        if max_length is not None and len(text) > max_length:
            raise fail(f"Ensure this field has no more than {max_length} characters.")
        return text

    return check


def choice(choices: Collection[str], *, allow_null=False) -> Validator:
    def check(value):
        if value is None:
            if allow_null:
                return None
            raise fail(NOT_NULL)
        if isinstance(value, bool) or str(value) not in choices:
            raise fail(f'"{value}" is not a valid choice.')
        return str(value)

    return check


def multiple_choice(choices: Collection[str], *, allow_empty=True) -> Validator:
    """DRF's MultipleChoiceField, answering with the choices in the order given."""

    def check(value):
        if value is None:
            raise fail(NOT_NULL)
        if isinstance(value, str) or not isinstance(value, list):
            raise fail(f'Expected a list of items but got type "{type(value).__name__}".')
        if not value and not allow_empty:
            raise fail("This selection may not be empty.")
        for item in value:
            if isinstance(item, bool) or str(item) not in choices:
                raise fail(f'"{item}" is not a valid choice.')
        return list(dict.fromkeys(str(item) for item in value))

    return check


def boolean() -> Validator:
    """DRF's BooleanField, for JSON's true and false only (DRF would take 1, "yes", "on"...)."""

    def check(value):
        if value is None:
            raise fail(NOT_NULL)
        if not isinstance(value, bool):
            raise fail("Must be a valid boolean.")
        return value

    return check


def email(*, allow_null=False) -> Validator:
    text = char(allow_null=allow_null)

    def check(value):
        address = text(value)
        if address is not None and not _EMAIL.match(address):
            raise fail("Enter a valid email address.")
        return address

    return check


def url(*, max_length: int = 200) -> Validator:
    """DRF's URLField (Django's URLValidator): http or https, to a host name or address."""
    text = char(max_length=max_length)

    def check(value):
        address = text(value)
        if not _is_url(address):
            raise fail("Enter a valid URL.")
        return address

    return check


def _is_url(address: str) -> bool:
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or " " in address:
        return False
    if host == "localhost" or _IPV4.match(host):
        return True
    labels = host.rstrip(".").split(".")
    return (
        len(labels) > 1
        and all(_HOST_LABEL.match(label) for label in labels)
        and not labels[-1].isdigit()
    )


def primary_key(exists: Callable[[int], bool], *, allow_null=False) -> Validator:
    """DRF's PrimaryKeyRelatedField over integer ids, given as JSON numbers (DRF would take ""
    for null and "7" for 7)."""

    def check(value):
        if value is None:
            if allow_null:
                return None
            raise fail(NOT_NULL)
        found = _pk_of(value)
        if not exists(found):
            raise fail(f'Invalid pk "{value}" - object does not exist.')
        return found

    return check


def primary_keys(exists: Callable[[int], bool]) -> Validator:
    """A many=True PrimaryKeyRelatedField: a list of ids, each of an existing object."""

    def check(value):
        items = _list_of(value)
        found = [_pk_of(item) for item in items]
        for item, pk in zip(items, found, strict=True):
            if not exists(pk):
                raise fail(f'Invalid pk "{item}" - object does not exist.')
        return list(dict.fromkeys(found))

    return check


def slugs(slug_field: str, exists: Callable[[object], bool]) -> Validator:
    """A many=True SlugRelatedField: a list of values of `slug_field`, each of an object."""

    def check(value):
        items = _list_of(value)
        for item in items:
            if isinstance(item, list | dict):
                raise fail("Invalid value.")
            if not exists(item):
                shown = "None" if item is None else str(item)
                raise fail(f"Object with {slug_field}={shown} does not exist.")
        return list(dict.fromkeys(items))

    return check


def _list_of(value) -> list:
    if value is None:
        raise fail(NOT_NULL)
    if not isinstance(value, list):
        raise fail(f'Expected a list of items but got type "{type(value).__name__}".')
    return value


def _pk_of(value) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise fail(f"Incorrect type. Expected pk value, received {type(value).__name__}.")
