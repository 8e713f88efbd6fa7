"""The next page of a list, fetched while its reader reads the first, with budget nobody is
using, so that "Load more" answers from the cache.

One page ahead per page served, in the background lane: it waits for no more than
`PREFETCH_WAIT` seconds for a slot (and holds no lock meanwhile), takes none while a person
waits for one, and a page the store will not give (a stale cursor, a fault) is simply not
there when asked for. Each process
(each gunicorn worker) has one small worker thread, started on first use after the fork, with
a short queue: when it falls behind, further pages are dropped, not queued. At exit, the page
being fetched is given a moment to finish, so that no lock is left behind for others.
"""

import atexit
import logging
import os
import queue
import threading
import time

from django.conf import settings

from dashboard import pacing, store

logger = logging.getLogger(__name__)

PREFETCH_WAIT = 1.5  # about as long as a person reads a page
PREFETCH_DELAY = 0.05
QUEUE_SIZE = 8
_lock = threading.Lock()
_worker = None  # (pid, thread, queue) of this process


def next_page(query, page):
    """After serving `page` of `query`, fetch the page after it into the shared cache."""
    if not page.next_cursor or not getattr(settings, "STORE_PREFETCH", True):
        return
    try:
        _queue().put_nowait((query.with_cursor(page.next_cursor), time.monotonic()))
    except queue.Full:
        logger.debug("prefetch queue full: a page is left to be fetched when asked for")


def _queue():
    global _worker
    with _lock:
        if _worker is None or _worker[0] != os.getpid():  # none yet, or inherited over a fork
            pages = queue.Queue(maxsize=QUEUE_SIZE)
            thread = threading.Thread(target=_fetch, args=(pages,), name="prefetch", daemon=True)
            _worker = (os.getpid(), thread, pages)
            thread.start()
        return _worker[2]


def _fetch(pages):
    while (item := pages.get()) is not None:
        query, queued_at = item
        # Let the page that asked for this one finish first: the two would share the GIL.
        time.sleep(max(0.0, queued_at + PREFETCH_DELAY - time.monotonic()))
        try:
            with pacing.background(wait=PREFETCH_WAIT):
                if store.cached_page(query) is not None:
                    continue
                # The slot is waited for first, outside the query's lock, so that a person who
                # asks for the page meanwhile is never held up behind this wait.
                pacing.wait_for_slot(store.identity())
                with pacing.slot_in_hand():
                    store.list_tickets(query)
        except pacing.WaitTimeout:
            logger.debug("page not prefetched: the budget stayed busy")
        except store.TicketsAPIError as exc:
            logger.debug("page not prefetched (%s)", exc.code)
        except Exception:  # the worker must outlive any one page
            logger.exception("prefetch failed")


@atexit.register
def _stop():
    with _lock:
        worker = _worker
    if worker is None or worker[0] != os.getpid():
        return
    _, thread, pages = worker
    try:
        pages.put_nowait(None)
    except queue.Full:
        return
    thread.join(timeout=2.0)
