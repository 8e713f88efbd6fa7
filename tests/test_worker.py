"""The background threads: work in the order of what a person has in front of them, a thread's
names never behind a backlog, and work nobody looks at any more dropped rather than done late."""

import threading

import pytest

from dashboard.budget import worker
from dashboard.budget.worker import Priority
from tools.processes import wait_until


@pytest.fixture
def held():
    """The shared background thread busy with one job until the test lets it go, so that what
    is asked for meanwhile waits in its queue."""
    go, started = threading.Event(), threading.Event()

    def hold():
        started.set()
        go.wait(10)

    worker.submit(("hold",), hold, Priority.COUNT)
    assert started.wait(5)
    yield go
    go.set()
    assert worker.drain()


def test_jobs_run_by_priority_then_in_the_order_asked(held):
    done = []
    for key, priority in [
        ("count-1", Priority.COUNT),
        ("wall", Priority.WALL),
        ("page-name-1", Priority.PAGE),
        ("next-page", Priority.NEXT_PAGE),
        ("page-name-2", Priority.PAGE),
        ("count-2", Priority.COUNT),
    ]:
        worker.submit((key,), lambda key=key: done.append(key), priority)
    held.set()
    assert worker.drain()
    assert done == ["next-page", "page-name-1", "page-name-2", "wall", "count-1", "count-2"]


def test_a_job_asked_again_higher_runs_once_at_the_higher_priority(held):
    done = []
    worker.submit(("person", 7), lambda: done.append("person 7"), Priority.WALL)
    worker.submit(("count",), lambda: done.append("count"), Priority.COUNT)
    worker.submit(("person", 7), lambda: done.append("person 7"), Priority.PAGE)
    worker.submit(("person", 7), lambda: done.append("person 7"), Priority.COUNT)
    worker.submit(("page",), lambda: done.append("page"), Priority.NEXT_PAGE)
    held.set()
    assert worker.drain()
    assert done == ["page", "person 7", "count"]


def test_a_threads_names_never_wait_behind_a_busy_backlog(held):
    done = threading.Event()
    for n in range(50):
        worker.submit(("person", n), lambda: None, Priority.PAGE)
    worker.submit(("product", 1), done.set, Priority.THREAD)
    # The shared thread is still held: the thread's job has a thread of its own.
    wait_until(done.is_set, 5, "the open thread's look-up")


def test_work_nobody_looks_at_any_more_is_dropped_not_done_late(held, monkeypatch):
    done = []
    monkeypatch.setitem(worker.EXPIRES, Priority.COUNT, -1.0)  # asked for long ago
    worker.submit(("count",), lambda: done.append("count"), Priority.COUNT)
    worker.submit(("page",), lambda: done.append("page"), Priority.PAGE)
    held.set()
    assert worker.drain()
    assert done == ["page"]


def test_a_full_queue_drops_the_lowest_work_not_the_highest(held, monkeypatch):
    monkeypatch.setattr(worker, "QUEUE_SIZE", 3)
    done = []
    for n in range(3):
        assert worker.submit(("count", n), lambda n=n: done.append(f"count {n}"), Priority.COUNT)
    assert worker.submit(("page",), lambda: done.append("page"), Priority.PAGE)
    assert not worker.submit(("count", 9), lambda: done.append("count 9"), Priority.COUNT)
    held.set()
    assert worker.drain()
    assert done == ["page", "count 0", "count 1"]


def test_a_job_asked_for_by_a_page_and_then_by_a_thread_runs_once_for_the_thread(held):
    done = []
    worker.submit(("person", 3), lambda: done.append("page"), Priority.PAGE)
    worker.submit(("person", 3), lambda: done.append("thread"), Priority.THREAD)
    worker.submit(("person", 3), lambda: done.append("page again"), Priority.PAGE)
    wait_until(lambda: done, 5, "the thread's look-up")
    held.set()
    assert worker.drain()
    assert done == ["thread"]
