"""Which lane the current caller is in, and its turn in the budget in that lane.

A person waiting for a page is in the interactive lane (the default); work nobody waits at
runs inside `background()`. The lane lives in a context variable, so it follows a request's
thread and whatever that thread hands its context to.
"""

import contextlib
import contextvars
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator

from dashboard.budget.backend import backend
from dashboard.budget.config import Config, config
from dashboard.budget.limiter import BACKGROUND, INTERACTIVE, Slot
from dashboard.budget.state import SharedStateError

logger = logging.getLogger(__name__)

_lane: contextvars.ContextVar[str] = contextvars.ContextVar("pacing_lane", default=INTERACTIVE)
_background_wait: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pacing_background_wait", default=None
)
# The slot this caller took last, and when: (token key, its record, monotonic time taken).
_taken: contextvars.ContextVar[tuple[str, str, float] | None] = contextvars.ContextVar(
    "pacing_taken", default=None
)
# A call that goes this much later than its slot was taken is recorded again (see
# `Backend.restamp`); sooner, the budget's margin covers the difference.
LATE_SEND = 0.02
_slot_in_hand: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pacing_slot_in_hand", default=False
)
# The slot a lock looked at for this caller and did not take (see `after_lock`).
_looked_ahead: contextvars.ContextVar[Slot | None] = contextvars.ContextVar(
    "pacing_looked_ahead", default=None
)
# A person's wait for a slot, cut shorter than `STORE_WAIT_TIMEOUT` (see `waiting_at_most`).
_interactive_wait: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pacing_interactive_wait", default=None
)


@contextlib.contextmanager
def background(wait: float | None = None) -> Iterator[None]:
    """Every store call made inside this block (in this thread) is background work, waiting
    at most `wait` seconds for a slot (default `STORE_BACKGROUND_WAIT`)."""
    lane, most = _lane.set(BACKGROUND), _background_wait.set(wait)
    try:
        yield
    finally:
        _lane.reset(lane)
        _background_wait.reset(most)


@contextlib.contextmanager
def interactive() -> Iterator[None]:
    """Every store call made inside this block is a person's, whatever lane the caller was
    in (a write: someone waits for it)."""
    lane = _lane.set(INTERACTIVE)
    try:
        yield
    finally:
        _lane.reset(lane)


def current_lane() -> str:
    return _lane.get()


@contextlib.contextmanager
def waiting_at_most(seconds: float | None) -> Iterator[None]:
    """A person's store calls inside this block wait at most `seconds` for their slot (None:
    `STORE_WAIT_TIMEOUT`, as always), and do not join a line longer than that (`WaitTimeout`
    at once): someone who can be shown what is known already is not kept waiting for the
    rest."""
    token = _interactive_wait.set(seconds)
    try:
        yield
    finally:
        _interactive_wait.reset(token)


def interactive_wait() -> float:
    """How long a person's call in this context waits for its slot at most."""
    most = _interactive_wait.get()
    timeout = config().wait_timeout
    return timeout if most is None else min(most, timeout)


def expected_wait(token_key: str) -> float:
    """About how many seconds a person asking now would wait for a slot in the budget of the
    token `token_key` stands for, behind everyone waiting on any process or machine (one read
    of the shared state, nothing recorded; 0 when pacing is off)."""
    conf = config()
    if conf.rate_limit <= 0:
        return 0.0
    return backend().expected_wait(token_key, conf.rate_limit, conf.rate_window, conf.rate_margin)


class _WaitingRoom:
    """The people of this process who may wait for the store at once (`STORE_WAITERS`): a
    thread that waits for a store slot is a thread of the server that answers nothing else
    meanwhile, so only a few may; the others are answered with what is known, or told to try
    again, at once. Made again in a forked child (gunicorn's workers), with its own count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inside = 0

    def enter(self, most: int) -> bool:
        with self._lock:
            if most > 0 and self.inside >= most:
                return False
            self.inside += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.inside = max(0, self.inside - 1)


_room = _WaitingRoom()


def _after_fork() -> None:
    global _room
    _room = _WaitingRoom()


os.register_at_fork(after_in_child=_after_fork)


@contextlib.contextmanager
def waiting_room() -> Iterator[bool]:
    """Inside the block, the caller counts among this process's people waiting for the store
    if there was room (`True`); `False` when `STORE_WAITERS` of them wait already, and the
    caller must not wait. `STORE_WAITERS = 0` leaves room for everyone."""
    room = _room
    admitted = room.enter(config().waiters)
    try:
        yield admitted
    finally:
        if admitted:
            room.leave()


def people_waiting() -> int:
    """How many of this process's people wait for the store now (for tests and the log)."""
    return _room.inside


