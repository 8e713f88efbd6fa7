"""What waits on the team, in one place: the index's rows, the list's marks, the thread, the
"Needs reply" view and the wall all read these definitions.

- A comment is **the customer's** when its author is the ticket's requester, or when it has no
  author and its from_email is the ticket's from_email or the requester's e-mail. Any other
  authored comment is **an agent's**. Internal notes (is_public false) are no replies. An
  authorless comment from another address is neither.
- A ticket **waits on the team** when its status is new or open and either no agent has
  replied publicly yet (it waits since created_at), or a public customer comment follows the
  last public agent comment (it waits since the first such comment).
- It is **overdue** when it has waited longer than its priority's target
  (`SLA_FIRST_REPLY_HOURS`, hours on a 24-hour clock; business hours are not modelled). A
  ticket without a priority has no target.

The requester's e-mail is known only when the store's users have been looked up before (the
names cache); without it, authorless comments count as the customer's only by the ticket's own
from_email.
"""

import functools
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from dashboard import store
from dashboard.index import freshness
from dashboard.models import IndexedTicket
from dashboard.tickets.ages import AGE_BUCKETS

WAITING_STATUSES = ("new", "open")


@dataclass(frozen=True)
class Said:
    """Who said something on a ticket, and when: a comment without its words."""

    author: int | None
    from_email: str
    is_public: bool
    created_at: datetime | None


@dataclass(frozen=True)
class Attention:
    waiting_since: datetime | None  # None: it does not wait on the team
    first_reply_at: datetime | None  # the first public agent comment, if any


def said(comment) -> Said:
    """A comment as the API gives it (a dict) or as the store's client parses it."""
    get = comment.get if isinstance(comment, dict) else lambda name: getattr(comment, name, None)
    return Said(
        author=get("author"),
        from_email=get("from_email") or "",
        is_public=bool(get("is_public")),
        created_at=get("created_at"),
    )


def is_customers(comment: Said, requester, from_email="", requester_email="") -> bool:
    if comment.author is not None:
        return requester is not None and comment.author == requester
    known = {address.strip().lower() for address in (from_email, requester_email) if address}
    return comment.from_email.strip().lower() in known if comment.from_email else False


def attention(
    status, created_at, comments: Iterable[Said], requester, from_email="", requester_email=""
) -> Attention:
    """When a ticket began to wait on the team (None if it does not), and its first reply."""
    last_agent = None  # position of the last public agent comment
    first_reply = None
    public = [comment for comment in comments if comment.is_public]
    if all(comment.created_at is not None for comment in public):
        public.sort(key=lambda comment: comment.created_at)  # stable: ties keep their order
    customer = [is_customers(c, requester, from_email, requester_email) for c in public]
    for position, comment in enumerate(public):
        if comment.author is not None and not customer[position]:
            last_agent = position
            if first_reply is None:
                first_reply = comment.created_at
    if status not in WAITING_STATUSES:
        return Attention(None, first_reply)
    if last_agent is None:
        return Attention(created_at, first_reply)
    after = [public[at] for at in range(last_agent + 1, len(public)) if customer[at]]
    return Attention(after[0].created_at if after else None, first_reply)


def target(priority) -> timedelta | None:
    hours = settings.SLA_FIRST_REPLY_HOURS.get(priority or "")
    return None if hours is None else timedelta(hours=hours)


def is_overdue(waiting_since, priority, now) -> bool:
    limit = target(priority)
    return waiting_since is not None and limit is not None and now - waiting_since > limit


def overdue_before(priority, now) -> datetime | None:
    """Tickets of `priority` waiting since before this are overdue."""
    limit = target(priority)
    return None if limit is None else now - limit


def waited_text(seconds) -> str:
    """ "45 min", "3 h", "2 d": how long, in the rows' own words."""
    seconds = max(seconds, 0)
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


# --- Read from the index -------------------------------------------------------------------


