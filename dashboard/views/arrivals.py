"""New tickets, and changed ones, shown to a list that is open: its poller (`/arrivals/`).

With the store's webhooks keeping the ticket index live, a list's first page carries a small
poller. Every couple of seconds it asks whether the index changed since it last looked (one
read of the index's version in the shared state: an unchanged index answers at once, with
nothing). When it changed, the index says, with no store call:

- how many tickets matching the list's filters arrived after the newest one on screen: the
  notice "2 new tickets · Show" (`data-arrivals`), whose link shows the list again;
- the list's exact total, when it differs from the one on screen;
- the status of each row on screen whose status changed.

Each is swapped into the page out of band; the notice is a polite live region, changed only
when its number does. Polling, not server-sent events: an event stream holds a server thread
per open list for as long as it is open, and 200 open lists would hold every thread of two
gunicorn workers; a poll holds one for a few milliseconds (see docs/benchmarks.md).
"""

from django.db import DatabaseError
from django.db.models import Q
from django.http import HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from dashboard.index import changes, freshness
from dashboard.index import query as index_query
from dashboard.models import IndexedTicket
from dashboard.templatetags.dashboard_tags import badge_html
from dashboard.tickets import counts
from dashboard.tickets.filter_fields import DIGITS, bounded_id
from dashboard.views.common import filter_form

POLL_SECONDS = 2
SHOWN_MAX = 500  # rows a list reports the status of: more than anyone loads
# htmx stops polling on this status: the index cannot answer for this list (any more).
STOP_POLLING = 286


def poller(query, page, filters_qs):
    """The poller's address for a list's first page, or None when there is none to show:
    the index is not kept live by webhooks, or cannot answer these filters (a search)."""
    if page is None or query.cursor or not page.tickets:
        return None
    fresh = freshness.current()
    if not (fresh.live and fresh.answers) or not index_query.answerable(query):
        return None
    newest = max(page.tickets, key=lambda ticket: (ticket.created_at, ticket.id))
    params = QueryDict(filters_qs, mutable=True)
    params["newest"] = f"{newest.created_at.isoformat()}~{newest.id}"
    return f"{reverse('arrivals')}?{params.urlencode()}"


@require_GET
def arrivals(request):
    form = filter_form(request, fetch=False)
    newest = _newest(request.GET.get("newest", ""))
    if not form.is_valid() or newest is None:
        return HttpResponseBadRequest("These filters or this list's newest ticket are not valid.")
    since = request.GET.get("since", "")
    version = changes.version()
    if since and since == version:
        return _no_store(HttpResponse(status=204))  # nothing changed anywhere
    query = form.query().filters
    fresh = freshness.current()
    found = index_query.tickets(query)
    if not (fresh.live and fresh.answers) or found is None:
        return _no_store(HttpResponse(status=STOP_POLLING))
    try:
        context = _changes_for(request, found, newest, version)
    except DatabaseError:
        return _no_store(HttpResponse(status=204))  # the database is back soon; ask again
    context["filters_qs"] = form.bookmark(query)
    return _no_store(render(request, "dashboard/_arrivals.html", context))


def _changes_for(request, found, newest, version):
    created_at, ticket_id = newest
    arrived = found.filter(
        Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=ticket_id)
    ).count()
    total = found.count()
    shown = _shown(request.GET.get("shown", ""))
    now = dict(IndexedTicket.objects.filter(pk__in=shown).values_list("pk", "status"))
    changed = {pk: status for pk, status in now.items() if status and status != shown[pk]}
    seen, shown_total = _number(request.GET.get("seen")), _number(request.GET.get("total"))
    poll = request.GET.copy()
    for name in ("since", "shown", "seen", "total"):
        poll.pop(name, None)
    poll["since"] = version
    return {
        "poll_url": f"{request.path}?{poll.urlencode()}",
        "poll_seconds": POLL_SECONDS,
        "arrived": arrived if arrived != seen else None,
        "total": (
            counts.Total(counts.Counts.exactly(total), counting=False, indexed=True)
            if total != shown_total
            else None
        ),
        "statuses": [_status_swap(pk, status) for pk, status in sorted(changed.items())],
    }


def _status_swap(ticket_id, status):
    """The row's new status badge, swapped in place of the one on screen."""
    badge = badge_html("badge status status", status)
    target = f"#ticket-rows > tr[data-ticket-id='{int(ticket_id)}'] .badge.status"
    return mark_safe(badge.replace("<span ", f'<span data-hx-swap-oob="outerHTML:{target}" ', 1))


def _newest(text):
    """`(created_at, id)` of the newest ticket the list showed, from "<ISO time>~<id>"."""
    moment, _, ticket_id = text.rpartition("~")
    try:
        created_at = parse_datetime(moment)
    except ValueError:
        return None
    ticket_id = bounded_id(ticket_id)
    if created_at is None or created_at.tzinfo is None or ticket_id is None:
        return None
    return created_at, ticket_id


def _shown(text):
    """`{id: status}` of the rows on screen, from "id:status,id:status"."""
    shown = {}
    for item in text.split(",")[:SHOWN_MAX]:
        ticket_id, _, status = item.partition(":")
        if (found := bounded_id(ticket_id)) is not None:
            shown[found] = status[:32]
    return shown


def _number(text):
    # ASCII digits only: "²" is a digit to str.isdigit() and no number to int().
    return int(text) if text and DIGITS.fullmatch(text) and len(text) <= 12 else None


def _no_store(response):
    response["Cache-Control"] = "no-store"
    return response
