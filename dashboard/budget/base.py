"""What every backend of the shared budget does alike: waiting for a slot, and counting
attempts, on top of one non-blocking try that each backend (files, Redis) supplies."""

import contextlib
import dataclasses
import secrets
import time
from collections.abc import Sequence

from dashboard.budget import limiter
from dashboard.budget.state import guarded

# How long a single-flight lock may outlive a holder that died on Redis (a dead holder's flock
# is released by the OS at once). Longer than a request lives under gunicorn's default 30 s
# worker timeout, so a slow but live holder keeps it; short enough that a killed one blocks its
# query only briefly. Expiry under a live holder only costs a duplicate upstream call.
FLIGHT_LOCK_TTL = 45.0


class Backend:
    """Shared waiting logic; subclasses supply one non-blocking attempt at a slot or an attempt,
    and their own lock."""

    def _try_slot(self, slot: limiter.Slot) -> float:
        """Record `slot`'s call and return 0, or return the seconds until it may be recorded
        (an interactive caller that must wait is then marked as waiting)."""
        raise NotImplementedError

    def _stop_waiting(self, slot: limiter.Slot) -> None:
        """Withdraw an interactive caller's mark that it waits (it gave up)."""
        raise NotImplementedError

    def _restamp(self, key: str, member: str, span: float) -> None:
        """Move `member`'s recorded call to now, if it is still in the window."""
        raise NotImplementedError

    def stop_waiting(self, slot: limiter.Slot) -> None:
        """Withdraw `slot`'s mark that its caller waits, if a look left one."""
        with guarded("giving up a request slot"):
            self._stop_waiting(slot)

    def _peek(self, key: str, span: float, window: float) -> tuple[float, list[float], int]:
        """The budget under `key` as it stands, recording nothing: the backend's clock now,
        the sorted send times of the calls in the last `span` seconds, and how many people
        are marked as waiting."""
        raise NotImplementedError

    def _try_attempt(
        self, key: str, span: float, free: int, cap: float | None, member: str, hold: float
    ) -> tuple[float, bool]:
        """Record `member` as an attempt and return `(0, False)`, or return the seconds until
        one may be recorded and whether that is only for attempts under way (see
        `held_attempt_wait`: a member with the `UNDER_WAY` prefix is under way for `hold`
        seconds from when it was recorded, and counts as kept after that)."""
        raise NotImplementedError

    def _keep_attempt(self, key: str, member: str) -> None:
        """Record the attempt under way as `member` as kept, at the time it was recorded."""
        raise NotImplementedError

    def _forget_attempts(self, key: str, member: str | None = None) -> None:
        """Drop one recorded attempt, or all of them but those under way."""
        raise NotImplementedError

    def _count_attempts(self, key: str, span: float) -> int:
        """How many attempts were recorded under `key` in the last `span` seconds."""
        raise NotImplementedError

    def admit_attempt(
        self, key: str, window: float, free: int, cap: float | None = None
    ) -> tuple[float, str | None]:
        """Count an attempt under `key` before it is made: `(0, token)` when it may go ahead
        (`forget_attempt(key, token)` takes it back), or `(seconds to wait, None)`."""
        member = secrets.token_hex(8)
        with guarded("counting an attempt"):
            wait, _ = self._try_attempt(key, float(window), int(free), cap, member, 0.0)
        return (0.0, member) if wait <= 0 else (wait, None)

    def hold_attempt(
        self, key: str, window: float, free: int, cap: float | None, hold: float
    ) -> tuple[float, str | None, bool]:
        """Count an attempt under `key` as under way before it is made, for an attempt whose
        outcome decides whether it goes on counting. `(0, token, False)` when it may go
        ahead: once it ends, `keep_attempt(key, token)` keeps it counted (a failure) and
        `forget_attempt(key, token)` takes it back (a success); one that neither ends nor is
        taken back within `hold` seconds (its process died) counts as kept. Refused:
        `(seconds to wait, None, under way)`, where `under way` says that only attempts still
        under way fill the count, so that asking again once they end may be admitted."""
        member = limiter.UNDER_WAY + secrets.token_hex(8)
        with guarded("counting an attempt"):
            wait, under_way = self._try_attempt(
                key, float(window), int(free), cap, member, float(hold)
            )
        return (0.0, member, False) if wait <= 0 else (wait, None, under_way)

    def keep_attempt(self, key: str, token: str) -> None:
        with guarded("keeping an attempt"):
            self._keep_attempt(key, token)

    def forget_attempt(self, key: str, token: str | None) -> None:
        with guarded("forgetting an attempt"):
            self._forget_attempts(key, token)

    def clear_attempts(self, key: str) -> None:
        """Forget the attempts kept under `key`; those under way still end as they will."""
        with guarded("clearing attempts"):
            self._forget_attempts(key)

    def count_attempts(self, key: str, window: float) -> int:
        """The attempts recorded under `key` in the last `window` seconds, recording none."""
        with guarded("counting attempts"):
            return self._count_attempts(key, float(window))

    def acquire_slot(
        self,
        key: str,
        rate: int,
        window: float,
        margin: float,
        timeout: float | None,
        lane: str = limiter.INTERACTIVE,
        background_limit: int | None = None,
    ) -> float:
        return self.take_slot(key, rate, window, margin, timeout, lane, background_limit)[0]

    def take_slot(
        self,
        key: str,
        rate: int,
        window: float,
        margin: float,
        timeout: float | None,
        lane: str = limiter.INTERACTIVE,
        background_limit: int | None = None,
        line_at_most: float | None = None,
        member: str | None = None,
    ) -> tuple[float, str]:
        """Block until a call under `key` may be sent, record it, and return the seconds waited.
        (`take_slot` also names the record, for `restamp`.)

        A call may go when fewer than `rate` calls were recorded in the last `window + margin`
        seconds: the margin keeps jitter between our clock and the server's arrival times
        from squeezing one call too many into a server-side window. A background call also
        needs fewer than `background_limit` background calls in that span, and nobody waiting
        in the interactive lane. A person with a `line_at_most` who would wait longer than
        that behind everyone in line (`expected_wait`) is refused at once (`WaitTimeout`),
        in the same look at the budget as the slot's. `member` names the caller, when a look
        already did (`lock`'s `slot`): a mark it left that the caller waits is then its own.
        """
        start = time.monotonic()
        if rate <= 0:
            return 0.0, ""
        member = member or secrets.token_hex(8)
        slot = limiter.Slot.asked(key, lane, rate, window, margin, background_limit, member)
        look = dataclasses.replace(slot, most=line_at_most)  # the first look reads the line too
        deadline = None if timeout is None else start + timeout
        while True:
            with guarded("taking a request slot"):
                wait = self._try_slot(look)
            now = time.monotonic()
            if wait <= 0:
                return now - start, slot.member
            if look.most is not None and wait > look.most:
                raise limiter.WaitTimeout(f"a line of about {wait:.1f} s for a request slot")
            look = slot
            # Recorded calls never leave the window early, so when the next free slot lies
            # beyond the deadline, waiting for it would only delay the same failure.
            if deadline is not None and now + wait > deadline:
                if lane == limiter.INTERACTIVE:
                    self.stop_waiting(slot)
                raise limiter.WaitTimeout(f"no request slot within {timeout:g} s")
            # Sleep until the oldest call leaves the window; several waiters then race for
            # it under the backend's lock and the losers sleep again.
            time.sleep(max(wait, 0.001))

    def expected_wait(self, key: str, rate: int, window: float, margin: float) -> float:
        """About how many seconds a person asking now would wait for a slot under `key`
        (`limiter.queue_wait`): one read, nothing recorded."""
        if rate <= 0:
            return 0.0
        span = window + margin
        with guarded("reading the request budget"):
            now, sent, waiting = self._peek(key, span, window)
        return limiter.queue_wait(sent, now, span, rate, waiting)

    def restamp(self, key: str, member: str, span: float) -> None:
        """The call recorded as `member` went only now: it counts from now.

        A slot is recorded when it is taken, and the request usually goes within a millisecond
        or two. But a thread may be kept from the CPU, or (background work) hold its slot while
        it waits its turn for the answer's lock, and a request that goes late lands in the
        store's window later than the budget counted it: the calls recorded after it could
        then put one too many into one of the store's seconds. So a call that went later than
        the margin allows is recorded again at the time it went."""
        with guarded("recording when a call went"):
            self._restamp(key, member, span)

    def lock(
        self,
        name: str,
        timeout: float | None,
        ttl: float = FLIGHT_LOCK_TTL,
        look: Sequence[str] = (),
        slot: limiter.Slot | None = None,
    ) -> contextlib.AbstractContextManager["Looked | None"]:
        """A context manager holding a mutual-exclusion lock shared by all processes using
        this backend; `WaitTimeout` when it is not taken within `timeout` seconds (None: wait
        as long as it takes, 0: one try). On Redis the lock expires `ttl` seconds after it was
        taken, so a holder that died does not keep it.

        It gives what Redis read in the same step as it took the lock (`Looked`), or None when
        it read nothing (files, or no `look`): the values of the keys `look`
        (`state.stored_keys`), what a holder first reads under the lock, without a round trip
        of its own; and, when none of them has a value, `slot` (an interactive one) taken if
        it was free at once, for the call the holder is about to make."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Looked:
    """What a lock read as it was taken (`Backend.lock`)."""

    values: list[bytes | None]  # the keys `look`, None where absent
    # The lock's `slot`: 0 taken, else what `_try_slot` answers and leaves (the seconds until
    # one is free, the person marked as waiting; or a line longer than the slot's `most`,
    # nothing recorded); None when it was not asked for (a key had a value).
    slot_wait: float | None = None
