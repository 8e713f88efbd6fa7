"""The dashboard's own shared state: its cache and its pacing files, or Redis.

Every process keeps the shared budget, single-flight answers, wall snapshots and sign-in
counters there. When that state fails (the state directory vanished or became read-only, Redis
stopped) the failure is one error, `SharedStateError`, whatever raised it underneath: the views
answer it with one clear 503, and the next request after the state returns works again, with
nothing restarted.
"""

import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)

# What the file backend (OSError: missing, read-only or full directory) and Redis (RedisError:
# refused, timed out, reset) raise when the state itself is at fault.
STATE_ERRORS: tuple[type[Exception], ...]
try:  # Redis is optional; when it backs the cache and the pacing, its faults are state faults.
    from redis import RedisError
except ImportError:  # pragma: no cover - redis is installed with the dev extra
    STATE_ERRORS = (OSError,)
else:
    STATE_ERRORS = (OSError, RedisError)


class SharedStateError(Exception):
    """The dashboard's shared state (its cache, pacing files or Redis) cannot be used."""

    code = "shared_state"
    message = (
        "The dashboard's shared state is unavailable (its cache or Redis); try again in a moment."
    )
    http_status = 503


@contextlib.contextmanager
def guarded(what: str) -> Iterator[None]:
    """Turn a failure of the shared state inside the block into `SharedStateError`."""
    try:
        yield
    except STATE_ERRORS as exc:
        logger.error("shared state unavailable while %s: %s", what, type(exc).__name__)
        raise SharedStateError(what) from exc


def cache_get(key: str, default: Any = None) -> Any:
    with guarded("reading the cache"):
        return cache.get(key, default)


def cache_get_many(keys: Iterable[str]) -> dict[str, Any]:
    with guarded("reading the cache"):
        return cache.get_many(keys)


def cache_set(key: str, value: Any, timeout: float | None) -> None:
    with guarded("writing the cache"):
        cache.set(key, value, timeout)


def cache_add(key: str, value: Any, timeout: float | None) -> bool:
    with guarded("writing the cache"):
        return cache.add(key, value, timeout)


def cache_delete_many(keys: Iterable[str]) -> None:
    with guarded("writing the cache"):
        cache.delete_many(keys)
