"""The budget on several machines: Redis, whose scripts run atomically on its own clock."""

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from dashboard.budget import limiter
from dashboard.budget.base import FLIGHT_LOCK_TTL, Backend, Looked
from dashboard.budget.limiter import digest
from dashboard.budget.state import guarded

try:
    from redis.exceptions import LockError
    from redis.lock import Lock
except ImportError:  # pragma: no cover - redis is installed with the dev extra
    LockError = RuntimeError  # type: ignore[misc, assignment]
    Lock = object  # type: ignore[misc, assignment]

REDIS_PREFIX = "tickets-dashboard:budget:"
# How often a waiter for a lock asks again: a short critical section costs little waiting, and
# each ask is one round trip to Redis.
LOCK_POLL = 0.02

# Both run atomically inside Redis. `TIME` is the Redis server's clock, so machines whose own
# clocks disagree still share one window. Times are integer microseconds (exact in a double;
# never concatenated into strings, which Lua would round to 14 digits). The slot script is
# `slot_wait`: KEYS are the calls sent and the people waiting. A person with a longest line
# (ARGV[9], -1 for none) behind which they would rather not wait (`queue_wait`) is answered
# that line's length, nothing recorded. (A function, which the lock's script calls too.)
_SLOT_FUNCTION = """
local function slot_wait(KEYS, ARGV)
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
local most = tonumber(ARGV[9])
if lane == 'i' and most >= 0 then
  local ahead = count + redis.call('ZCARD', KEYS[2])
  if ahead >= rate then
    local rounds = math.floor((ahead - rate) / rate)
    local index = (ahead - rate) % rate
    local frees = now + span
    if index < count then
      frees = tonumber(redis.call('ZRANGE', KEYS[1], index, index, 'WITHSCORES')[2]) + span
    end
    local line = frees + rounds * span - now
    if line > most then
      return math.max(line, 1)
    end
  end
end
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
end
"""
_SLOT_SCRIPT = _SLOT_FUNCTION + "return slot_wait(KEYS, ARGV)"

