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

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, BaseCache, caches
from django.core.cache.backends.redis import RedisSerializer
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


class _Together(threading.local):
    """What `read_together` holds for this thread: the keys to read with its next read (a
    set), what was read of them (`{key: value or _ABSENT}`), and which of them answer one read
    only (`once`); None outside it."""

    wanted: set[str] | None = None
    read: dict[str, Any] | None = None
    once: set[str] | None = None


_together = _Together()


@contextlib.contextmanager
def read_together(keys: Iterable[str], once: bool = False) -> Iterator[None]:
    """Inside, this thread's next read of the shared state reads `keys` too, in the same
    round trip, and its later reads of them are answered from that one read.

    A page reads its scopes, its totals and its views' counts before the store answers, each
    where it is needed: one `get_many`, not one round trip to Redis each. The next read's own
    keys (a sidebar's counts, known only once its views are) are read in that round trip but
    not kept: a read of anything but `keys` (a shared answer looked for again under its lock,
    say) always goes to the shared state. A write of one of `keys` from this thread replaces
    what was read. The values are shared by the reads, which must not change them. Nested
    blocks add their keys to the outer one's, and take them away as they end.

    With `once`, each of `keys` answers one read from there, the next read of it (the page's
    cached answer, read with the session by `middleware.read_with_session`): any later read of
    it goes to the shared state, as a shared answer looked for again under its lock must."""
    outer = _together.wanted is not None
    if not outer:
        _together.wanted, _together.read, _together.once = set(), {}, set()
    wanted, read, single = _together.wanted, _together.read, _together.once
    assert wanted is not None and read is not None and single is not None
    added = [key for key in dict.fromkeys(keys) if key not in read and key not in wanted]
    wanted.update(added)
    if once:
        single.update(added)
    try:
        yield
    finally:
        if not outer:
            _together.wanted = _together.read = _together.once = None
        else:
            for key in added:
                wanted.discard(key)
                read.pop(key, None)
                single.discard(key)


def _read_together(keys: list[str]) -> dict[str, Any] | None:
    """`keys`' values as `cache_get_many` finds them, from or with what `read_together` holds;
    None outside it."""
    wanted, read, single = _together.wanted, _together.read, _together.once
    if wanted is None or read is None or single is None:
        return None
    asked = [key for key in keys if key not in read]
    if asked:
        fetched = _get_many([*asked, *(key for key in wanted if key not in asked)])
        read.update((key, fetched.get(key, _ABSENT)) for key in wanted)
        wanted.clear()
    else:
        fetched = {}
    known = {key: read[key] for key in keys if key in read and read[key] is not _ABSENT}
    for key in single.intersection(keys):  # answered once: the next read goes to the state
        single.discard(key)
        read.pop(key, None)
    return {**known, **{key: fetched[key] for key in asked if key in fetched}}


def _remember_written(key: str, value: Any) -> None:
    if _together.read is not None and (key in _together.read or key in (_together.wanted or ())):
        _together.read[key] = value


def cache_get(key: str, default: Any = None) -> Any:
    together = _read_together([key])
    if together is not None:
        return together.get(key, default)
    with guarded("reading the cache"):
        try:
            return thread_cache().get(key, default)
        except UNREADABLE as exc:
            _unreadable(key, exc)
            return default


def cache_get_many(keys: Iterable[str]) -> dict[str, Any]:
    keys = list(keys)
    together = _read_together(keys)
    return together if together is not None else _get_many(keys)


def _get_many(keys: list[str]) -> dict[str, Any]:
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
    # The entry's kind and a digest of its key, never the key: a session's holds its id.
    kind = ":".join(key.split(":", 2)[:2])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    logger.warning(
        "shared state entry %s (%s) unreadable (%s): treated as absent",
        kind,
        digest,
        type(exc).__name__,
    )


REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


def stored_keys(keys: list[str], redis_url: str) -> list[str] | None:
    """`keys` as the shared cache stores them in Redis, when the cache is Django's Redis cache
    at `redis_url` (the budget's, whose scripts can then read them: `Backend.lock`); else
    None."""
    cache = settings.CACHES.get(DEFAULT_CACHE_ALIAS, {})
    if not redis_url or cache.get("BACKEND") != REDIS_CACHE or cache.get("LOCATION") != redis_url:
        return None
    if cache.get("OPTIONS"):  # another serializer or database: read through the cache itself
        return None
    client = thread_cache()
    return [client.make_and_validate_key(key) for key in keys]


def read_stored(keys: list[str], stored: list[bytes | None]) -> dict[str, Any]:
    """What `cache_get_many(keys)` answers, from the values Redis gave for `stored_keys(keys)`
    (None: absent), decoded as Django's Redis cache decodes them."""
    found = {}
    for key, value in zip(keys, stored, strict=True):
        if value is None:
            continue
        try:
            found[key] = _REDIS_VALUES.loads(value)
        except UNREADABLE as exc:
            _unreadable(key, exc)
    return found


_REDIS_VALUES = RedisSerializer()


def cache_set(key: str, value: Any, timeout: float | None) -> None:
    with guarded("writing the cache"):
        thread_cache().set(key, value, timeout)
    _remember_written(key, value)


def cache_add(key: str, value: Any, timeout: float | None) -> bool:
    with guarded("writing the cache"):
        added = thread_cache().add(key, value, timeout)
    if added:
        _remember_written(key, value)
    elif _together.read is not None:
        _together.read.pop(key, None)  # someone else's value is there: read when asked
    return added


def cache_delete_many(keys: Iterable[str]) -> None:
    keys = list(keys)
    with guarded("writing the cache"):
        thread_cache().delete_many(keys)
    for key in keys:
        _remember_written(key, _ABSENT)
