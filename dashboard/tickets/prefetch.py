"""The next page of a list, fetched while its reader reads the first, with budget nobody is
using, so that "Load more" answers from the cache.

One page ahead per page served, in the background (see `dashboard.budget.worker`): the job
starts once the page that asked for it is sent, waits for no more than `PREFETCH_WAIT` seconds
for a slot (and holds no lock meanwhile), takes none while a person waits for one, and a page
the store will not give (a stale cursor, a fault) is simply not there when asked for.
"""

import functools
import logging

from django.conf import settings

from dashboard import budget, store
from dashboard.budget import worker

logger = logging.getLogger(__name__)

PREFETCH_WAIT = 1.5  # about as long as a person reads a page
# Let the page that asked for the next one be sent first: the two would share the GIL.
PREFETCH_DELAY = 0.05


def next_page(query, page):
    """After serving `page` of `query`, fetch the page after it into the shared cache."""
    if not page.next_cursor or not getattr(settings, "STORE_PREFETCH", True):
        return
    following = query.with_cursor(page.next_cursor)
    job = functools.partial(_fetch, following)
    worker.submit(("page", following), job, worker.Priority.NEXT_PAGE, PREFETCH_DELAY)


def _fetch(query):
    try:
        with budget.background(wait=PREFETCH_WAIT):
            store.page_in_turn(query)
    except budget.WaitTimeout:
        logger.debug("page not prefetched: the budget stayed busy")
    except store.TicketsAPIError as exc:
        logger.debug("page not prefetched (%s)", exc.code)