def marks_of(ids, ahead=None):
    """`{id: (waiting_since, priority)}` of these tickets as the index holds them (waiting or
    not): one query. None when the index does not answer (rows then show no wait, on none of
    them). `ahead`: marks read already (`known.page_ahead`, while the store answered), whose
    tickets are not asked again: with all of them there, no query.

    List pages read this after the store has answered, while the person waits, so the query
    is written out once per number of ids rather than built by the ORM on each page: 0.05 ms
    instead of 0.34 ms in a warm loop, and about 1 ms less on a first view."""
    if not ids or not freshness.current().answers:
        return None
    read = {}
    if ahead:
        read = {ticket_id: ahead[ticket_id] for ticket_id in ids if ticket_id in ahead}
        ids = [ticket_id for ticket_id in ids if ticket_id not in ahead]
        if not ids:
            return read
    try:
        with reading(), connection.cursor() as cursor:
            cursor.execute(
                _marks_sql(connection.vendor, len(ids)), [int(ticket_id) for ticket_id in ids]
            )
            found = cursor.fetchall()
    except DatabaseError:
        return None
    return read | {ticket_id: (_aware(since), priority) for ticket_id, since, priority in found}


@functools.lru_cache(maxsize=64)
def _marks_sql(vendor, count):
    table, quote = IndexedTicket._meta.db_table, connection.ops.quote_name
    columns = ", ".join(quote(name) for name in ("id", "waiting_since", "priority"))
    places = ", ".join(["%s"] * count)
    return f"SELECT {columns} FROM {quote(table)} WHERE {quote('id')} IN ({places})"


def _aware(value):
    """A time read without the ORM: SQLite gives the naive UTC the ORM would have made aware
    (USE_TZ), PostgreSQL an aware one already."""
    if value is None or timezone.is_aware(value):
        return value
    return value.replace(tzinfo=UTC)


@contextmanager
def reading():
    """A read that may fail without spoiling a transaction it runs in (it gets a savepoint):
    the page goes on without what it could not read."""
    if connection.in_atomic_block:
        with transaction.atomic():
            yield
    else:
        yield


def overdue_filter(now) -> Q:
    """Indexed tickets past their priority's target: waiting since before it."""
    found = Q(pk__in=[])
    for priority in settings.SLA_FIRST_REPLY_HOURS:
        found |= Q(priority=priority, waiting_since__lt=overdue_before(priority, now))
    return found


def waiting(tickets=None):
    """The indexed tickets that wait on the team, longest waiting first (then by id)."""
    found = IndexedTicket.objects.all() if tickets is None else tickets
    return found.filter(waiting_since__isnull=False).order_by("waiting_since", "id")


@dataclass(frozen=True)
class Tally:
    waiting: int
    overdue: int


def tally(tickets, now) -> Tally:
    """How many of `tickets` wait on the team, and how many of those are overdue: one query."""
    with reading():
        found = tickets.filter(waiting_since__isnull=False).aggregate(
            waiting=Count("pk"), overdue=Count("pk", filter=overdue_filter(now))
        )
    return Tally(found["waiting"], found["overdue"])


