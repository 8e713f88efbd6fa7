"""The budget on one machine: files under one directory, guarded by `flock`."""

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from dashboard.budget import limiter
from dashboard.budget.base import FLIGHT_LOCK_TTL, Backend
from dashboard.budget.limiter import digest
from dashboard.budget.state import guarded

# Lock waiters poll; start fast so a short critical section costs little, back off so a long
# one (an upstream call) costs little CPU.
_POLL_FIRST = 0.005
_POLL_MAX = 0.05


class LocalBackend(Backend):
    """Files under one directory, guarded by `flock`: every process on this machine shares them,
    and a crashed process's locks are released by the OS."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def rate_file(self, key: str) -> Path:
        return self.directory / f"rate-v{limiter.LAYOUT}-{digest(key)}.log"

    def lock_file(self, name: str) -> Path:
        return self.directory / f"lock-v{limiter.LAYOUT}-{digest(name)}.lock"

    def _open(self, path: Path) -> int:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            # The directory is made on first use, and again whenever someone deletes it while
            # the dashboard runs: the state heals without a restart.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _try_slot(self, slot: limiter.Slot) -> float:
        # flock conflicts between separate open() calls even within one process, so threads
        # are serialised too. Each line is "<time> <lane> <member>": a call sent, or (lane
        # "w") a person waiting, with the time their mark expires.
        with os.fdopen(self._open(self.rate_file(slot.key)), "r+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            now = time.time()
            sent: list[tuple[float, str, str]] = []
            waiting: dict[str, float] = {}
            for line in log.read().decode("ascii", "replace").splitlines():
                written, lane, member = (line.split() + ["", ""])[:3]
                with contextlib.suppress(ValueError):
                    moment = float(written)
                    # Calls from before the span are spent. Calls far in the future can only
                    # come from a clock that jumped back: dropping them keeps a stale file
                    # from blocking for ever (small jumps, within a window, still count).
                    if (
                        lane in (limiter.INTERACTIVE, limiter.BACKGROUND)
                        and now - slot.span < moment <= now + slot.window
                    ):
                        sent.append((moment, lane, member))
                    elif lane == "w" and moment > now and member != slot.member:
                        waiting[member] = moment
            sent.sort()
            times = [t for t, _, _ in sent]
            if slot.most is not None and slot.lane == limiter.INTERACTIVE:
                ahead = limiter.queue_wait(times, now, slot.span, slot.rate, len(waiting))
                if ahead > slot.most:
                    return ahead  # too long a line for this person: nothing recorded
            wait = limiter.slot_wait(times, now, slot.span, slot.rate, slot.background_limit,
                                     slot.lane, bool(waiting))  # fmt: skip
            if wait <= 0:
                sent.append((now, slot.lane, slot.member))
            elif slot.lane == limiter.INTERACTIVE:
                waiting[slot.member] = now + wait + limiter.WAITER_GRACE
            lines = [f"{t:.6f} {lane} {member}" for t, lane, member in sent]
            lines += [f"{t:.6f} w {member}" for member, t in waiting.items()]
            log.seek(0)
            log.write("".join(f"{line}\n" for line in lines).encode())
            log.truncate()
            log.flush()
            return wait

    def _stop_waiting(self, slot: limiter.Slot) -> None:
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

    def _restamp(self, key: str, member: str, span: float) -> None:
        with os.fdopen(self._open(self.rate_file(key)), "r+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            now = time.time()
            lines = log.read().decode("ascii", "replace").splitlines()
            moved = [
                f"{now:.6f} {parts[1]} {member}"
                if len(parts := line.split()) == 3 and parts[2] == member and parts[1] != "w"
                else line
                for line in lines
            ]
            if moved != lines:
                log.seek(0)
                log.write("".join(f"{line}\n" for line in moved).encode())
                log.truncate()

    def _peek(self, key: str, span: float, window: float) -> tuple[float, list[float], int]:
        try:
            log = open(self.rate_file(key), "rb")  # noqa: SIM115
        except FileNotFoundError:
            return time.time(), [], 0
        with log:
            fcntl.flock(log, fcntl.LOCK_SH)
            now = time.time()
            sent, waiting = [], 0
            for line in log.read().decode("ascii", "replace").splitlines():
                written, lane, _ = (line.split() + ["", ""])[:3]
                with contextlib.suppress(ValueError):
                    moment = float(written)
                    if lane in (limiter.INTERACTIVE, limiter.BACKGROUND):
                        sent += [moment] if now - span < moment <= now + window else []
                    elif lane == "w" and moment > now:
                        waiting += 1
            return now, sorted(sent), waiting

    def attempts_file(self, key: str) -> Path:
        return self.directory / f"attempts-v{limiter.LAYOUT}-{digest(key)}.log"

    def _try_attempt(
        self, key: str, span: float, free: int, cap: float | None, member: str, hold: float
    ) -> tuple[float, bool]:
        with os.fdopen(self._open(self.attempts_file(key)), "r+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            now = time.time()
            entries: list[tuple[float, str]] = []
            for line in log.read().decode("ascii", "replace").splitlines():
                written, _, name = line.partition(" ")
                with contextlib.suppress(ValueError):
                    # As for rate logs: entries from a clock that jumped back are dropped.
                    if now - span < (moment := float(written)) <= now + span:
                        entries.append((moment, name))
            entries.sort()
            wait, under_way = limiter.held_attempt_wait(
                [
                    (moment, name.startswith(limiter.UNDER_WAY) and moment + hold > now)
                    for moment, name in entries
                ],
                now,
                span,
                free,
                cap,
            )
            if wait <= 0:
                entries.append((now, member))
            log.seek(0)
            log.write("".join(f"{moment:.6f} {name}\n" for moment, name in entries).encode())
            log.truncate()
            return wait, under_way

    def _rewrite_attempts(self, key: str, change: Callable[[str], str | None]) -> None:
        """Each member in `key`'s log becomes `change(member)`, at the same time: a member,
        or None to drop the line. (Under the lock: a log unlinked while another process
        writes to it would lose that attempt.)"""
        try:
            handle = os.open(self.attempts_file(key), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # nothing was ever counted under `key`
        with os.fdopen(handle, "r+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            lines = []
            for line in log.read().decode("ascii", "replace").splitlines():
                written, _, name = line.partition(" ")
                if (changed := change(name)) is not None:
                    lines.append(f"{written} {changed}\n")
            log.seek(0)
            log.write("".join(lines).encode())
            log.truncate()

    def _keep_attempt(self, key: str, member: str) -> None:
        kept = member.removeprefix(limiter.UNDER_WAY)
        self._rewrite_attempts(key, lambda name: kept if name == member else name)

    def _forget_attempts(self, key: str, member: str | None = None) -> None:
        if member is None:
            # Attempts under way stay: each is kept or forgotten as it ends.
            self._rewrite_attempts(
                key, lambda name: name if name.startswith(limiter.UNDER_WAY) else None
            )
        else:
            self._rewrite_attempts(key, lambda name: None if name == member else name)

    def _count_attempts(self, key: str, span: float) -> int:
        try:
            log = open(self.attempts_file(key), "rb")  # noqa: SIM115
        except FileNotFoundError:
            return 0
        with log:
            fcntl.flock(log, fcntl.LOCK_SH)
            now = time.time()
            count = 0
            for line in log.read().decode("ascii", "replace").splitlines():
                with contextlib.suppress(ValueError):
                    count += now - span < float(line.partition(" ")[0]) <= now + span
            return count

    def _try_lock(self, name: str) -> tuple[int, Path] | None:
        """A handle for `_release`, or None when someone else holds the lock."""
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

    def _release(self, handle: tuple[int, Path]) -> None:
        fd, path = handle
        try:
            # Unlink while still holding the lock: see `_try_lock`.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def lock(
        self,
        name: str,
        timeout: float | None,
        ttl: float = FLIGHT_LOCK_TTL,
        look: Sequence[str] = (),
        slot: limiter.Slot | None = None,
    ) -> Iterator[None]:
        """The lock under `flock`; `ttl` is not needed: the OS drops the flock of a process
        that dies. It reads nothing of `look` and takes no `slot`: the holder reads the
        cache's files itself, and takes its slot from its own file, neither a round trip."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = _POLL_FIRST
        while True:
            with guarded("taking a lock"):
                handle = self._try_lock(name)
            if handle is not None:
                break
            if deadline is not None and time.monotonic() + pause > deadline:
                raise limiter.WaitTimeout(f"lock not acquired within {timeout:g} s")
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)
        try:
            yield None
        finally:
            with guarded("releasing a lock"):
                self._release(handle)
