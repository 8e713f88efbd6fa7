"""Sharing one access token's request budget between every process that uses it.

The store allows `STORE_RATE_LIMIT` requests per `STORE_RATE_WINDOW` seconds per token, counted
at arrival over a sliding window, and every gunicorn worker (on one machine, or on several that
share a Redis) sends with the same token. So the budget is kept in one place that all of them
see: files under `PACING_DIR` guarded by `flock` on one machine, or Redis when `REDIS_URL` is
set. `dashboard/store.py` calls:

- `wait_for_slot(token_key)` before every HTTP attempt: it blocks until the request may go
  and records it, or raises `WaitTimeout`;
- `single_flight(key, compute, ttl)` around each cacheable query, so that concurrent identical
  queries, in any process, make one upstream call and share its answer (or its error).

Keys and lock names are hashed before they reach a file name or a Redis key, so even a careless
caller cannot write the access token to disk or to Redis.
"""

import contextlib
import contextvars
import fcntl
import hashlib
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from dashboard import state
from dashboard.state import guarded

logger = logging.getLogger(__name__)

REDIS_PREFIX = "tickets-dashboard:pacing:"
CACHE_PREFIX = "pacing:"

# How long a single-flight lock may outlive a holder that died on Redis (a dead holder's flock
# is released by the OS at once). Longer than a request lives under gunicorn's default 30 s
# worker timeout, so a slow but live holder keeps it; short enough that a killed one blocks its
# query only briefly. Expiry under a live holder only costs a duplicate upstream call.
FLIGHT_LOCK_TTL = 45.0

# Lock waiters poll; start fast so a short critical section costs little, back off so a long
# one (an upstream call) costs little CPU.
_POLL_FIRST = 0.005
_POLL_MAX = 0.05


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


def _background_limit(rate, limit):
    # Background work always leaves a slot for people, and may always use one.
    limit = rate - 1 if limit is None else limit
    return max(1, min(limit, rate - 1)) if rate > 1 else 1


def _digest(text):
    return hashlib.sha256(str(text).encode()).hexdigest()[:32]


# --- Settings ------------------------------------------------------------------------------


def config():
    """Every setting this module reads, with its default: read here and nowhere else."""
    base_dir = Path(getattr(settings, "BASE_DIR", Path(__file__).resolve().parent.parent))
    return SimpleNamespace(
        redis_url=getattr(settings, "REDIS_URL", ""),
        pacing_dir=Path(getattr(settings, "PACING_DIR", base_dir / "var" / "pacing")),
        rate_limit=int(getattr(settings, "STORE_RATE_LIMIT", 4)),
        rate_window=float(getattr(settings, "STORE_RATE_WINDOW", 1.0)),
        rate_margin=float(getattr(settings, "STORE_RATE_MARGIN", 0.1)),
        wait_timeout=float(getattr(settings, "STORE_WAIT_TIMEOUT", 20.0)),
        background_limit=int(getattr(settings, "STORE_BACKGROUND_LIMIT", 3)),
        background_wait=float(getattr(settings, "STORE_BACKGROUND_WAIT", 10.0)),
    )


# --- Lanes ---------------------------------------------------------------------------------

# Every call is in one of two lanes. A person waiting for a page is INTERACTIVE; everything
# nobody waits at (wall screens, count walks, prefetching the next page) is BACKGROUND. A
# background call takes a slot only while fewer than `background_limit` calls (of either lane)
# are in the window and nobody waits in the interactive lane: so a slot is always left for a
# person who arrives, and a second person waits for one call at most.
INTERACTIVE = "i"
BACKGROUND = "b"
_lane = contextvars.ContextVar("pacing_lane", default=INTERACTIVE)
_background_wait = contextvars.ContextVar("pacing_background_wait", default=None)
_slot_in_hand = contextvars.ContextVar("pacing_slot_in_hand", default=False)

# How often a background caller looks again while people are waiting, and how long a waiting
# person's mark outlives the wait it was told (a process that died stops counting after it).
_YIELD_POLL = 0.05
WAITER_GRACE = 0.25


@contextlib.contextmanager
def background(wait=None):
    """Every store call made inside this block (in this thread) is background work, waiting
    at most `wait` seconds for a slot (default `STORE_BACKGROUND_WAIT`)."""
    lane, most = _lane.set(BACKGROUND), _background_wait.set(wait)
    try:
        yield
    finally:
        _lane.reset(lane)
        _background_wait.reset(most)


