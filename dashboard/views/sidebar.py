"""The views' sidebar beside the list: the built-in views, the team's, the person's own, each
with its count. It asks the store nothing: counts are what the shared cache knows, and the
sidebar's poller (`/views/counts/`) has the due ones walked in the background."""

import functools
import logging
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.urls import reverse

from dashboard import budget, store
from dashboard.budget import worker
from dashboard.saved import saved_views
from dashboard.saved.saved_views import ALL, MY_TICKETS
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


@dataclass(frozen=True)
class Sidebar:
    builtins: tuple[Entry, ...]
    team: tuple[Entry, ...]
    own: tuple[Entry, ...]
    polling: bool  # counts are on: the sidebar asks for them again
    poll_delay: str

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

    rows = [
        (ALL, "All tickets", reverse("all_tickets"), store.TicketQuery(), ""),
        (MY_TICKETS, "Mine", reverse("my_tickets"), *_mine(context)),
        *(
            (str(v.pk), v.name, v.get_absolute_url(), saved_views.filters_of(v.query, context), "")
            for v in team + own
        ),
    ]
    # Every view's count in one read of the shared state.
    found = view_counts.counts_for([query for _, _, _, query, _ in rows], start=start)
    entries = [
        # "All tickets" is `/` unless the person chose a default: only a choice is marked.
        Entry(key, name, url, count, key == current, key == default != ALL, note)
        for (key, name, url, _, note), count in zip(rows, found, strict=True)
    ]
    builtins, views = tuple(entries[:2]), entries[2:]
    counting = any(e.count is not None and e.count.counting for e in builtins + tuple(views))
    return Sidebar(
        builtins=builtins,
        team=tuple(views[: len(team)]),
        own=tuple(views[len(team) :]),
        polling=view_counts.counting_on(),
        poll_delay=(COUNTING_POLL if start else FIRST_POLL) if counting else COUNTED_POLL,
    )


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
