"""The views' sidebar beside the list: the built-in views, the team's, the person's own, each
with its count. It asks the store nothing: counts are read from the ticket index where it
answers them, else they are what the shared cache knows, and the sidebar's poller
(`/views/counts/`) has the due ones walked in the background."""

import functools
import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from dashboard import budget, store
from dashboard.budget import worker
from dashboard.index import attention, freshness
from dashboard.index import counts as index_counts
from dashboard.saved import saved_views
from dashboard.saved.saved_views import ALL, MY_TICKETS, NEEDS_REPLY
from dashboard.tickets import view_counts
from dashboard.views.common import known_context

logger = logging.getLogger(__name__)

FIRST_POLL, COUNTING_POLL, COUNTED_POLL = "1s", "5s", "60s"


@dataclass(frozen=True)
class Entry:
    key: str  # "all", "mine" or the view's id: what the count's element is known by
    name: str
    url: str
    count: view_counts.Count | None
    current: bool = False
    default: bool = False
    note: str = ""  # said instead of a count
    walk_note: str = ""  # why its count walks the store while the ticket index answers others
    overdue: int | None = None  # of the tickets it counts, how many are overdue (Needs reply)


@dataclass(frozen=True)
class Sidebar:
    builtins: tuple[Entry, ...]
    team: tuple[Entry, ...]
    own: tuple[Entry, ...]
    polling: bool  # counts are on: the sidebar asks for them again
    poll_delay: str
    # Counts read from a ticket index no webhook keeps live: the time they are as of.
    as_of: datetime | None = None
    # How many of the team's views, and the person's own, are listed on the views page only.
    team_more: int = 0
    own_more: int = 0

    @property
    def entries(self):
        return self.builtins + self.team + self.own

    @property
    def current(self):
        return next((entry for entry in self.entries if entry.current), None)


def sidebar(request, current=None, start=False, context=None):
    """The sidebar for `request`'s person, `current` (a key) marked. With `start`, counts that
    are due take their next step in the background (the poller's asking, never a page's).
    `context` is the filter form's, when the page has one already: else what is cached."""
    if start:
        _refresh_reference()
    context = context or known_context(request)
    default = saved_views.default_key(request.user)
    team, own = saved_views.visible(request.user)
    # The first few of each group, and the one shown wherever it is: the page, and the counts
    # it polls for, stay the same size however many views there are.
    (team, team_more), (own, own_more) = (_first(views, current) for views in (team, own))

    rows = [
        (ALL, "All tickets", reverse("all_tickets"), store.TicketQuery(), ""),
        (MY_TICKETS, "Mine", reverse("my_tickets"), *_mine(context)),
        *(
            (str(v.pk), v.name, v.get_absolute_url(), saved_views.filters_of(v.query, context), "")
            for v in team + own
        ),
    ]
    queries = [query for _, _, _, query, _ in rows]
    found, indexed = _counts(queries, start)
    notes = [
        index_counts.walk_note(query) if count is not None and known is None else ""
        for query, count, known in zip(queries, found, indexed, strict=True)
    ]
    entries = [
        # "All tickets" is `/` unless the person chose a default: only a choice is marked.
        Entry(key, name, url, count, key == current, key == default != ALL, note, walked)
        for (key, name, url, _, note), count, walked in zip(rows, found, notes, strict=True)
    ]
    builtins, views = (*entries[:2], _needs_reply(current)), entries[2:]
    counting = any(e.count is not None and e.count.counting for e in builtins + tuple(views))
    return Sidebar(
        builtins=builtins,
        team=tuple(views[: len(team)]),
        own=tuple(views[len(team) :]),
        team_more=team_more,
        own_more=own_more,
        polling=view_counts.counting_on(),
        poll_delay=(COUNTING_POLL if start else FIRST_POLL) if counting else COUNTED_POLL,
        as_of=next((known.shown_as_of for known in indexed if known is not None), None),
    )


def _first(views, current):
    """The first SIDEBAR_VIEWS of `views`, with the `current` one after them when it is not
    among them; and how many are left out."""
    shown = views[: settings.SIDEBAR_VIEWS]
    shown += [view for view in views[len(shown) :] if str(view.pk) == current]
    return shown, len(views) - len(shown)


def _needs_reply(current):
    """ "Needs reply", counted exactly from the ticket index in one query, overdue first; while
    the index does not answer, it says so instead."""
    entry = functools.partial(Entry, NEEDS_REPLY, "Needs reply", reverse("needs_reply"))
    found = None
    if freshness.current().answers:
        try:
            found = attention.tally(attention.waiting(), timezone.now())
        except DatabaseError:
            found = None
    if found is None:
        return entry(None, current == NEEDS_REPLY, note="no index yet")
    count = view_counts.Count.exactly(found.waiting)
    return entry(count, current == NEEDS_REPLY, overdue=found.overdue)


def _counts(queries, start):
    """Each view's count, and the index's counts (None where it did not answer): read from the
    ticket index where it answers, a query each, and no walk for those; the others in one read
    of the shared state, walks that are due started with `start`."""
    if not view_counts.counting_on():
        return [None] * len(queries), [None] * len(queries)
    indexed = index_counts.totals(queries)
    pairs = list(zip(queries, indexed, strict=True))
    walked = view_counts.counts_for([None if n is not None else q for q, n in pairs], start=start)
    found = [
        view_counts.Count.exactly(known.total) if known is not None else count
        for known, count in zip(indexed, walked, strict=True)
    ]
    return found, indexed


def _refresh_reference():
    """A tab left open asks nothing of the store but its counts, and its views (Mine, views of
    a ticket type) read the agents and ticket types kept from before: once their shared answer
    has gone, they are asked for again in the background, never waited for."""
    for due, fetch in (
        (store.staff_due, store.staff),
        (store.ticket_types_due, store.ticket_types),
    ):
        if due():
            worker.submit(("reference", fetch.__name__), functools.partial(_refresh, fetch))


def _refresh(fetch):
    store.forget_local()  # this process's minute-long copy is the kept answer: ask the store
    try:
        with budget.background():
            fetch()
    except store.TicketsAPIError as exc:
        logger.debug("reference data not refreshed (%s)", exc.code)


def _mine(context):
    """Mine's filters, or why there are none: nobody's agent has the person's email."""
    if context.me is not None:
        return store.TicketQuery(assignee=context.me), ""
    if not context.my_email:
        return None, "your account has no email"
    if store.staff(fetch=False) is None:
        return None, ""  # the agents are not known yet: the page that shows Mine asks
    return None, "no agent has your email"


def swapped(request, current=None):
    """The sidebar again, for HTMX to swap in beside a list the filter form changed: the view
    marked as shown is the one whose filters these are now (none, or "All tickets")."""
    context = {"sidebar": sidebar(request, current), "sidebar_oob": True}
    return render_to_string("dashboard/_views_sidebar.html", context, request)