def current_lane():
    return _lane.get()


@contextlib.contextmanager
def slot_in_hand():
    """The next store call inside this block uses a slot the caller has already waited for
    (with `wait_for_slot`), so it holds no lock while it waits."""
    token = _slot_in_hand.set(True)
    try:
        yield
    finally:
        _slot_in_hand.reset(token)


def slot_wait(sent, now, span, rate, background_limit, lane, people_waiting):
    """Seconds until a call in `lane` may be sent (0: now), given the sorted send times of the
    calls in the last `span` seconds."""
    if lane == INTERACTIVE:
        return _until_below(sent, rate, span, now)
    wait = _until_below(sent, background_limit, span, now)
    if wait > 0 or people_waiting:
        # Wake a little after the slot frees: people waiting for the same moment go first.
        return max(wait, 0.0) + _YIELD_POLL
    return 0.0


def _until_below(times, limit, span, now):
    """Seconds until fewer than `limit` of the sorted `times` lie within the last `span`."""
    if len(times) < limit:
        return 0.0
    return times[len(times) - limit] + span - now


# --- Backends ------------------------------------------------------------------------------


def attempt_wait(times, now, span, free, cap):
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


class Backend:
    """Shared waiting logic; subclasses supply one non-blocking attempt at a slot or a lock."""

    def _try_slot(self, slot):
        """Record `slot`'s call and return 0, or return the seconds until it may be recorded
        (an interactive caller that must wait is then marked as waiting)."""
        raise NotImplementedError

    def _stop_waiting(self, slot):
        """Withdraw an interactive caller's mark that it waits (it gave up)."""
        raise NotImplementedError

    def _try_lock(self, name, ttl):
        """Return a handle for `_release`, or None when someone else holds the lock."""
        raise NotImplementedError

    def _release(self, handle):
        raise NotImplementedError

    def _try_attempt(self, key, span, free, cap, member):
        """Record `member` as an attempt and return 0, or return the seconds until one may be
        recorded (see `attempt_wait`)."""
        raise NotImplementedError

    def _forget_attempts(self, key, member=None):
        """Drop one recorded attempt, or all of them."""
        raise NotImplementedError

    def admit_attempt(self, key, window, free, cap=None):
        """Count an attempt under `key` before it is made: `(0, token)` when it may go ahead
        (`forget_attempt(key, token)` takes it back), or `(seconds to wait, None)`."""
        member = secrets.token_hex(8)
        with guarded("counting an attempt"):
            wait = self._try_attempt(key, float(window), int(free), cap, member)
        return (0.0, member) if wait <= 0 else (wait, None)

    def forget_attempt(self, key, token):
        with guarded("forgetting an attempt"):
            self._forget_attempts(key, token)

    def clear_attempts(self, key):
        with guarded("clearing attempts"):
            self._forget_attempts(key)

    def acquire_slot(
        self, key, rate, window, margin, timeout, lane=INTERACTIVE, background_limit=None
    ):
        """Block until a call under `key` may be sent, record it, and return the seconds waited.

        A call may go when fewer than `rate` calls were recorded in the last `window + margin`
        seconds: the margin keeps jitter between our clock and the server's arrival times
        from squeezing one call too many into a server-side window. A background call also
        needs fewer than `background_limit` background calls in that span, and nobody waiting
        in the interactive lane.
        """
        start = time.monotonic()
        if rate <= 0:
            return 0.0
        slot = Slot(key, lane, rate, _background_limit(rate, background_limit), window + margin,
                    window, secrets.token_hex(8))  # fmt: skip
        deadline = None if timeout is None else start + timeout
        while True:
            with guarded("taking a request slot"):
                wait = self._try_slot(slot)
            now = time.monotonic()
            if wait <= 0:
                return now - start
            # Recorded calls never leave the window early, so when the next free slot lies
            # beyond the deadline, waiting for it would only delay the same failure.
            if deadline is not None and now + wait > deadline:
                if lane == INTERACTIVE:
                    with guarded("giving up a request slot"):
                        self._stop_waiting(slot)
                raise WaitTimeout(f"no request slot within {timeout:g} s")
            # Sleep until the oldest call leaves the window; several waiters then race for
            # it under the backend's lock and the losers sleep again.
            time.sleep(max(wait, 0.001))

    @contextlib.contextmanager
    def lock(self, name, timeout, ttl=FLIGHT_LOCK_TTL):
        """Hold a mutual-exclusion lock shared by all processes using this backend."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = _POLL_FIRST
        while True:
            with guarded("taking a lock"):
                handle = self._try_lock(name, ttl)
            if handle is not None:
                break
            if deadline is not None and time.monotonic() + pause > deadline:
                raise WaitTimeout(f"lock not acquired within {timeout:g} s")
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)
        try:
            yield
        finally:
            with guarded("releasing a lock"):
                self._release(handle)


class LocalBackend(Backend):
    """Files under one directory, guarded by `flock`: every process on this machine shares them,
    and a crashed process's locks are released by the OS."""

    def __init__(self, directory):
        self.directory = Path(directory)

    def rate_file(self, key):
        return self.directory / f"rate-{_digest(key)}.log"

    def lock_file(self, name):
        return self.directory / f"lock-{_digest(name)}.lock"

    def _open(self, path):
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            # The directory is made on first use, and again whenever someone deletes it while
            # the dashboard runs: the state heals without a restart.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _try_slot(self, slot):
        # flock conflicts between separate open() calls even within one process, so threads
        # are serialised too. Each line is "<time> <lane> <member>": a call sent, or (lane
        # "w") a person waiting, with the time their mark expires.
        with os.fdopen(self._open(self.rate_file(slot.key)), "r+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            now = time.time()
            sent, waiting = [], {}
            for line in log.read().decode("ascii", "replace").splitlines():
                moment, lane, member = (line.split() + ["", ""])[:3]
                with contextlib.suppress(ValueError):
                    moment = float(moment)
                    # Calls from before the span are spent. Calls far in the future can only
                    # come from a clock that jumped back: dropping them keeps a stale file
                    # from blocking for ever (small jumps, within a window, still count).
                    if (
                        lane in (INTERACTIVE, BACKGROUND)
                        and now - slot.span < moment <= now + slot.window
                    ):
                        sent.append((moment, lane, member))
                    elif lane == "w" and moment > now and member != slot.member:
                        waiting[member] = moment
            sent.sort()
            wait = slot_wait([t for t, _, _ in sent], now, slot.span, slot.rate,
                             slot.background_limit, slot.lane, bool(waiting))  # fmt: skip
            if wait <= 0:
                sent.append((now, slot.lane, slot.member))
            elif slot.lane == INTERACTIVE:
                waiting[slot.member] = now + wait + WAITER_GRACE
            lines = [f"{t:.6f} {lane} {member}" for t, lane, member in sent]
            lines += [f"{t:.6f} w {member}" for member, t in waiting.items()]
            log.seek(0)
            log.write("".join(f"{line}\n" for line in lines).encode())
            log.truncate()
            log.flush()
            return wait

    def _stop_waiting(self, slot):
        with os.fdopen(self._open(self.rate_file(slot.key)), "r+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            lines = log.read().decode("ascii", "replace").splitlines()
            log.seek(0)
            log.write(
                "".join(
                    f"{line}\n" for line in lines if line.split()[1:] != ["w", slot.member]
                ).encode()
            )
            log.truncate()

    def attempts_file(self, key):
        return self.directory / f"attempts-{_digest(key)}.log"

    def _try_attempt(self, key, span, free, cap, member):
        with os.fdopen(self._open(self.attempts_file(key)), "r+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            now = time.time()
            entries = []
            for line in log.read().decode("ascii", "replace").splitlines():
                moment, _, name = line.partition(" ")
                with contextlib.suppress(ValueError):
                    # As for rate logs: entries from a clock that jumped back are dropped.
                    if now - span < (moment := float(moment)) <= now + span:
                        entries.append((moment, name))
            entries.sort()
            wait = attempt_wait([moment for moment, _ in entries], now, span, free, cap)
            if wait <= 0:
                entries.append((now, member))
            log.seek(0)
            log.write("".join(f"{moment:.6f} {name}\n" for moment, name in entries).encode())
            log.truncate()
            return wait

    def _forget_attempts(self, key, member=None):
        path = self.attempts_file(key)
        if member is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        with os.fdopen(self._open(path), "r+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            lines = log.read().decode("ascii", "replace").splitlines()
            log.seek(0)
            log.write(
                "".join(f"{line}\n" for line in lines if line.partition(" ")[2] != member).encode()
            )
            log.truncate()

    def _try_lock(self, name, ttl):
        # `ttl` is not needed here: the OS drops the flock of a process that dies.
        path = self.lock_file(name)
        while True:
            fd = self._open(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            # The holder before us deletes the file on release (so lock files do not pile up,
            # one per query). If it did so after we opened it, we hold a lock on a file nobody
            # else will open: let go and try again on the current one.
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            if current is not None and os.path.samestat(current, os.fstat(fd)):
                return fd, path
            os.close(fd)

    def _release(self, handle):
        fd, path = handle
        try:
            # Unlink while still holding the lock: see `_try_lock`.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        finally:
            os.close(fd)


# Both run atomically inside Redis. `TIME` is the Redis server's clock, so machines whose own
# clocks disagree still share one window. Times are integer microseconds (exact in a double;
# never concatenated into strings, which Lua would round to 14 digits). The slot script is
# `slot_wait`: KEYS are the calls sent and the people waiting.
_SLOT_SCRIPT = """
local rate = tonumber(ARGV[1])
local background_limit = tonumber(ARGV[2])
local span = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local lane = ARGV[5]
local member = ARGV[6]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
redis.call('ZREMRANGEBYSCORE', KEYS[1], now + window + 1, '+inf')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREM', KEYS[2], member)
local count = redis.call('ZCARD', KEYS[1])
local limit = rate
if lane == 'b' then
  limit = background_limit
end
local wait = 0
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  wait = tonumber(oldest[2]) + span - now
end
if lane == 'b' and (wait > 0 or redis.call('ZCARD', KEYS[2]) > 0) then
  wait = math.max(wait, 0) + tonumber(ARGV[8])
end
if wait > 0 then
  if lane == 'i' then
    redis.call('ZADD', KEYS[2], now + wait + tonumber(ARGV[7]), member)
    redis.call('PEXPIRE', KEYS[2], math.ceil((wait + tonumber(ARGV[7])) / 1000) + 1000)
  end
  return math.max(wait, 1)
end
redis.call('ZADD', KEYS[1], now, member)
redis.call('PEXPIRE', KEYS[1], math.ceil(span / 1000) + 1000)
return 0
"""

# The same rule as `attempt_wait`, on the Redis server's clock; `cap` < 0 means no cap.
_ATTEMPT_SCRIPT = """
local span = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
redis.call('ZREMRANGEBYSCORE', KEYS[1], now + span + 1, '+inf')
local count = redis.call('ZCARD', KEYS[1])
local wait = 0
if count >= free then
  if cap < 0 then
    local oldest = redis.call('ZRANGE', KEYS[1], count - free, count - free, 'WITHSCORES')
    wait = tonumber(oldest[2]) + span - now
  else
    local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
    wait = tonumber(latest[2]) + math.min(1000000 * 2 ^ (count - free), cap) - now
  end
end
if wait > 0 then
  return math.max(wait, 1)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(span / 1000) + 1000)
return 0
"""

_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisBackend(Backend):
    """Redis, for several machines: a sorted set of send times per key, and `SET NX PX` locks
    that expire if their holder dies."""

    def __init__(self, url):
        import redis  # optional dependency: only needed when REDIS_URL is set

        # Timeouts so that a hung Redis fails a request instead of hanging a worker.
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._slot = self.client.register_script(_SLOT_SCRIPT)
        self._unlock = self.client.register_script(_RELEASE_SCRIPT)
        self._attempt = self.client.register_script(_ATTEMPT_SCRIPT)

    def rate_key(self, key):
        return f"{REDIS_PREFIX}rate:{_digest(key)}"

    def lock_key(self, name):
        return f"{REDIS_PREFIX}lock:{_digest(name)}"

    def _try_slot(self, slot):
        rate_key = self.rate_key(slot.key)
        micros = self._slot(
            keys=[rate_key, f"{rate_key}:waiting"],
            args=[slot.rate, slot.background_limit, int(slot.span * 1e6), int(slot.window * 1e6),
                  slot.lane, slot.member, int(WAITER_GRACE * 1e6), int(_YIELD_POLL * 1e6)],
        )  # fmt: skip
        return int(micros) / 1e6

    def _stop_waiting(self, slot):
        self.client.zrem(f"{self.rate_key(slot.key)}:waiting", slot.member)

    def attempts_key(self, key):
        return f"{REDIS_PREFIX}attempts:{_digest(key)}"

    def _try_attempt(self, key, span, free, cap, member):
        micros = self._attempt(
            keys=[self.attempts_key(key)],
            args=[int(span * 1e6), free, -1 if cap is None else int(cap * 1e6), member],
        )
        return int(micros) / 1e6

    def _forget_attempts(self, key, member=None):
        if member is None:
            self.client.delete(self.attempts_key(key))
        else:
            self.client.zrem(self.attempts_key(key), member)

    def _try_lock(self, name, ttl):
        key, token = self.lock_key(name), secrets.token_hex(16)
        if self.client.set(key, token, nx=True, px=max(int(ttl * 1000), 1)):
            return key, token
        return None

    def _release(self, handle):
        # Compare-and-delete: if our ttl ran out and someone else took the lock, it is theirs.
        key, token = handle
        self._unlock(keys=[key], args=[token])


_backend = None
_backend_lock = threading.Lock()


def backend():
    """The process's backend: Redis when `REDIS_URL` is set, else files under `PACING_DIR`."""
    global _backend
    with _backend_lock:
        if _backend is None:
            conf = config()
            _backend = (
                RedisBackend(conf.redis_url) if conf.redis_url else LocalBackend(conf.pacing_dir)
            )
        return _backend


def reset_backend():
    global _backend
    with _backend_lock:
        _backend = None


@receiver(setting_changed)
def _settings_changed(setting, **kwargs):
    # Tests that override these settings get a backend that follows them.
    if setting in {"REDIS_URL", "PACING_DIR", "BASE_DIR"}:
        reset_backend()


# --- What store.py calls -------------------------------------------------------------------


def wait_for_slot(token_key):
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
        timeout = _background_wait.get()
        timeout = conf.background_wait if timeout is None else timeout
    return backend().acquire_slot(
        token_key, conf.rate_limit, conf.rate_window, conf.rate_margin, timeout, lane,
        conf.background_limit,
    )  # fmt: skip


_MISSING = object()


def _cache_keys(key):
    digest = _digest(key)
    return f"{CACHE_PREFIX}value:{digest}", f"{CACHE_PREFIX}error:{digest}"


def _lookup(key):
    """The cached value, `_MISSING`, or a raise of the cached error."""
    value_key, error_key = _cache_keys(key)
    found = state.cache_get_many([value_key, error_key])
    if value_key in found:
        return found[value_key]
    if error_key in found:
        raise found[error_key]
    return _MISSING


def cached(key, default=None):
    """The value `single_flight` cached for `key`, or `default`; never computes, never raises a
    cached error."""
    return state.cache_get(_cache_keys(key)[0], default)


def forget(key):
    """Drop what `single_flight` cached for `key`, value and error."""
    state.cache_delete_many(list(_cache_keys(key)))


def single_flight(key, compute, ttl, wait_timeout=None, error_ttl=5, ready=None):
    """`compute()`'s result for `key`, from the cache when there, else computed by exactly one
    caller at a time across all processes while the others wait for its result.

    The result is cached for `ttl` seconds (`ttl=0`: just call `compute()`). An exception from
    `compute()` is cached for `error_ttl` seconds and raised to everyone who asks meanwhile, so
    a failing store is not asked again by each waiter in turn. Waiting for another caller's
    computation gives up with `WaitTimeout` after `wait_timeout` (default
    `STORE_WAIT_TIMEOUT`) seconds. `ready(result)`, if given, hears a newly computed result
    before it is written to the cache for the others (a caller waiting on it goes on at once).
    """
    if not ttl or ttl <= 0:
        return compute()
    if (value := _lookup(key)) is not _MISSING:
        return value
    if wait_timeout is None:
        wait_timeout = config().wait_timeout
    value_key, error_key = _cache_keys(key)
    with backend().lock("flight:" + str(key), timeout=wait_timeout, ttl=FLIGHT_LOCK_TTL):
        # Whoever held the lock before us has probably just filled the cache.
        if (value := _lookup(key)) is not _MISSING:
            return value
        try:
            value = compute()
        except Exception as exc:
            if error_ttl and error_ttl > 0:
                try:
                    state.cache_set(error_key, exc, error_ttl)
                except Exception:
                    # An error that cannot be pickled is still raised, just not shared.
                    logger.warning("could not cache %s for waiters", type(exc).__name__)
            raise
        if ready is not None:
            ready(value)
        state.cache_set(value_key, value, ttl)
        return value
