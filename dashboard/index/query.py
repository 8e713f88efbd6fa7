"""Tickets List queries answered from the index: the same filters, the same matching as the
store's list, in the database (`tickets`) or on one ticket (`matches`).

The index answers every documented filter but `filter_text`, the store's own "generic search"
(it matches a requester's e-mail address, which the index does not hold): a query with it is
not answered here (None), and its count stays the store's walk. So is a query naming a tag id
the team's catalogue does not know, since tickets carry tag names.

Matching follows the store's list: subject contains (in any case, of every letter), order
number equals (any case), tags and products match when any of those asked for is on the
ticket, and the created dates are days in UTC, both ends included.
"""

from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.dateparse import parse_datetime

from dashboard.models import IndexedProduct, IndexedTag, IndexedTicket, Tag


def answerable(query, catalogue=None) -> bool:
    """Whether the index can count `query` exactly."""
    return _tag_names(query, catalogue) is not None


def tickets(query, catalogue=None) -> QuerySet | None:
    """The indexed tickets `query` lists, newest first; None if the index cannot answer it."""
    names = _tag_names(query, catalogue)
    if names is None:
        return None
    found = IndexedTicket.objects.filter(_scalar_filters(query))
    if query.product:
        found = found.filter(
            Exists(IndexedProduct.objects.filter(ticket=OuterRef("pk"), product__in=query.product))
        )
    if names:
        found = found.filter(
            Exists(IndexedTag.objects.filter(ticket=OuterRef("pk"), name__in=names))
        )
    return found.order_by("-created_at", "-id")


def matches(query, ticket: dict, catalogue=None) -> bool | None:
    """Whether `ticket` (as the API gives it) is one `query` lists; None if the index cannot
    tell (see `answerable`)."""
    names = _tag_names(query, catalogue)
    if names is None:
        return None
    created = ticket.get("created_at")
    created_at = parse_datetime(created) if isinstance(created, str) else created
    created_on = created_at.astimezone(UTC).date() if created_at else None
    checks = (
        query.id is None or ticket.get("id") == query.id,
        not query.subject or query.subject.lower() in (ticket.get("subject") or "").lower(),
        not query.status or ticket.get("status") in query.status,
        query.requester is None or ticket.get("requester") == query.requester,
        query.assignee is None or ticket.get("assignee") == query.assignee,
        not query.order_number or (ticket.get("order") or "").lower() == query.order_number.lower(),
        not query.product or bool(set(ticket.get("products") or ()) & set(query.product)),
        not names or bool(set(ticket.get("tags") or ()) & set(names)),
        query.ticket_type is None or ticket.get("ticket_type") == query.ticket_type,
        not query.priority or ticket.get("priority") == query.priority,
        not query.channel or ticket.get("channel") == query.channel,
        query.created_from is None or (created_on is not None and created_on >= query.created_from),
        query.created_to is None or (created_on is not None and created_on <= query.created_to),
    )
    return all(checks)


def as_ticket(row: IndexedTicket) -> dict:
    """An indexed row in the API's shape, for `matches`."""
    return {
        "id": row.id,
        "status": row.status,
        "priority": row.priority,
        "channel": row.channel,
        "requester": row.requester,
        "assignee": row.assignee,
        "ticket_type": row.ticket_type,
        "tags": list(row.tags),
        "products": list(row.products),
        "order": row.order_number,
        "from_email": row.from_email,
        "subject": row.subject,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _tag_names(query, catalogue) -> list[str] | None:
    """The names of the tags `query` asks for ([] for none); None if it cannot be answered."""
    if query.filter_text:
        return None
    if not query.tags:
        return []
    by_id = (catalogue if catalogue is not None else Tag.catalogue()).by_id
    names = [by_id.get(tag_id) for tag_id in query.tags]
    return None if None in names else list(dict.fromkeys(names))


def _scalar_filters(query) -> Q:
    found = Q()
    if query.id is not None:
        found &= Q(pk=query.id)
    if query.subject:
        found &= Q(subject__regex=_any_case(query.subject))
    if query.status:
        found &= Q(status__in=query.status)
    for name in ("requester", "assignee", "ticket_type"):
        if getattr(query, name) is not None:
            found &= Q(**{name: getattr(query, name)})
    if query.order_number:
        found &= Q(order_number__iexact=query.order_number)
    if query.priority:
        found &= Q(priority=query.priority)
    if query.channel:
        found &= Q(channel=query.channel)
    if query.created_from is not None:
        found &= Q(created_at__gte=_day_start(query.created_from))
    if query.created_to is not None:
        found &= Q(created_at__lt=_day_start(query.created_to + timedelta(days=1)))
    return found


def _any_case(fragment: str) -> str:
    """A regular expression for `fragment` in any case, letter by letter. The store folds the
    case of every letter ("É" finds "é"), while the databases' own case-insensitive matching
    folds only ASCII letters (SQLite's LIKE; PostgreSQL's under the C locale); both read this
    alike. Only ASCII punctuation is special in either, so only it is escaped."""
    parts = []
    for char in fragment:
        cases = dict.fromkeys(c for c in (char, char.lower(), char.upper()) if len(c) == 1)
        if len(cases) > 1:
            parts.append("[" + "".join(cases) + "]")
        elif char.isascii() and not char.isalnum():
            parts.append("\\" + char)
        else:
            parts.append(char)
    return "".join(parts)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
