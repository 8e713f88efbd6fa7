"""Names for the ids tickets carry: customers by name, products by title.

A page never waits for a name. It shows what the dashboard already knows (a name looked up
before, kept for hours in the shared cache) and the email or id otherwise; every name it does
not know, or knew more than an hour ago, is looked up in the background lane, at most
`STORE_NAME_LOOKUPS_PER_MINUTE` a minute for the whole token and once an hour per person or
product across every process, so twenty screens showing the same customers cost one look-up
each. A token without `users:read` or `catalogue:read` is remembered for ten minutes: no look-up
is tried meanwhile, and staff are told which scope would add names.

Look-ups go in the order of what a person has in front of them (see `budget.worker`): a thread
someone has open first, in the people's lane and with a fifth of the minute's look-ups kept for
it, so that no backlog of customers on lists and walls can hold up its names and titles; then
the page someone is reading; then walls.
"""

import contextlib
import functools
import logging
from dataclasses import dataclass, field

from django.conf import settings

from dashboard import budget, store
from dashboard.budget import state, worker

logger = logging.getLogger(__name__)

LOOKUP_WAIT = 5.0  # seconds a look-up waits for a background slot before giving up


@dataclass(frozen=True)
class Shown:
    """Everything a page shows by name: ticket types, agents, customers, products, tags."""

    ticket_types: dict = field(default_factory=dict)
    staff: dict = field(default_factory=dict)
    people: dict = field(default_factory=dict)
    products: dict = field(default_factory=dict)
    tags: object = None  # a TagCatalogue


PAGE, THREAD, WALL = worker.Priority.PAGE, worker.Priority.THREAD, worker.Priority.WALL


def customers(ids, shown_on=PAGE):
    """`{id: Person}` of the customers among `ids` whose names are known; the others are
    looked up in the background, with the priority of where they are `shown_on`."""
    return _known(
        ids, store.known_customers, store.look_up_customer, "users:read", "person", shown_on
    )


def read_ahead(customer_ids):
    """Read the names of customers a page is about to show, while the store answers: the
    page's own read (`customers`) then finds in this process the ones known, and reads only
    the others again. Nothing is looked up."""
    store.known_customers(customer_ids)


def products(ids, shown_on=PAGE):
    """`{id: Product}` of the products among `ids` whose titles are known; likewise."""
    return _known(
        ids, store.known_products, store.look_up_product, "catalogue:read", "product", shown_on
    )


def missing_scopes():
    """The scopes the store refused lately, for a notice to staff."""
    return store.missing_scopes()


def _known(ids, known, look_up, scope, kind, shown_on):
    ids = {int(i) for i in ids if i is not None}
    if not ids:
        return {}
    found = known(ids)
    stale = [i for i in ids if i not in found or not found[i].fresh]
    if stale and _lookups_on() and scope not in missing_scopes():
        for item_id in stale:
            job = functools.partial(_look_up, look_up, item_id, scope, shown_on == THREAD)
            worker.submit((kind, item_id), job, shown_on)
    return {i: getattr(f, kind) for i, f in found.items() if getattr(f, kind) is not None}


def _lookups_on():
    return getattr(settings, "STORE_NAME_LOOKUPS_PER_MINUTE", 60) > 0


def _look_up(look_up, item_id, scope, for_thread):
    if scope in missing_scopes() or not _within_budget(for_thread):
        return  # the next page that shows this id asks again
    # A thread's names are what its reader waits to see: a person's lane. The rest wait
    # their turn behind people.
    lane = contextlib.nullcontext() if for_thread else budget.background(wait=LOOKUP_WAIT)
    try:
        with lane:
            look_up(item_id)
    except (store.TicketsAPIError, budget.WaitTimeout) as exc:
        logger.debug("name not looked up (%s)", getattr(exc, "code", "busy"))


def _within_budget(for_thread):
    """At most STORE_NAME_LOOKUPS_PER_MINUTE look-ups in any minute, for every process; lists
    and walls may use four fifths of them, so that open threads always find some left."""
    limit = getattr(settings, "STORE_NAME_LOOKUPS_PER_MINUTE", 60)
    if limit <= 0:
        return False  # switched off since the look-up was asked for
    free = limit if for_thread else max(1, limit - max(1, limit // 5))
    try:
        wait, _ = budget.backend().admit_attempt(f"names:{store.identity()}", 60, free)
    except state.SharedStateError:
        return False
    return wait <= 0
