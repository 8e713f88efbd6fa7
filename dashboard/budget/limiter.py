"""The budget's arithmetic: when the next call in a lane may go, and when the next counted
attempt may be made. Pure functions of the recorded times; the backends keep the times.

Every call is in one of two lanes. A person waiting for a page is INTERACTIVE; everything
nobody waits at (wall screens, count walks, prefetching the next page) is BACKGROUND. A
background call takes a slot only while fewer than `background_limit` calls (of either lane)
are in the window and nobody waits in the interactive lane: so a slot is always left for a
person who arrives, and a second person waits for one call at most.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

INTERACTIVE = "i"
BACKGROUND = "b"

# How often a background caller looks again while people are waiting, and how long a waiting
# person's mark outlives the wait it was told (a process that died stops counting after it).
YIELD_POLL = 0.05
# The layout of the budget's own entries (its windows of calls and attempts, its locks), in
# Redis and in files, carried in their keys. Two releases running side by side share the budget
# only while this stays the same: change it only with the layout.
LAYOUT = 1
WAITER_GRACE = 0.25


class WaitTimeout(Exception):
    """No request slot or lock became free within the allowed time."""


@dataclass(frozen=True)
class Slot:
    """One caller's request for a slot in the budget under `key`."""

    key: str
    lane: str
    rate: int
    background_limit: int
    span: float  # the window plus the margin: how long a recorded call counts
    window: float
    member: str  # names this caller in the record (and among the people waiting)
    # A person who would wait longer than this in line (`queue_wait`, behind everyone waiting)
    # is refused at once, nothing recorded: they are shown what is known instead.
    most: float | None = None

    @classmethod
    def asked(
        cls,
        key: str,
        lane: str,
        rate: int,
        window: float,
        margin: float,
        background: int | None,
        member: str,
        most: float | None = None,
    ) -> "Slot":
        """The slot a call asks for under the budget's settings (`background`: the background
        lane's limit as set, see `background_limit`)."""
        return cls(
            key, lane, rate, background_limit(rate, background), window + margin, window, member,
            most,
        )  # fmt: skip


def background_limit(rate: int, limit: int | None) -> int:
    # Background work always leaves a slot for people, and may always use one.
    limit = rate - 1 if limit is None else limit
    return max(1, min(limit, rate - 1)) if rate > 1 else 1


def digest(text: object) -> str:
    """Keys and lock names are hashed before they reach a file name or a Redis key, so even a
    careless caller cannot write the access token to disk or to Redis."""
    return hashlib.sha256(str(text).encode()).hexdigest()[:32]


def slot_wait(
    sent: Sequence[float],
    now: float,
    span: float,
    rate: int,
    background_limit: int,
    lane: str,
    people_waiting: bool,
) -> float:
    """Seconds until a call in `lane` may be sent (0: now), given the sorted send times of the
    calls in the last `span` seconds."""
    if lane == INTERACTIVE:
        return until_below(sent, rate, span, now)
    wait = until_below(sent, background_limit, span, now)
    if wait > 0 or people_waiting:
        # Wake a little after the slot frees: people waiting for the same moment go first.
        return max(wait, 0.0) + YIELD_POLL
    return 0.0


def queue_wait(sent: Sequence[float], now: float, span: float, rate: int, waiting: int) -> float:
    """About how long a person who asks now would wait for a slot, behind the `waiting`
    people already in line, given the sorted send times of the calls in the last `span`
    seconds: slot by slot as the calls in the window leave it, one window more for every
    `rate` people ahead. Background work is not counted: it steps aside for people."""
    if rate <= 0:
        return 0.0
    ahead = len(sent) + waiting  # calls that hold or will hold a slot before this one
    if ahead < rate:
        return 0.0
    rounds, index = divmod(ahead - rate, rate)
    frees = sent[index] + span if index < len(sent) else now + span
    return max(0.0, frees + rounds * span - now)


def until_below(times: Sequence[float], limit: int, span: float, now: float) -> float:
    """Seconds until fewer than `limit` of the sorted `times` lie within the last `span`."""
    if len(times) < limit:
        return 0.0
    return times[len(times) - limit] + span - now


def attempt_wait(
    times: Sequence[float], now: float, span: float, free: int, cap: float | None
) -> float:
    """Seconds until one more attempt may be recorded after the sorted `times` of the last
    `span` seconds: none while fewer than `free` were made; past that, without a `cap`, until
    the oldest that matters leaves the span (a hard limit), and with one, a delay after the
    latest that doubles with each further attempt (1, 2, 4 s ... at most `cap`)."""
    count = len(times)
    if count < free:
        return 0.0
    if cap is None:
        return times[count - free] + span - now
    return times[-1] + min(2.0 ** (count - free), cap) - now


# An attempt under way (admitted, its outcome not known yet) is recorded under a member with
# this prefix; once it ends it is either forgotten or kept as a plain member.
UNDER_WAY = "h:"


def held_attempt_wait(
    entries: Sequence[tuple[float, bool]],
    now: float,
    span: float,
    free: int,
    cap: float | None,
) -> tuple[float, bool]:
    """`attempt_wait` over the sorted `(time, under way)` entries of the last `span` seconds,
    and whether the wait is only for attempts under way: without them (if each were given
    back) one more attempt could be recorded now, so the caller may ask again once they end
    rather than be refused. Every entry counts, so however many ask at once, no more than
    `free` are ever under way or kept."""
    wait = attempt_wait([moment for moment, _ in entries], now, span, free, cap)
    if wait <= 0:
        return 0.0, False
    ended = [moment for moment, under_way in entries if not under_way]
    return wait, attempt_wait(ended, now, span, free, cap) <= 0
