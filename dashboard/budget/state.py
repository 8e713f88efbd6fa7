"""The dashboard's own shared state: its cache and its pacing files, or Redis.

Every process keeps the shared budget, single-flight answers, wall snapshots and sign-in
counters there. When that state fails (the state directory vanished or became read-only, Redis
stopped) the failure is one error, `SharedStateError`, whatever raised it underneath: the views
answer it with one clear 503, and the next request after the state returns works again, with
nothing restarted.

A rolling deploy runs two releases side by side on one Redis, so every entry's key carries the
version of its layout (`schema_key`), and an entry that cannot be read back (written by a
release whose classes differ) is absent, never a crash: whoever needs it builds it again.
"""

import contextlib
import dataclasses
import hashlib
import logging
import pickle
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, BaseCache, caches
from django.core.signals import setting_changed
from django.dispatch import receiver

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


def schema_key(kind: str, version: int | str, *parts: object) -> str:
    """The key of an entry of `kind` whose layout is `version`: `kind:v<version>:parts…`. A
    release that changes what such an entry holds changes its version, so that it and the
    release before it read different keys instead of each other's entries."""
    return ":".join([kind, f"v{version}", *map(str, parts)])


def fingerprint(*classes: type) -> str:
    """A short hash of the dataclasses' names and fields (with their types): a version that
    changes by itself whenever a class kept in the shared state changes shape."""
    shape = [
        (cls.__qualname__, [(f.name, str(f.type)) for f in dataclasses.fields(cls)])
        for cls in classes
    ]
    return hashlib.sha256(repr(shape).encode()).hexdigest()[:8]


# What reading back an entry of another release can raise: a class or module that moved or
# went, a constructor that takes other arguments, a truncated or foreign value.
UNREADABLE = (
    pickle.UnpicklingError,
    AttributeError,
    ImportError,
    EOFError,
    TypeError,
    ValueError,
    IndexError,
    KeyError,
)


class _ThreadsClient(threading.local):
    generation = -1
    client: BaseCache | None = None


_threads = _ThreadsClient()
_generation = 0  # of the CACHES setting (tests change it)


def thread_cache() -> BaseCache:
    """This thread's client of the shared cache, made on its first use and kept.

    Not Django's `caches`, which keeps one client per context rather than per thread: a store
    thread runs each task in a copy of the context of the request that started it (see
    `views.common.started`), and Django's would make a client there for every task, and with
    it a new Redis connection, connected and greeted before the first read of every store
    call (about a millisecond of a first view), then left for the garbage collector."""
    if _threads.generation != _generation or _threads.client is None:
        _threads.client = caches.create_connection(DEFAULT_CACHE_ALIAS)
        _threads.generation = _generation
    return _threads.client


@receiver(setting_changed)
def _caches_changed(setting: str, **kwargs: Any) -> None:
    global _generation
    if setting == "CACHES":
        _generation += 1


def cache_get(key: str, default: Any = None) -> Any:
    with guarded("reading the cache"):
        try:
            return thread_cache().get(key, default)
        except UNREADABLE as exc:
            _unreadable(key, exc)
            return default


def cache_get_many(keys: Iterable[str]) -> dict[str, Any]:
    keys = list(keys)
    with guarded("reading the cache"):
        client = thread_cache()
        try:
            return client.get_many(keys)
        except UNREADABLE:
            pass  # one entry spoils the whole read: read them one by one
        found = {}
        for key in keys:
            try:
                value = client.get(key, _ABSENT)
            except UNREADABLE as exc:
                _unreadable(key, exc)
                continue
            if value is not _ABSENT:
                found[key] = value
        return found


_ABSENT = object()


def _unreadable(key: str, exc: Exception) -> None:
    logger.warning(
        "shared state entry %s… unreadable (%s): treated as absent", key[:24], type(exc).__name__
    )


def cache_set(key: str, value: Any, timeout: float | None) -> None:
    with guarded("writing the cache"):
        thread_cache().set(key, value, timeout)


def cache_add(key: str, value: Any, timeout: float | None) -> bool:
    with guarded("writing the cache"):
        return thread_cache().add(key, value, timeout)


def cache_delete_many(keys: Iterable[str]) -> None:
    with guarded("writing the cache"):
        thread_cache().delete_many(keys)
