"""Which lane the current caller is in, and its turn in the budget in that lane.

A person waiting for a page is in the interactive lane (the default); work nobody waits at
runs inside `background()`. The lane lives in a context variable, so it follows a request's
thread and whatever that thread hands its context to.
"""

import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator

from dashboard.budget.backend import backend
from dashboard.budget.config import config
from dashboard.budget.limiter import BACKGROUND, INTERACTIVE
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
    lane = current_lane()
    if lane == INTERACTIVE:
        timeout = conf.wait_timeout
    else:
        most = _background_wait.get()
        timeout = conf.background_wait if most is None else most
    waited, member = backend().take_slot(
        token_key, conf.rate_limit, conf.rate_window, conf.rate_margin, timeout, lane,
        conf.background_limit,
    )  # fmt: skip
    _taken.set((token_key, member, time.monotonic()))
    return waited


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