def page_after(tickets, cursor, size):
    """Up to `size` waiting tickets after `cursor` ((waiting_since, id) of the last one shown,
    or None), and the cursor after them (None at the end)."""
    found = waiting(tickets)
    if cursor is not None:
        since, last_id = cursor
        found = found.filter(Q(waiting_since__gt=since) | Q(waiting_since=since, id__gt=last_id))
    with reading():
        rows = list(found.annotate(comment_count=Count("comments"))[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, ((rows[-1].waiting_since, rows[-1].id) if more else None)


CURSOR_SALT = "dashboard.waiting.cursor"


def dump_cursor(cursor) -> str:
    """An opaque, signed token of a keyset place: nobody can make one up or change it."""
    since, last_id = cursor
    return signing.dumps([since.isoformat(), last_id], salt=CURSOR_SALT, compress=True)


def load_cursor(token: str):
    """The place a token names; ValueError when it is not one we made."""
    try:
        since, last_id = signing.loads(token, salt=CURSOR_SALT)
        moment = datetime.fromisoformat(since)
    except (signing.BadSignature, TypeError, ValueError) as exc:
        raise ValueError("not a cursor of this list") from exc
    if moment.tzinfo is None or not isinstance(last_id, int):
        raise ValueError("not a cursor of this list")
    return moment, last_id


@dataclass(frozen=True)
class Thread:
    """What a thread shows of its wait: since when, for how long, whether overdue, and its
    first reply."""

    waiting_since: datetime | None
    waited: str
    overdue: bool
    first_reply_at: datetime | None


def of_thread(ticket, requester_email="", now=None) -> Thread:
    """The same definitions, on a whole ticket as the store's client reads it."""
    now = now or timezone.now()
    found = attention(
        ticket.status,
        ticket.created_at,
        [said(comment) for comment in ticket.comments],
        ticket.requester,
        ticket.from_email or "",
        requester_email,
    )
    since = found.waiting_since
    return Thread(
        waiting_since=since,
        waited=waited_text((now - since).total_seconds()) if since else "",
        overdue=is_overdue(since, ticket.priority, now),
        first_reply_at=found.first_reply_at,
    )


# --- The wall ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wall:
    """What a wall shows of its filter's wait on the team, read from the index at one moment."""

    waiting: int
    overdue: int
    longest_since: datetime | None  # the longest-waiting ticket's start
    solved_today: int  # solved or closed, and last changed today (the index keeps no solve time)
    median_first_reply: timedelta | None  # of the tickets first replied to today
    by_wait: tuple[int, ...]  # waiting tickets per bucket of `ages.AGE_BUCKETS`
    rows: tuple  # the longest waiting, as `store.Ticket`s
    measured_at: datetime
    marks: dict  # {id: (waiting_since, priority)} of `rows`

    def longest(self) -> str:
        if self.longest_since is None:
            return ""
        return waited_text((self.measured_at - self.longest_since).total_seconds())

    def median_reply(self) -> str:
        if self.median_first_reply is None:
            return ""
        return waited_text(self.median_first_reply.total_seconds())


@contextmanager
def one_snapshot():
    """Reads that agree with each other: one transaction, and on PostgreSQL one snapshot of the
    database (REPEATABLE READ) for all of them. Inside a transaction already (tests), that
    transaction's reads are what there is."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def wall(tickets, unsolved_and_solved, now, rows=10) -> Wall:
    """`tickets`: the board's filter in the index; `unsolved_and_solved`: the same filter with
    every status (for solved today and first replies today). Read inside `one_snapshot`."""
    waits = waiting(tickets)
    buckets = {}
    for index, (upper, _, _) in enumerate(AGE_BUCKETS):
        lower = AGE_BUCKETS[index - 1][0] if index else None
        found = Q()
        if upper is not None:
            found &= Q(waiting_since__gt=now - timedelta(seconds=upper))
        if lower is not None:
            found &= Q(waiting_since__lte=now - timedelta(seconds=lower))
        buckets[f"wait_{index}"] = Count("pk", filter=found)
    figures = waits.order_by().aggregate(
        waiting=Count("pk"),
        overdue=Count("pk", filter=overdue_filter(now)),
        longest=Min("waiting_since"),
        **buckets,
    )
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    solved = (
        unsolved_and_solved.filter(status__in=("solved", "closed"), updated_at__gte=today)
        .order_by()
        .count()
    )
    replies = sorted(
        reply - created
        for reply, created in unsolved_and_solved.filter(first_reply_at__gte=today)
        .order_by()
        .values_list("first_reply_at", "created_at")
    )
    found = list(waits.annotate(comment_count=Count("comments"))[:rows])
    return Wall(
        waiting=figures["waiting"],
        overdue=figures["overdue"],
        longest_since=figures["longest"],
        solved_today=solved,
        median_first_reply=_median(replies),
        by_wait=tuple(figures[f"wait_{index}"] for index in range(len(AGE_BUCKETS))),
        rows=tuple(as_ticket(row) for row in found),
        measured_at=now,
        marks={row.id: (row.waiting_since, row.priority) for row in found},
    )


def _median(spans):
    if not spans:
        return None
    middle = len(spans) // 2
    return spans[middle] if len(spans) % 2 else (spans[middle - 1] + spans[middle]) / 2


def as_ticket(row):
    """An indexed row (annotated with `comment_count`) as the list's and wall's rows are
    written from."""
    return store.Ticket(
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
        comment_count=getattr(row, "comment_count", 0),
    )