@contextlib.contextmanager
def slot_in_hand() -> Iterator[None]:
    """The next store call inside this block uses a slot the caller has already waited for
    (with `wait_for_slot`), so it holds no lock while it waits."""
    token = _slot_in_hand.set(True)
    try:
        yield
    finally:
        _slot_in_hand.reset(token)


def wait_for_slot(token_key: str) -> float:
    """Wait for the shared request budget of the token that `token_key` (a hash) stands for,
    in the current lane (see `background`).

    Returns the seconds waited; raises `WaitTimeout` after `STORE_WAIT_TIMEOUT` (a person) or
    `STORE_BACKGROUND_WAIT` (background work). `STORE_RATE_LIMIT = 0` turns pacing off.
    """
    conf = config()
    if conf.rate_limit <= 0:
        return 0.0
    if _slot_in_hand.get():
        _slot_in_hand.set(False)  # one call's slot: a retry waits its turn again
        return 0.0
    ahead, member = _looked_ahead.get(), None
    if ahead is not None:
        _looked_ahead.set(None)
        member = ahead.member if ahead.key == token_key else None
    lane, timeout, line_at_most = _turn(conf)
    waited, member = backend().take_slot(
        token_key, conf.rate_limit, conf.rate_window, conf.rate_margin, timeout, lane,
        conf.background_limit, line_at_most, member,
    )  # fmt: skip
    _taken.set((token_key, member, time.monotonic()))
    return waited


def _turn(conf: Config) -> tuple[str, float, float | None]:
    """The current lane, how long a call in it waits for its slot, and the longest line a
    person in it joins (None: any)."""
    lane = current_lane()
    if lane != INTERACTIVE:
        most = _background_wait.get()
        return lane, conf.background_wait if most is None else most, None
    timeout = interactive_wait()
    # A person told to wait only so long (`waiting_at_most`) does not join a longer line.
    return lane, timeout, None if _interactive_wait.get() is None else timeout


def slot_ahead(token_key: str) -> Slot | None:
    """The slot a person's next store call under `token_key` would ask for first, for the
    answer's lock to take in the same round trip to Redis when it is free (`Backend.lock`);
    None where there is nothing to take ahead (no pacing, background work, a slot in hand).
    Hand what the lock found to `after_lock`."""
    conf = config()
    if conf.rate_limit <= 0 or _slot_in_hand.get() or current_lane() != INTERACTIVE:
        return None
    _, _, line_at_most = _turn(conf)
    return Slot.asked(
        token_key, INTERACTIVE, conf.rate_limit, conf.rate_window, conf.rate_margin,
        conf.background_limit, secrets.token_hex(8), line_at_most,
    )  # fmt: skip


@contextlib.contextmanager
def after_lock(slot: Slot | None, wait: float | None) -> Iterator[None]:
    """Inside the block, the first store call uses `slot` (`slot_ahead`) if the lock took it
    (`wait` 0). Otherwise (`wait` the line's length, or None: not asked) it asks for its slot
    as always, under `slot`'s name, which ends any mark the lock's look left that this person
    waits; a block that makes no call ends the mark itself."""
    if slot is None:
        yield
        return
    if wait is not None and wait <= 0:
        _taken.set((slot.key, slot.member, time.monotonic()))
        in_hand = _slot_in_hand.set(True)
        try:
            yield
        finally:
            _slot_in_hand.reset(in_hand)
        return
    looked = _looked_ahead.set(slot)
    try:
        yield
    finally:
        unused = _looked_ahead.get() is slot
        _looked_ahead.reset(looked)
        if unused and wait is not None:
            with contextlib.suppress(SharedStateError):
                backend().stop_waiting(slot)


def slot_used() -> None:
    """The call this caller took its slot for has gone (its request is written): if that was
    later than the margin allows, its record in the budget moves to now. Each slot once."""
    taken = _taken.get()
    if taken is None:
        return
    _taken.set(None)
    token_key, member, at = taken
    if member and time.monotonic() - at > LATE_SEND:
        conf = config()
        try:
            backend().restamp(token_key, member, conf.rate_window + conf.rate_margin)
        except SharedStateError:  # the call has gone: its answer matters more than its record
            logger.warning("could not record a late call's time in the budget")
