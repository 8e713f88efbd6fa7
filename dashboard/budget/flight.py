"""Single flight: concurrent identical queries, in any process, make one upstream call and
share its answer (or its error) through the shared cache."""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dashboard.budget import lanes, state
from dashboard.budget.backend import backend
from dashboard.budget.base import FLIGHT_LOCK_TTL
from dashboard.budget.config import config
from dashboard.budget.limiter import digest

logger = logging.getLogger(__name__)

T = TypeVar("T")

# An answer's layout is its computer's business: callers put their own version in `key`.
FLIGHT_LAYOUT = 1

_MISSING = object()
MISSING = _MISSING  # what `peek` finds when nothing is cached


def _cache_keys(key: object) -> tuple[str, str]:
    hashed = digest(key)
    return (
        state.schema_key("flight", FLIGHT_LAYOUT, "value", hashed),
        state.schema_key("flight", FLIGHT_LAYOUT, "error", hashed),
    )


def _lookup(keys: tuple[str, str], found: dict[str, Any] | None = None) -> Any:
    """The value cached under `keys` (`_cache_keys`), `_MISSING`, or a raise of the cached
    error; from `found` when the cache was read already (`state.cache_get_many`'s answer for
    both keys)."""
    value_key, error_key = keys
    if found is None:
        found = state.cache_get_many([value_key, error_key])
    if value_key in found:
        return found[value_key]
    if error_key in found:
        raise found[error_key]
    return _MISSING


def peek(key: object) -> Any:
    """What `single_flight` would answer for `key` from the cache now: its value, `MISSING`,
    or a raise of the error it shares; never computes."""
    return _lookup(_cache_keys(key))


def cached_key(key: object) -> str:
    """Where `single_flight` caches its value for `key` in the shared state: for a page to read
    it with its other reads (`state.read_together`)."""
    return _cache_keys(key)[0]


def cached(key: object, default: Any = None) -> Any:
    """The value `single_flight` cached for `key`, or `default`; never computes, never raises a
    cached error."""
    return state.cache_get(_cache_keys(key)[0], default)


def answered(key: object) -> bool:
    """Whether `single_flight` has an answer for `key` to share now, a value or an error."""
    value_key, error_key = _cache_keys(key)
    return bool(state.cache_get_many([value_key, error_key]))


def forget(key: object) -> None:
    """Drop what `single_flight` cached for `key`, value and error."""
    state.cache_delete_many(list(_cache_keys(key)))


def single_flight(
    key: object,
    compute: Callable[[], T],
    ttl: float | Callable[[T], float] | None,
    wait_timeout: float | None = None,
    error_ttl: float | None = 5,
    ready: Callable[[T], object] | None = None,
    shared_error: Callable[[Exception], bool] | None = None,
    looked: bool = False,
    slot_key: str | None = None,
) -> T:
    """`compute()`'s result for `key`, from the cache when there, else computed by exactly one
    caller at a time across all processes while the others wait for its result.

    The result is cached for `ttl` seconds (`ttl=0`: just call `compute()`), or for `ttl(result)`
    seconds when `ttl` is a function (read once the result is known). An exception from
    `compute()` is cached for `error_ttl` seconds and raised to everyone who asks meanwhile, so
    a failing store is not asked again by each waiter in turn, unless `shared_error(exc)` says
    it is the caller's own. Waiting for another caller's computation gives up with
    `WaitTimeout` after `wait_timeout` (default `STORE_WAIT_TIMEOUT`) seconds. `ready(result)`,
    if given, hears a newly computed result before it is written to the cache for the others
    (a caller waiting on it goes on at once). `looked`: the caller found nothing cached a
    moment ago (`peek`), so the cache is read again only once the lock is held. `slot_key`:
    the budget `compute()` calls the store in (for a person): on Redis, its first slot is
    taken with the lock when one is free, in the same round trip (`lanes.slot_ahead`).
    """
    if ttl is None or (not callable(ttl) and ttl <= 0):
        return compute()
    keys = value_key, error_key = _cache_keys(key)
    if not looked and (value := _lookup(keys)) is not _MISSING:
        return value
    if wait_timeout is None:
        wait_timeout = config().wait_timeout
    # Whoever held the lock before us has probably just filled the cache: it is read under the
    # lock, on Redis by the script that takes it.
    stored = state.stored_keys(list(keys), config().redis_url) or ()
    ahead = lanes.slot_ahead(slot_key) if stored and slot_key is not None else None
    lock = backend().lock(
        "flight:" + str(key), wait_timeout, FLIGHT_LOCK_TTL, look=stored, slot=ahead
    )
    with lock as read:
        found = None if read is None else state.read_stored(list(keys), read.values)
        if (value := _lookup(keys, found)) is not _MISSING:
            return value
        try:
            with lanes.after_lock(ahead, None if read is None else read.slot_wait):
                value = compute()
        except Exception as exc:
            if error_ttl and error_ttl > 0 and (shared_error is None or shared_error(exc)):
                try:
                    state.cache_set(error_key, exc, error_ttl)
                except Exception:
                    # An error that cannot be pickled is still raised, just not shared.
                    logger.warning("could not cache %s for waiters", type(exc).__name__)
            raise
        if ready is not None:
            ready(value)
        lifetime = ttl(value) if callable(ttl) else ttl
        if lifetime > 0:
            state.cache_set(value_key, value, lifetime)
        return value