# A recorded call that went late counts from when it went (`Backend.restamp`), on Redis's clock.
_RESTAMP_SCRIPT = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) / 1000) + 1000)
end
return 0
"""

# The same rule as `held_attempt_wait`, on the Redis server's clock; `cap` < 0 means no cap. A
# member starting with ARGV[6] is under way for ARGV[5] microseconds from its score.
_ATTEMPT_SCRIPT = """
local span = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local hold = tonumber(ARGV[5])
local prefix = ARGV[6]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
redis.call('ZREMRANGEBYSCORE', KEYS[1], now + span + 1, '+inf')
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local all, ended = {}, {}
for i = 1, #entries, 2 do
  local moment = tonumber(entries[i + 1])
  all[#all + 1] = moment
  if not (string.sub(entries[i], 1, #prefix) == prefix and moment + hold > now) then
    ended[#ended + 1] = moment
  end
end
local function wait_after(times)
  local count = #times
  if count < free then
    return 0
  end
  if cap < 0 then
    return times[count - free + 1] + span - now
  end
  return times[count] + math.min(1000000 * 2 ^ (count - free), cap) - now
end
local wait = wait_after(all)
if wait > 0 then
  local under_way = 0
  if wait_after(ended) <= 0 then
    under_way = 1
  end
  return {math.max(wait, 1), under_way}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(span / 1000) + 1000)
return {0, 0}
"""

# An attempt under way (ARGV[1]) is kept as ARGV[2], at the time it was recorded.
_KEEP_SCRIPT = """
local moment = redis.call('ZSCORE', KEYS[1], ARGV[1])
if moment then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[1], moment, ARGV[2])
end
return 0
"""

# Every attempt but those under way (members starting with ARGV[1]) is forgotten.
_CLEAR_SCRIPT = """
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #ARGV[1]) ~= ARGV[1] then
    redis.call('ZREM', KEYS[1], member)
  end
end
return 0
"""

# The budget as it stands, recording nothing (`Backend.expected_wait`): Redis's clock, the
# number of people waiting, then the send times of the calls in the window.
_PEEK_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local sent = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]) + 1,
  now + tonumber(ARGV[2]), 'WITHSCORES')
local found = {now, redis.call('ZCOUNT', KEYS[2], now + 1, '+inf')}
for i = 2, #sent, 2 do
  found[#found + 1] = tonumber(sent[i])
end
return found
"""

_COUNT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local span = tonumber(ARGV[1])
return redis.call('ZCOUNT', KEYS[1], now - span + 1, now + span)
"""


# A lock taken as redis-py's (`SET NX PX` under a random token), and in the same step the keys
# after it read: what its holder would read first. False when someone else holds it.
_LOCK_LOOK_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('MGET', unpack(KEYS, 2))
end
return false
"""

# The same, with the budget's two keys as KEYS[2] and KEYS[3] and the cache's keys after them:
# when none of those has a value, the slot script is run for the budget with the arguments
# after the lock's two. It answers false (not taken), or {the values read, the slot script's
# answer, or -1 when it was not run}.
_LOCK_LOOK_SLOT_SCRIPT = (
    _SLOT_FUNCTION
    + """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
local found = redis.call('MGET', unpack(KEYS, 4))
for i = 1, #KEYS - 3 do
  if found[i] then
    return {found, -1}
  end
end
return {found, slot_wait({KEYS[2], KEYS[3]}, {unpack(ARGV, 3)})}
"""
)


class _LookingLock(Lock):
    """redis-py's lock, whose taking reads the keys `look` too, and may take a slot
    (`RedisBackend.lock`); what it read is in `looked` once it is taken. Released, extended
    and expired as redis-py's."""

    def __init__(
        self,
        backend: "RedisBackend",
        name: str,
        look: Sequence[str],
        slot: limiter.Slot | None,
        **options: Any,
    ):
        super().__init__(backend.client, name, **options)
        self._backend, self._look, self._slot = backend, list(look), slot
        self.looked: Looked | None = None

    def do_acquire(self, token: str) -> bool:
        assert self.timeout is not None  # every lock of ours expires
        taking: list[str | int] = [token, int(self.timeout * 1000)]
        if self._slot is None:
            found = self._backend._lock_look(keys=[self.name, *self._look], args=taking)
            if found is None:
                return False
            self.looked = Looked(list(found))
            return True
        keys, args = self._backend.slot_arguments(self._slot)
        answer = self._backend._lock_look_slot(
            keys=[self.name, *keys, *self._look], args=[*taking, *args]
        )
        if answer is None:
            return False
        found, micros = answer
        wait = None if int(micros) < 0 else int(micros) / 1e6
        self.looked = Looked(list(found), wait)
        return True


class RedisBackend(Backend):
    """Redis, for several machines: a sorted set of send times per key, and redis-py's locks,
    which expire if their holder dies."""

    def __init__(self, url: str) -> None:
        import redis  # optional dependency: only needed when REDIS_URL is set

        # Timeouts so that a hung Redis fails a request instead of hanging a worker.
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._slot = self.client.register_script(_SLOT_SCRIPT)
        self._attempt = self.client.register_script(_ATTEMPT_SCRIPT)
        self._counted = self.client.register_script(_COUNT_SCRIPT)
        self._kept = self.client.register_script(_KEEP_SCRIPT)
        self._cleared = self.client.register_script(_CLEAR_SCRIPT)
        self._restamped = self.client.register_script(_RESTAMP_SCRIPT)
        self._peeked = self.client.register_script(_PEEK_SCRIPT)
        self._lock_look = self.client.register_script(_LOCK_LOOK_SCRIPT)
        self._lock_look_slot = self.client.register_script(_LOCK_LOOK_SLOT_SCRIPT)

    def rate_key(self, key: str) -> str:
        return f"{REDIS_PREFIX}rate:v{limiter.LAYOUT}:{digest(key)}"

    def lock_key(self, name: str) -> str:
        return f"{REDIS_PREFIX}lock:v{limiter.LAYOUT}:{digest(name)}"

    def slot_arguments(self, slot: limiter.Slot) -> tuple[list[str], list[str | int]]:
        """The keys and arguments of the slot script for `slot`."""
        rate_key = self.rate_key(slot.key)
        grace, poll = int(limiter.WAITER_GRACE * 1e6), int(limiter.YIELD_POLL * 1e6)
        most = -1 if slot.most is None else int(slot.most * 1e6)
        return [rate_key, f"{rate_key}:waiting"], [
            slot.rate, slot.background_limit, int(slot.span * 1e6), int(slot.window * 1e6),
            slot.lane, slot.member, grace, poll, most,
        ]  # fmt: skip

    def _try_slot(self, slot: limiter.Slot) -> float:
        keys, args = self.slot_arguments(slot)
        return int(self._slot(keys=keys, args=args)) / 1e6

    def _stop_waiting(self, slot: limiter.Slot) -> None:
        self.client.zrem(f"{self.rate_key(slot.key)}:waiting", slot.member)

    def _restamp(self, key: str, member: str, span: float) -> None:
        self._restamped(keys=[self.rate_key(key)], args=[member, int(span * 1e6)])

    def _peek(self, key: str, span: float, window: float) -> tuple[float, list[float], int]:
        rate_key = self.rate_key(key)
        found = self._peeked(
            keys=[rate_key, f"{rate_key}:waiting"], args=[int(span * 1e6), int(window * 1e6)]
        )
        now, waiting, *sent = (int(value) for value in found)
        return now / 1e6, sorted(moment / 1e6 for moment in sent), waiting

    def attempts_key(self, key: str) -> str:
        return f"{REDIS_PREFIX}attempts:v{limiter.LAYOUT}:{digest(key)}"

    def _try_attempt(
        self, key: str, span: float, free: int, cap: float | None, member: str, hold: float
    ) -> tuple[float, bool]:
        micros, under_way = self._attempt(
            keys=[self.attempts_key(key)],
            args=[int(span * 1e6), free, -1 if cap is None else int(cap * 1e6), member,
                  int(hold * 1e6), limiter.UNDER_WAY],
        )  # fmt: skip
        return int(micros) / 1e6, bool(under_way)

    def _keep_attempt(self, key: str, member: str) -> None:
        kept = member.removeprefix(limiter.UNDER_WAY)
        self._kept(keys=[self.attempts_key(key)], args=[member, kept])

    def _count_attempts(self, key: str, span: float) -> int:
        return int(self._counted(keys=[self.attempts_key(key)], args=[int(span * 1e6)]))

    def _forget_attempts(self, key: str, member: str | None = None) -> None:
        if member is None:
            self._cleared(keys=[self.attempts_key(key)], args=[limiter.UNDER_WAY])
        else:
            self.client.zrem(self.attempts_key(key), member)

    @contextlib.contextmanager
    def lock(
        self,
        name: str,
        timeout: float | None,
        ttl: float = FLIGHT_LOCK_TTL,
        look: Sequence[str] = (),
        slot: limiter.Slot | None = None,
    ) -> Iterator[Looked | None]:
        """redis-py's own lock: `SET NX PX` under a random token, released only by whoever holds
        that token, so a holder whose `ttl` ran out never releases the next holder's lock. With
        `look`, one script takes it, reads them and (`slot`) looks at the budget: one round
        trip, not two or three."""
        key, expires = self.lock_key(name), max(ttl, 0.001)
        held: Lock
        if look:
            held = _LookingLock(
                self, key, look, slot, timeout=expires, sleep=LOCK_POLL, blocking_timeout=timeout
            )
        else:
            held = self.client.lock(key, timeout=expires, sleep=LOCK_POLL, blocking_timeout=timeout)
        with guarded("taking a lock"):
            taken = held.acquire()
        if not taken:
            raise limiter.WaitTimeout(f"lock not acquired within {timeout:g} s")
        try:
            yield held.looked if isinstance(held, _LookingLock) else None
        finally:
            # Our ttl ran out and someone else may hold the lock now: it is theirs to release.
            with guarded("releasing a lock"), contextlib.suppress(LockError):
                held.release()
