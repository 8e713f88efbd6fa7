"""Work nobody waits at, done by one small thread per process: the next page of a list, the
names of customers and titles of products.

Each process (each gunicorn worker) starts its thread on first use, after the fork, and feeds
it through a short queue: a job already waiting is not queued twice, and when the thread falls
behind, further jobs are dropped rather than queued, to be asked for again by the next page
that needs them. Jobs make their store calls in the background lane (see `lanes`). At exit,
the job in hand is given a moment to finish, so that no lock is left behind for others.
"""

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Hashable

logger = logging.getLogger(__name__)

QUEUE_SIZE = 64
_lock = threading.Lock()
# A job's key names it, its kind first: ("count", ...), ("page", ...), ("person", 12).
Key = tuple[Hashable, ...]
Job = tuple[Key, Callable[[], object], float]  # key, job, not before (monotonic)
_worker: tuple[int, threading.Thread, queue.Queue[Job | None]] | None = None  # this process's
_waiting: set[Key] = set()  # the keys of the jobs in the queue


def submit(key: Key, job: Callable[[], object], delay: float = 0.0) -> bool:
    """Run `job()` in this process's background thread `delay` seconds from now at the
    earliest, unless a job with the same `key` is waiting already. False when dropped."""
    with _lock:
        jobs = _jobs()
        if key in _waiting:
            return True
        try:
            jobs.put_nowait((key, job, time.monotonic() + delay))
        except queue.Full:
            logger.debug("background queue full: %s is left for later", key[0])
            return False
        _waiting.add(key)
        return True


def _jobs() -> queue.Queue[Job | None]:
    global _worker
    if _worker is None or _worker[0] != os.getpid():  # none yet, or inherited over a fork
        _waiting.clear()
        jobs: queue.Queue[Job | None] = queue.Queue(maxsize=QUEUE_SIZE)
        thread = threading.Thread(target=_run, args=(jobs,), name="background", daemon=True)
        _worker = (os.getpid(), thread, jobs)
        thread.start()
    return _worker[2]


def _run(jobs: queue.Queue[Job | None]) -> None:
    while (item := jobs.get()) is not None:
        key, job, not_before = item
        time.sleep(max(0.0, not_before - time.monotonic()))
        with _lock:
            _waiting.discard(key)
        try:
            job()
        except Exception:  # the thread must outlive any one job
            logger.exception("background job failed: %s", key[0])
        finally:
            jobs.task_done()


def drain(timeout: float = 10.0) -> bool:
    """Wait, at most `timeout` seconds, until this process's thread has nothing left to do
    (for tests and the benchmark). True when it has not."""
    with _lock:
        worker = _worker
    if worker is None or worker[0] != os.getpid():
        return True
    deadline = time.monotonic() + timeout
    while worker[2].unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.02)
    return not worker[2].unfinished_tasks


@atexit.register
def _stop() -> None:
    with _lock:
        worker = _worker
    if worker is None or worker[0] != os.getpid():
        return
    _, thread, jobs = worker
    try:
        jobs.put_nowait(None)
    except queue.Full:
        return
    thread.join(timeout=2.0)
