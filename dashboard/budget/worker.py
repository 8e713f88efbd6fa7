"""Work nobody waits at, done by two small threads per process, in the order of what a person
has in front of them.

Highest first (`Priority`):

1. `THREAD`: the names and titles in a thread someone has open;
2. `NEXT_PAGE`: the next page of a list someone is reading (one call, and the next click);
3. `PAGE`: the names on a page someone is reading;
4. `WALL`: what wall screens show;
5. `COUNT`: totals, views' counts and everything else;
6. `INDEX`: the walk that fills the ticket index, a few pages at a time, behind everything.

Apart from those, `REFRESH`: a page or thread someone was shown as it was known, while the
store was too busy to ask at once, asked again for the fresh answer the page then picks up.
It waits its turn in the budget as a person does, so it has a thread of its own.

`THREAD` work has a thread of its own, so that no backlog of other work ever delays it; the
rest share the other thread, which always takes the highest job waiting. A job already waiting
is not queued twice (a second asker can only raise its priority). Every job has a time after
which nobody is looking at what it was for (a page left, a thread closed): it is then dropped,
not done late, and asked for again by the next page that needs it. When a queue is full, the
lowest job in it gives way to a higher one, or the new one is dropped.

Each process (each gunicorn worker) starts its threads on first use, after the fork. At exit,
the job in hand is given a moment to finish, so that no lock is left behind for others.
"""

import atexit
import enum
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


class Priority(enum.IntEnum):
    THREAD = 0
    NEXT_PAGE = 1
    PAGE = 2
    WALL = 3
    COUNT = 4
    INDEX = 5
    REFRESH = 6  # in a thread of its own: see the module's notes


# How long after it was asked for a job is still worth doing: about as long as someone looks
# at what it is for before the page asks again (names and counts are asked at every refresh).
EXPIRES = {
    Priority.THREAD: 60.0,
    Priority.NEXT_PAGE: 30.0,  # the shared cache keeps a page this long anyway
    Priority.PAGE: 60.0,
    Priority.WALL: 60.0,
    Priority.COUNT: 30.0,
    Priority.INDEX: 60.0,  # asked again every half minute while it is due
    Priority.REFRESH: 60.0,  # a page polls for its fresh answer about that long
}
QUEUE_SIZE = 256

# A job's key names it, its kind first: ("count", ...), ("page", ...), ("person", 12).
Key = tuple[Hashable, ...]


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    key: Key = field(compare=False)
    run: Callable[[], object] = field(compare=False)
    not_before: float = field(compare=False)
    expires: float = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class _Lane:
    """One thread and the jobs waiting for it, highest priority first, then oldest."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.jobs: list[_Job] = []
        self.waiting: dict[Key, _Job] = {}
        self.busy = False
        self.ready = threading.Condition(_lock)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.stopping = False

    def submit(self, job: _Job) -> bool:  # called with _lock held
        known = self.waiting.get(job.key)
        if known is not None:
            if known.priority <= job.priority:
                known.expires = max(known.expires, job.expires)  # asked again: still wanted
                return True
            known.cancelled = True  # asked for at a higher priority: queued again there
            del self.waiting[job.key]
        if len(self.waiting) >= QUEUE_SIZE:
            lowest = max((j for j in self.jobs if not j.cancelled), default=None)
            if lowest is None or lowest <= job:
                logger.debug("background queue full: %s is left for later", job.key[0])
                return False
            lowest.cancelled = True
            del self.waiting[lowest.key]
        heapq.heappush(self.jobs, job)
        self.waiting[job.key] = job
        self.ready.notify()
        return True

    def _next(self) -> _Job | None:
        with _lock:
            while True:
                while self.jobs and self.jobs[0].cancelled:
                    heapq.heappop(self.jobs)
                if self.stopping:
                    return None
                if self.jobs:
                    job = heapq.heappop(self.jobs)
                    del self.waiting[job.key]
                    if job.expires < time.monotonic():
                        logger.debug("background job dropped, nobody looks: %s", job.key[0])
                        continue
                    self.busy = True
                    return job
                self.ready.wait()

    def _run(self) -> None:
        while (job := self._next()) is not None:
            time.sleep(max(0.0, job.not_before - time.monotonic()))
            try:
                job.run()
            except Exception:  # the thread must outlive any one job
                logger.exception("background job failed: %s", job.key[0])
            finally:
                with _lock:
                    self.busy = False

    def idle(self) -> bool:
        with _lock:
            return not self.busy and not any(not j.cancelled for j in self.jobs)


_lock = threading.Lock()
_seq = itertools.count()
# (pid, urgent, other, refresh) of this process
_lanes: tuple[int, _Lane, _Lane, _Lane] | None = None


def submit(
    key: Key,
    job: Callable[[], object],
    priority: Priority = Priority.COUNT,
    delay: float = 0.0,
) -> bool:
    """Run `job()` in one of this process's background threads, in `priority` order, `delay`
    seconds from now at the earliest, unless a job with the same `key` is waiting already.
    False when dropped (the queue is full of higher work)."""
    now = time.monotonic()
    with _lock:
        urgent, other, refresh = _threads()
        lane = urgent if priority == Priority.THREAD else other
        if priority == Priority.REFRESH:
            lane = refresh
        elif lane is urgent and key in other.waiting:
            # Asked for by an open thread: it runs there, once, not also in the shared thread.
            other.waiting.pop(key).cancelled = True
        elif lane is other and key in urgent.waiting:
            return True  # waiting already, higher
        entry = _Job(int(priority), next(_seq), key, job, now + delay, now + EXPIRES[priority])
        return lane.submit(entry)


def _threads() -> tuple["_Lane", "_Lane", "_Lane"]:  # called with _lock held
    global _lanes
    if own := _own():
        return own[0], own[1], own[2]
    # None yet, or forked.
    urgent, other = _Lane("background-urgent"), _Lane("background")
    refresh = _Lane("background-refresh")
    for lane in (urgent, other, refresh):
        lane.thread.start()
    _lanes = (os.getpid(), urgent, other, refresh)
    return urgent, other, refresh


def _own() -> tuple["_Lane", ...]:  # called with _lock held
    """This process's lanes: none before its first job, nor those inherited over a fork."""
    return () if _lanes is None or _lanes[0] != os.getpid() else _lanes[1:]


def forget() -> None:
    """Drop every job still waiting in this process (tests start from an empty queue)."""
    with _lock:
        for lane in _own():
            for job in lane.jobs:
                job.cancelled = True
            lane.waiting.clear()


def drain(timeout: float = 10.0) -> bool:
    """Wait, at most `timeout` seconds, until this process's threads have nothing left to do
    (for tests and the benchmark). True when they have not."""
    with _lock:
        lanes = _own()
    deadline = time.monotonic() + timeout
    while not all(lane.idle() for lane in lanes):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _after_fork() -> None:
    """A child starts with no threads of its own, and a lock a parent's thread may have held
    at the fork would never be released in it."""
    global _lock, _lanes
    _lock, _lanes = threading.Lock(), None


os.register_at_fork(after_in_child=_after_fork)


@atexit.register
def _stop() -> None:
    with _lock:
        lanes = _own()
        for lane in lanes:
            lane.stopping = True
            lane.ready.notify_all()
    for lane in lanes:
        lane.thread.join(timeout=2.0)
