"""The wall board: for signed-in people on the list's own filters, and for unattended screens
through display links."""

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dashboard import budget, store
from dashboard.index import attention, changes, freshness
from dashboard.index import counts as index_counts
from dashboard.index import query as index_query
from dashboard.models import DisplayLink, Tag, hash_secret
from dashboard.tickets import names
from dashboard.tickets.querystring import querystring
from dashboard.views.common import filter_form, is_fragment, staff_or_empty
from dashboard.wall.board import ROWS, WallOptions, build_board, rotation
from dashboard.wall.filters import parse_wall_filters

logger = logging.getLogger(__name__)

WALL_TEMPLATE = "dashboard/wall.html"
WALL_RELOAD_HOURS = 12
# With live webhooks a screen asks this often whether its board changed (a delivery moved the
# index): a new ticket shows within about this long, while an unchanged board costs one read.
WATCH_SECONDS = 2


@require_GET
@vary_on_headers("HX-Request")
def wall(request):
    """A wall board for the list's own filters, for signed-in people."""
    form = filter_form(request)
    if not form.is_valid():
        return render(request, "dashboard/list.html", {"form": form, "page": None}, status=400)
    query = form.query().filters
    poll = querystring(query)
    tools = {"make_link_filters": poll, "make_link_query": urlencode({"filters": poll})}
    return _board(request, [query], 0, WallOptions(), poll_query=poll, extra=tools)


@login_not_required
@require_GET
@vary_on_headers("HX-Request")
def display_link(request, secret):
    """A display link's wall: the link's filters only, whatever the URL asks for."""
    link = DisplayLink.objects.filter(secret_hash=hash_secret(secret)).first()
    if link is None or link.is_revoked:
        # The screen's board is replaced by this notice at its next refresh.
        return _notice(request, {"revoked": bool(link)}, status=410 if link else 404)
    _note_seen(link)
    try:
        queries = parse_wall_filters(link.filters, Tag.catalogue())
    except ValidationError:
        # Saved filters the store no longer accepts (a ticket type was removed): say so on
        # the screen rather than show an error page.
        return _notice(request, {"invalid": True, "title": link.name})
    index = rotation(len(queries), link.rotate_seconds)
    return _board(request, queries, index, link.wall_options())


def _board(request, queries, index, options, poll_query="", extra=None):
    query = queries[index]
    watching = _watching(query)
    version = changes.version() if watching else ""
    if watching and is_fragment(request) and _unchanged(request, version, index, options):
        return _no_store(HttpResponse(status=204))  # the screen keeps what it shows
    # Its counts from the ticket index when it answers them: then nothing is walked; what
    # waits on the team is read in the same snapshot, so its figures and rows agree.
    with attention.one_snapshot():
        indexed = index_counts.board(query, oldest=options.sort == "oldest")
        waits = _attention(query) if indexed is not None else None
    # Nobody waits at a wall screen: its store calls leave the budget to people first.
    with budget.background():
        board = build_board(query, options.sort, indexed, waits)
        # A stale board asks the store for nothing more.
        staff = (store.staff(fetch=False) or {}) if board.stale else staff_or_empty()
    # Known names now; the screen's next refresh shows those looked up meanwhile.
    tickets = board.snapshot.tickets if board.snapshot else ()
    people = names.customers((t.requester for t in tickets), names.WALL) if not board.stale else {}
    since = _since(request, index)
    waits = board.snapshot.attention if board.snapshot else None
    if waits is not None and options.sort == "waiting" and not board.waiting_pending:
        marks = waits.marks
    else:
        marks = attention.marks_of([t.id for t in tickets]) if waits is not None else None
    poll = f"{poll_query}&" if poll_query else ""
    context = {
        "board": board,
        "options": options,
        "rotation": (index + 1, len(queries)) if len(queries) > 1 else None,
        "new_ids": board.new_ids(since),
        "marks": marks,
        "now": timezone.now(),
        "poll_url": f"{request.path}?{poll}{urlencode(_poll_params(board, since, index, version))}",
        "watch_seconds": WATCH_SECONDS if watching else None,
        "ticket_types": store.ticket_types(fetch=False) or {},
        "staff": staff,
        "people": people,
        "reload_hours": WALL_RELOAD_HOURS,
        "walk_note": "" if indexed is not None else index_counts.walk_note(query),
        **(extra or {}),
    }
    return _no_store(render(request, _template(request, "board"), context))


def _attention(query):
    """What waits on the team among `query`'s tickets, from the index; None if it cannot say."""
    try:
        tickets = index_query.tickets(query)
        every_status = index_query.tickets(replace(query, status=()))
        if tickets is None or every_status is None:
            return None
        with attention.reading():
            return attention.wall(tickets, every_status, timezone.now(), ROWS)
    except DatabaseError as exc:
        logger.warning("wall: what waits could not be read (%s)", type(exc).__name__)
        return None


def _notice(request, context, status=200):
    """A notice in place of the board: the screen shows it and stops polling."""
    context = {"gone": True, **context}
    return _no_store(render(request, _template(request, "gone"), context, status=status))


def _no_store(response):
    # A wall answer is about this moment, and a link revoked later must not linger in a cache.
    response["Cache-Control"] = "no-store"
    return response


def _template(request, part):
    return WALL_TEMPLATE + (f"#{part}" if is_fragment(request) else "")


def _poll_params(board, since, index, version=""):
    """The screen's next refresh names the newest creation time it has shown (the store's
    clock, as the tickets' own): tickets created after it are new to this screen. Watching
    the index, it also names the index's version it shows and when it was made."""
    newest = board.snapshot.newest if board.snapshot else None
    shown = max((moment for moment in (since, newest) if moment is not None), default=None)
    params = {"since": int(shown.timestamp()) if shown else "", "view": index}
    if version:
        params.update(v=version, at=int(time.time()))
    return params


def _watching(query):
    """Whether this board watches the index: the store's webhooks keep it live and it answers
    the board's filters. Its screens then ask every WATCH_SECONDS whether anything changed."""
    fresh = freshness.current()
    return fresh.live and fresh.answers and index_query.answerable(query)


def _unchanged(request, version, index, options):
    """Nothing to show anew: the same view, the index as the screen saw it, and its refresh
    not yet due (rows, names and the clock are refreshed then, as without webhooks)."""
    try:
        shown_at = int(request.GET.get("at", ""))
        view = int(request.GET.get("view", -1))
    except ValueError:
        return False
    fresh = 0 <= time.time() - shown_at < options.refresh
    return bool(version) and request.GET.get("v") == version and view == index and fresh


def _since(request, index):
    """The newest creation time this screen had shown of the same view, if it said."""
    try:
        if int(request.GET.get("view", -1)) != index:
            return None
        return datetime.fromtimestamp(int(request.GET["since"]), tz=UTC)
    except (KeyError, ValueError, OverflowError, OSError):
        return None


def _note_seen(link):
    # At most one write a minute per link, however many screens poll it.
    now = timezone.now()
    if link.last_seen_at is None or now - link.last_seen_at > timedelta(minutes=1):
        DisplayLink.objects.filter(pk=link.pk).update(last_seen_at=now)
