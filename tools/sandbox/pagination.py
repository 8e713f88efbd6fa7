"""Keyset pagination with opaque cursors, in the manner of DRF's CursorPagination.

A cursor holds the sort key of the row it starts after (the last row of a page for `next`,
the first row for `previous`) and whether it walks backwards. Because it names a position
rather than an offset, tickets arriving meanwhile never shift or repeat a page.
"""

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class InvalidCursor(ValueError):
    """The cursor cannot be decoded or does not describe a position of this list."""


@dataclass(frozen=True)
class Ordering:
    """How a list is ordered: a sort key per row and its direction.

    `shape` tells how each part of a key looks, to reject forged positions.
    """

    key: Callable[[dict], tuple]
    shape: tuple[str, ...]
    descending: bool

    def comes_after(self, row: dict, position: tuple) -> bool:
        """Whether `row` is listed after `position`."""
        row_key = self.key(row)
        return row_key < position if self.descending else row_key > position


NEWEST_FIRST = Ordering(
    key=lambda row: (row["created_at"], row["id"]), shape=("timestamp", "int"), descending=True
)
USERS_NEWEST_FIRST = Ordering(
    key=lambda row: (row["date_joined"], row["id"]), shape=("timestamp", "int"), descending=True
)
BY_ID = Ordering(key=lambda row: (row["id"],), shape=("int",), descending=False)


@dataclass(frozen=True)
class Page:
    results: list[dict]
    next_cursor: str | None
    previous_cursor: str | None


def encode_cursor(position: tuple, reverse: bool) -> str:
    payload = json.dumps({"p": list(position), "r": reverse}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, ordering: Ordering) -> tuple[tuple, bool]:
    """The (position, reverse) a cursor stands for; `InvalidCursor` if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise InvalidCursor(cursor) from error
    if not isinstance(payload, dict) or set(payload) != {"p", "r"}:
        raise InvalidCursor(cursor)
    position, reverse = payload["p"], payload["r"]
    if not isinstance(reverse, bool) or not _fits(position, ordering.shape):
        raise InvalidCursor(cursor)
    return tuple(position), reverse


def _fits(position: object, shape: tuple[str, ...]) -> bool:
    if not isinstance(position, list) or len(position) != len(shape):
        return False
    for part, kind in zip(position, shape, strict=True):
        if kind == "int" and (not isinstance(part, int) or isinstance(part, bool)):
            return False
        if kind == "timestamp" and not (isinstance(part, str) and _TIMESTAMP.match(part)):
            return False
    return True


def paginate(rows: Sequence[dict], ordering: Ordering, cursor: str | None, size: int) -> Page:
    """One page of `rows` (already in display order) starting at `cursor`."""
    if cursor is None:
        return _page(rows, ordering, 0, min(len(rows), size))
    position, reverse = decode_cursor(cursor, ordering)
    if reverse:
        # Walking back: the position is the first row of the page we came from, so the
        # page ends just before it.
        end = _count_before(rows, ordering, position)
        return _page(rows, ordering, max(0, end - size), end)
    start = _count_not_after(rows, ordering, position)
    return _page(rows, ordering, start, min(len(rows), start + size))


def _count_not_after(rows: Sequence[dict], ordering: Ordering, position: tuple) -> int:
    # Rows are sorted, so the rows "not after" the position are a prefix.
    for index, row in enumerate(rows):
        if ordering.comes_after(row, position):
            return index
    return len(rows)


def _count_before(rows: Sequence[dict], ordering: Ordering, position: tuple) -> int:
    for index, row in enumerate(rows):
        if ordering.comes_after(row, position) or ordering.key(row) == position:
            return index
    return len(rows)


def _page(rows: Sequence[dict], ordering: Ordering, start: int, end: int) -> Page:
    results = list(rows[start:end])
    if not results:
        return Page(results, None, None)
    next_cursor = encode_cursor(ordering.key(results[-1]), False) if end < len(rows) else None
    previous_cursor = encode_cursor(ordering.key(results[0]), True) if start > 0 else None
    return Page(results, next_cursor, previous_cursor)


def page_link(host: str, path: str, params: list[tuple[str, str]], cursor: str | None):
    """Absolute link to another page, repeating every parameter of the request."""
    if cursor is None:
        return None
    kept = [(name, value) for name, value in params if name != "cursor"]
    return f"http://{host}{path}?{urlencode([*kept, ('cursor', cursor)])}"
