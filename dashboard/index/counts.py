"""Counts read from the ticket index, in the shapes the count walk gives them
(`dashboard.tickets.counts`): the list's total, saved views' counts, and a wall's counts by
status and priority, its pictures and its oldest tickets. Nothing here calls the store.

Each answers only when the index does (`freshness`: filled by a whole walk, and kept live by
webhooks or walked lately) and can match the filter exactly (`query.answerable`: every filter
but a search, `filter_text`). Otherwise it answers None, and the caller walks the store's
cursor as it always did. A database fault while reading is None too: a count walked, never an
error page.

A number read from an index that no webhook keeps live carries the time it is as of
(`Counts.shown_as_of`), which pages show beside it.

Each count is one query: a `COUNT` for a total, and for a wall one `GROUP BY status, priority`
whose conditional counts also tally the pictures' bars (and, for a board of the oldest
tickets, one more for those ten).
"""

import logging
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from dashboard import store
from dashboard.index import freshness
from dashboard.index import query as index_query
from dashboard.models import IndexedTicket, Tag
from dashboard.tickets import ages
from dashboard.tickets import counts as walked
from dashboard.tickets.counts import Counts

logger = logging.getLogger(__name__)

SEARCH_WALKED = "a search is counted by walking the store's list"
UNKNOWN_TAG_WALKED = "a tag the catalogue does not know is counted by walking the store's list"


def total(query):
    """`query`'s total, exact, as `Counts`; None when the index does not answer it."""
    return totals([query])[0]


def totals(queries):
    """`total()` of each of `queries` (None for a query of None), a query each."""
    fresh = freshness.current()
    if not fresh.answers:
        return [None] * len(queries)
    try:
        with _reading():
            catalogue = Tag.catalogue()
            found = [None if q is None else index_query.tickets(q, catalogue) for q in queries]
            numbers = [None if tickets is None else tickets.count() for tickets in found]
    except DatabaseError as exc:
        logger.warning("counts walked: the ticket index could not be read (%s)", type(exc).__name__)
        return [None] * len(queries)
    return [None if n is None else Counts.exactly(n, fresh.shown_as_of) for n in numbers]


def board(query, oldest=False, now=None):
    """A wall's counts for `query`: by status and priority, the total, and the pictures' bars
    (open tickets by age, tickets created on each of the last 14 days, as of `now`); with
    `oldest`, its ten oldest tickets too. None when the index does not answer it."""
    fresh = freshness.current()
    if not fresh.answers:
        return None
    now = now or timezone.now()
    try:
        with _reading():
            tickets = index_query.tickets(query)
            if tickets is None:
                return None
            # order_by(): the index's ordering would otherwise join the GROUP BY.
            groups = list(tickets.order_by().values("status", "priority").annotate(**_tallies(now)))
            tail = _oldest(tickets) if oldest else ()
    except DatabaseError as exc:
        logger.warning("wall walked: the ticket index could not be read (%s)", type(exc).__name__)
        return None
    status, priority, days = Counter(), Counter(), Counter()
    aged = [0] * len(ages.AGE_BUCKETS)
    for group in groups:
        status[group["status"] or "none"] += group["tickets"]
        priority[group["priority"] or "none"] += group["tickets"]
        for bar in range(len(aged)):
            aged[bar] += group[f"age_{bar}"]
        for day in _days(now):
            days[day.isoformat()] += group[f"day_{day:%Y%m%d}"]
    return Counts.tallied(status, priority, aged, days, now, tail, fresh.shown_as_of)


@dataclass(frozen=True)
class RequesterCounts:
    """How many tickets each of some customers has: `every` of theirs, and `listed`, those a
    list's other filters keep (None when the index cannot match those filters: a search)."""

    every: dict
    listed: dict | None
    shown_as_of: datetime | None = None


def by_requester(query, ids):
    """The tickets of each of the customers `ids`, all of them and those `query` lists with
    its requester set aside, two grouped queries whatever the number of customers; None when
    the index does not answer (then nobody is counted, and nothing is walked: the store is
    never asked for it)."""
    fresh = freshness.current()
    ids = sorted({int(i) for i in ids})
    if not fresh.answers or not ids:
        return None
    others = replace(query, requester=None, cursor="")
    try:
        with _reading():
            every = _per_requester(IndexedTicket.objects.all(), ids)
            if others == store.TicketQuery():
                listed = every
            else:
                tickets = index_query.tickets(others)
                listed = None if tickets is None else _per_requester(tickets, ids)
    except DatabaseError as exc:
        logger.warning("customers not counted: the ticket index could not be read (%s)",
                       type(exc).__name__)  # fmt: skip
        return None
    return RequesterCounts(every, listed, fresh.shown_as_of)


def _per_requester(tickets, ids):
    found = tickets.filter(requester__in=ids).order_by().values_list("requester")
    counted = dict(found.annotate(tickets=Count("pk")))
    return {i: counted.get(i, 0) for i in ids}


def walk_note(query):
    """Why `query` is counted by walking the store's list while the index answers counts: ""
    when the index answers it, or answers nothing (then every count walks, as before)."""
    if query is None or not freshness.current().answers:
        return ""
    if query.filter_text:
        return SEARCH_WALKED
    try:
        return "" if index_query.answerable(query) else UNKNOWN_TAG_WALKED
    except DatabaseError:
        return ""


def _tallies(now):
    """The conditional counts of one group: its tickets, its open ones per age bar (the count
    walk's bars: `ages.age_bucket`), and those created on each of the last 14 local days."""
    tallies = {"tickets": Count("pk")}
    waiting = ~Q(status__in=store.RESOLVED)
    # Bar i holds the tickets created after ends[i] and at or before ends[i - 1].
    ends = [now - timedelta(seconds=upper) for upper, _, _ in ages.AGE_BUCKETS if upper]
    for bar in range(len(ages.AGE_BUCKETS)):
        within = waiting
        if bar < len(ends):
            within &= Q(created_at__gt=ends[bar])
        if bar > 0:
            within &= Q(created_at__lte=ends[bar - 1])
        tallies[f"age_{bar}"] = Count("pk", filter=within)
    for day in _days(now):
        start, end = _local_midnight(day), _local_midnight(day + timedelta(days=1))
        on_day = Q(created_at__gte=start, created_at__lt=end)
        tallies[f"day_{day:%Y%m%d}"] = Count("pk", filter=on_day)
    return tallies


def _days(now):
    """The last 14 days to today, in the dashboard's time zone (as the walk tallies them)."""
    today = timezone.localdate(now)
    return [today - timedelta(days=offset) for offset in range(ages.DAYS)]


def _local_midnight(day):
    return timezone.make_aware(datetime.combine(day, time.min))


def _oldest(tickets):
    """The ten oldest of `tickets`, oldest first, as the store's tickets (for a board of the
    oldest waiting). Their threads' sizes are not indexed: a wall shows none."""
    rows = tickets.order_by("created_at", "id")[: walked.TAIL]
    return tuple(
        store.Ticket(
            id=row.id,
            subject=row.subject,
            status=row.status or None,
            priority=row.priority or None,
            channel=row.channel or None,
            requester=row.requester,
            from_email=row.from_email or None,
            assignee=row.assignee,
            order=row.order_number or None,
            ticket_type=row.ticket_type,
            created_at=row.created_at,
            updated_at=row.updated_at,
            products=tuple(row.products),
            tags=tuple(row.tags),
        )
        for row in rows
    )


@contextmanager
def _reading():
    """A read that may fail without spoiling a transaction it runs in (it gets a savepoint)."""
    if connection.in_atomic_block:
        with transaction.atomic():
            yield
    else:
        yield
