"""What the ticket index knows of a page or a thread, for a person the store cannot answer at
once (`store.page_or_known`, `store.ticket_or_known`): shown with its age while the store's
answer is fetched in the background.

- **A first page** of a filter the index answers (not a search), newest first as the store
  lists it, at the store's page size: the rows as they are indexed, without the store's cursor,
  so the page has no "Load more" until the store's answer replaces it.
- **A thread**: the ticket's facts, and who said what when, without the comments' words (the
  index keeps none).

While the store's webhooks keep the index live it is as of now; otherwise as of its last whole
walk (a page) or when the ticket was last indexed (a thread). A database fault answers nothing.
"""

from dataclasses import dataclass, replace

from django.db import DatabaseError
from django.db.models import Count
from django.utils import timezone

from dashboard import store
from dashboard.index import attention, freshness, query
from dashboard.models import IndexedComment, IndexedTicket

# The store's page of the Tickets List (its own size; the spec names none to ask for).
PAGE_SIZE = 25
INDEX = "index"


def first_page(asked: store.TicketQuery) -> store.Answer[store.TicketPage] | None:
    """The first page of `asked` as the index holds it, or None when it cannot say. (Read
    from a store thread: the index's state as this process last read it.)"""
    found = freshness.last_read()
    rows = _listed_first(
        asked, found, lambda tickets: tickets.annotate(comment_count=Count("comments"))
    )
    if rows is None:
        return None
    as_of = timezone.now() if found.live else found.as_of
    page = store.TicketPage(
        tickets=tuple(attention.as_ticket(row) for row in rows),
        next_cursor=None,
        previous_cursor=None,
        fetched_at=as_of,
    )
    return store.Answer(page, as_of, INDEX)


@dataclass(frozen=True)
class Ahead:
    """What the index says of a first page while the store answers: its rows' waiting marks
    (as `attention.marks_of` gives them) and its requesters, whose names the page shows."""

    marks: dict[int, tuple]
    requesters: frozenset[int]


def page_ahead(asked: store.TicketQuery, found: freshness.Freshness) -> Ahead | None:
    """The tickets the index lists first for `asked`, read while the store answers (the index
    lists a first page as the store does), the index being as the page read it (`found`): the
    page then asks the index again only for the marks of tickets not among them, none when the
    index is current. None when the index cannot say."""
    columns = ("id", "waiting_since", "priority", "requester")
    rows = _listed_first(asked, found, lambda tickets: tickets.values_list(*columns))
    if rows is None:
        return None
    return Ahead(
        marks={ticket_id: (since, priority) for ticket_id, since, priority, _ in rows},
        requesters=frozenset(requester for *_, requester in rows if requester is not None),
    )


def _listed_first(asked, found, shaped):
    """The first PAGE_SIZE rows of `shaped(tickets)`, `tickets` being the indexed tickets
    `asked` lists, as the index `found` (its `Freshness`) holds them; None when it cannot say
    (a later page, an index that does not answer or cannot list these filters, a database
    fault)."""
    if asked.cursor or not found.answers:
        return None
    try:
        tickets = query.tickets(asked)
        if tickets is None:
            return None
        with attention.reading():
            return list(shaped(tickets)[:PAGE_SIZE])
    except DatabaseError:
        return None


def thread(ticket_id: int) -> store.Answer[store.Ticket] | None:
    """The ticket as the index holds it, its comments without their words; None when it is
    not indexed."""
    try:
        with attention.reading():
            row = IndexedTicket.objects.filter(pk=ticket_id).first()
            said = list(IndexedComment.objects.filter(ticket_id=ticket_id)) if row else []
    except DatabaseError:
        return None
    if row is None:
        return None
    comments = tuple(
        store.Comment(
            id=comment.comment_id,
            body="",
            author=comment.author,
            from_email=comment.from_email or None,
            created_at=comment.created_at,
            is_public=comment.is_public,
        )
        for comment in said
    )
    ticket = replace(attention.as_ticket(row), comments=comments, comment_count=len(comments))
    as_of = timezone.now() if freshness.last_read().live else row.indexed_at
    return store.Answer(ticket, as_of, INDEX)
