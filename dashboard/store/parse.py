"""Reading the store's JSON at the border: small, strict field readers, so that nothing past
this package ever sees a raw dict, and an answer of the wrong shape is a `BadResponse`."""

import functools
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.utils.dateparse import parse_datetime

from dashboard.budget import state
from dashboard.store.errors import BadResponse

JSON = dict[str, Any]  # one JSON object of the store's answer
T = TypeVar("T")
C = TypeVar("C", bound=type)

_KEPT: list[type] = []


def kept(cls: C) -> C:
    """Marks a dataclass whose instances are kept in the shared state (cached answers, count
    walks, wall boards): its shape is part of `schema()`."""
    _KEPT.append(cls)
    return cls


@functools.cache
def schema() -> str:
    """The version of every answer this package keeps in the shared state, which changes by
    itself with the shape of any class marked `kept`: part of every key such answers are kept
    under, so that another release's answers are never read as this one's."""
    return state.fingerprint(*_KEPT)


def record(item: object, what: str) -> JSON:
    """`item` when it is a JSON object, else a `BadResponse` naming `what` it should be."""
    if not isinstance(item, dict):
        raise BadResponse(f"{what} is not an object")
    return item


def items(payload: JSON, name: str) -> list[Any]:
    """A list that may be absent or null (as an empty list), but nothing else."""
    value = payload.get(name) or []
    if not isinstance(value, list):
        raise BadResponse(f"{name!r} is not a list")
    return value


def text(payload: JSON, name: str) -> str:
    """A string that may be absent or null (as an empty string)."""
    return str(payload.get(name) or "")


def field(payload: JSON, name: str, kind: type[T]) -> T:
    value = payload.get(name)
    if not isinstance(value, kind):
        raise BadResponse(f"{name!r} missing or not a {kind.__name__}")
    return value


def integer(payload: JSON, name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadResponse(f"{name!r} missing or not an integer")
    return value


def optional_int(payload: JSON, name: str) -> int | None:
    value = payload.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def optional_str(payload: JSON, name: str) -> str | None:
    value = payload.get(name)
    return None if value is None else str(value)


def moment(payload: JSON, name: str) -> datetime | None:
    value = payload.get(name)
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        # In UTC now, so no later conversion can overflow at the ends of the calendar.
        return parsed.astimezone(UTC) if parsed is not None else None
    except OverflowError:
        return None
