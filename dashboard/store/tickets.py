"""Tickets: what the dashboard asks of the Tickets List (`TicketQuery`), what comes back
(`Ticket`, `Comment`, `Attachment`, `TicketPage`), and ticket types."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from django.utils.encoding import iri_to_uri

from dashboard.store import client, parse

STATUSES = ("new", "open", "pending", "solved", "closed")
WRITE_SCOPE = "tickets:write"
RESOLVED = frozenset({"solved", "closed"})  # waiting for nobody: not aged, not in the backlog
PRIORITIES = ("high", "medium", "low")
# The channels and their labels, as the published API names them.
CHANNELS = {
    "customer_account": "Customer account",
    "dashboard": "Dashboard",
    "email": "Email",
    "api": "API",
    "follow_up": "Follow up",
}


@parse.kept
@dataclass(frozen=True)
class Attachment:
    id: int | None
    file_name: str
    url: str

    @property
    def is_link(self) -> bool:
        """Only http(s) URLs become links; anything else (javascript:, data:) stays text."""
        try:
            return bool(self.url) and urlsplit(self.url).scheme.lower() in {"http", "https"}
        except ValueError:  # not even a URL (an unclosed "[" host, say)
            return False

    @property
    def href(self) -> str:
        """The URL as a link's `href`: characters a URL may not hold (quotes, spaces, `<`)
        percent-encoded, so the attribute is a valid URL whatever the store sent."""
        return iri_to_uri(self.url)


@parse.kept
@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: int | None
    from_email: str | None
    created_at: datetime | None
    is_public: bool
    attachments: tuple[Attachment, ...] = ()


@parse.kept
@dataclass(frozen=True)
class Ticket:
    id: int
    subject: str
    status: str | None
    priority: str | None
    channel: str | None
    requester: int | None
    from_email: str | None
    assignee: int | None
    order: str | None
    ticket_type: int | None
    created_at: datetime | None
    updated_at: datetime | None
    products: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    comments: tuple[Comment, ...] = ()

    # A list page carries each thread's size, not the thread: the bodies are read on the
    # ticket's own page, and leaving them out keeps cached pages small and quick.
    comment_count: int = 0

    @property
    def public_comment_count(self) -> int:
        return sum(1 for comment in self.comments if comment.is_public)

    @property
    def internal_comment_count(self) -> int:
        return self.comment_count - self.public_comment_count


@parse.kept
@dataclass(frozen=True)
class TicketPage:
    tickets: tuple[Ticket, ...]
    next_cursor: str | None
    previous_cursor: str | None
    # When the store gave this answer: cached pages are shown with their true age.
    fetched_at: datetime | None = None


@parse.kept
@dataclass(frozen=True)
class TicketType:
    id: int
    name: str


@dataclass(frozen=True)
class TicketQuery:
    """One Tickets List request: every documented filter, plus the cursor."""

    filter_text: str = ""
    id: int | None = None
    subject: str = ""
    status: tuple[str, ...] = ()
    requester: int | None = None
    assignee: int | None = None
    order_number: str = ""
    product: tuple[int, ...] = ()
    tags: tuple[int, ...] = ()  # tag ids
    ticket_type: int | None = None
    priority: str = ""
    channel: str = ""
    created_from: date | None = None
    created_to: date | None = None
    cursor: str = ""

    def params(self) -> list[tuple[str, str]]:
        """The query string as (name, value) pairs: arrays repeated, dates ISO, empties left out."""
        pairs: list[tuple[str, str]] = []
        for name in FILTER_NAMES + ("cursor",):
            value = getattr(self, name)
            if value is None or value == "" or value == ():
                continue
            values = value if isinstance(value, tuple) else (value,)
            pairs.extend((name, _param_value(item)) for item in values)
        return pairs

    @classmethod
    def from_params(cls, pairs: list[tuple[str, str]] | list[list[str]]) -> "TicketQuery":
        """The query `params()` wrote (values it did not write are left out)."""
        found: dict[str, list[str]] = {}
        for name, value in pairs:
            found.setdefault(name, []).append(value)
        fields: dict[str, object] = {}
        for name, values in found.items():
            try:
                if name in ("status", "product", "tags"):
                    fields[name] = tuple(values if name == "status" else map(int, values))
                elif name in ("id", "requester", "assignee", "ticket_type"):
                    fields[name] = int(values[-1])
                elif name in ("created_from", "created_to"):
                    fields[name] = date.fromisoformat(values[-1])
                elif name in FILTER_NAMES or name == "cursor":
                    fields[name] = values[-1]
            except ValueError:
                continue
        return cls(**fields)  # type: ignore[arg-type]

    def with_cursor(self, cursor: str | None) -> "TicketQuery":
        return replace(self, cursor=cursor or "")

    @property
    def filters(self) -> "TicketQuery":
        """The same query without its cursor: what a bookmark names."""
        return self.with_cursor("")


FILTER_NAMES = (
    "filter_text",
    "id",
    "subject",
    "status",
    "requester",
    "assignee",
    "order_number",
    "product",
    "tags",
    "ticket_type",
    "priority",
    "channel",
    "created_from",
    "created_to",
)


def _param_value(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# Told the query string of every page fetched from the store, before it is cached: the ticket
# index keeps them, so that a webhook delivery drops the pages it changes (dashboard.index).
# A listener that could not keep track of the page answers False: the page is then cached for
# the short `STORE_CACHE_TTL` only, since no delivery would find it.
page_listeners: list[Callable[[list[tuple[str, str]]], object]] = []


def list_tickets(
    query: TicketQuery,
    max_age: float | None = None,
    ready: Callable[[TicketPage], object] | None = None,
) -> TicketPage:
    """One page of the Tickets List for `query`, at most `max_age` seconds old if given.

    Its tickets carry `comment_count` but no comments: threads are read with `get_ticket`.
    `ready(page)` hears a page fetched now before it is cached for others, and before the
    `page_listeners` do: the person waiting for it first.
    """
    params = query.params()
    page = _page(query, ready).value
    oldest = None if max_age is None else datetime.now(UTC) - timedelta(seconds=max_age)
    if oldest is not None and (page.fetched_at is None or page.fetched_at < oldest):
        client.forget("tickets/", params)
        page = _page(query, None).value
    return page


def page_or_known(
    query: TicketQuery,
    ready: Callable[[TicketPage], object] | None = None,
    fallback: Callable[[], "client.Answer[TicketPage] | None"] | None = None,
    looked: bool = False,
) -> "client.Answer[TicketPage]":
    """A person's page of the list: `list_tickets`' page, or, while the store is too busy to
    ask at once, the last page known for `query` (else `fallback()`'s, from the ticket index)
    with its age, the fresh one asked for in the background (see `client.answer`). `looked`:
    `cached_page` found none a moment ago."""
    return _page(query, ready, stale_ok=True, fallback=fallback, looked=looked)


def refresh_page(query: TicketQuery) -> None:
    """Have `query`'s page asked again in the background, for a page that polls for it."""
    params = query.params()
    client.refresh("tickets/", params, _page_fetch(query), _page_noted(params))


def _page(
    query: TicketQuery,
    ready: Callable[[TicketPage], object] | None,
    stale_ok: bool = False,
    fallback: Callable[[], "client.Answer[TicketPage] | None"] | None = None,
    looked: bool = False,
) -> "client.Answer[TicketPage]":
    params = query.params()
    return client.answer(
        "tickets/",
        params,
        _page_fetch(query),
        ready=ready,
        tickets=True,
        noted=_page_noted(params),
        stale_ok=stale_ok,
        fallback=fallback,
        looked=looked,
    )


def _page_fetch(query: TicketQuery) -> Callable[[], TicketPage]:
    params = query.params()

    def fetch() -> TicketPage:
        payload = client.get("tickets/", params, cursor_given=bool(query.cursor))
        return TicketPage(
            tickets=tuple(
                _ticket(item, with_comments=False) for item in parse.field(payload, "results", list)
            ),
            next_cursor=client.cursor_from_url(payload.get("next")),
            previous_cursor=client.cursor_from_url(payload.get("previous")),
            fetched_at=datetime.now(UTC),
        )

    return fetch


def _page_noted(params: list[tuple[str, str]]) -> Callable[[TicketPage], bool]:
    def noted(page: TicketPage) -> bool:
        said = [listener(params) for listener in page_listeners]  # each hears it, whatever
        return False not in said

    return noted


def all_tickets_page(cursor: str = "") -> TicketPage:
    """One page of every ticket (no filter), newest first, each with its whole thread, as
    the store has them now: never from the shared cache, and not kept there. In the caller's
    lane; `InvalidCursor` when the store no longer knows `cursor`."""
    params = TicketQuery(cursor=cursor).params()
    payload = client.get("tickets/", params, cursor_given=bool(cursor))
    return TicketPage(
        tickets=tuple(_ticket(item) for item in parse.field(payload, "results", list)),
        next_cursor=client.cursor_from_url(payload.get("next")),
        previous_cursor=client.cursor_from_url(payload.get("previous")),
        fetched_at=datetime.now(UTC),
    )


def cached_page(query: TicketQuery) -> TicketPage | None:
    """The page for `query` if it is in the shared cache now, else None; asks nothing."""
    return client.cached("tickets/", query.params())


def cached_page_keys(query: TicketQuery) -> list[str]:
    """Where `cached_page(query)` reads in the shared state (see `state.read_together`)."""
    return client.cached_keys("tickets/", query.params())


def page_in_turn(query: TicketQuery) -> TicketPage:
    """The page for `query` for work nobody waits at (a prefetch, a count walk, an export):
    from the shared cache when anyone fetched it, else from the store once the budget has a
    slot in the caller's lane. In the background lane the slot is waited for before the page's
    single-flight lock is taken (see `client.shared`), so a person asking for the same page
    meanwhile ("Load more") is never held up behind this wait. `budget.WaitTimeout` (as
    `StoreBusy`) when no slot came in the lane's wait."""
    page = cached_page(query)
    return list_tickets(query) if page is None else page


def forget_page(params: list[tuple[str, str]]) -> None:
    """Drop the cached page of this query string (as `page_listeners` heard it)."""
    client.forget("tickets/", params)


def forget_ticket(ticket_id: int) -> None:
    """Drop the cached thread of a ticket the store has changed."""
    client.forget(f"tickets/{int(ticket_id)}/", [])


def get_ticket(ticket_id: int) -> Ticket:
    """One ticket with its whole comment thread."""
    return _thread(ticket_id).value


def ticket_or_known(
    ticket_id: int, fallback: Callable[[], "client.Answer[Ticket] | None"] | None = None
) -> "client.Answer[Ticket]":
    """A person's thread: `get_ticket`'s, or, while the store is too busy to ask at once, the
    last one known (else `fallback()`'s, from the ticket index) with its age, the fresh one
    asked for in the background (see `client.answer`)."""
    return _thread(ticket_id, stale_ok=True, fallback=fallback)


def cached_ticket(ticket_id: int) -> Ticket | None:
    """The thread of `ticket_id` if it is in the shared cache now, else None; asks nothing."""
    return client.cached(f"tickets/{int(ticket_id)}/", [])


def refresh_ticket(ticket_id: int) -> None:
    """Have a thread asked again in the background, for a page that polls for it."""
    path = f"tickets/{int(ticket_id)}/"
    client.refresh(path, [], _thread_fetch(path))


def _thread(
    ticket_id: int,
    stale_ok: bool = False,
    fallback: Callable[[], "client.Answer[Ticket] | None"] | None = None,
) -> "client.Answer[Ticket]":
    path = f"tickets/{int(ticket_id)}/"
    return client.answer(
        path, [], _thread_fetch(path), tickets=True, stale_ok=stale_ok, fallback=fallback
    )


def _thread_fetch(path: str) -> Callable[[], Ticket]:
    return lambda: _ticket(client.get(path, []))


def current_ticket(ticket_id: int) -> tuple[Ticket, dict]:
    """The ticket as the store has it now, never a cached answer (one GET): what a write checks
    against. Also as the store sent it, for the index."""
    raw = client.get(f"tickets/{int(ticket_id)}/", [])
    return _ticket(raw), raw


def update_ticket(
    ticket_id: int, changes: Mapping[str, object], background: bool = False
) -> tuple[Ticket, dict]:
    """`PATCH tickets/{id}/` with `changes` (the spec's PatchedCreateUpdateTicket: tags by name,
    a `comment` added in the same call); the store's answer, the whole Ticket, parsed and as
    sent. Needs `WRITE_SCOPE`; a refusal is `WriteRefused` with the store's words per field."""
    raw = client.send("PATCH", f"tickets/{int(ticket_id)}/", changes, WRITE_SCOPE, background)
    return _ticket(raw), raw


def ticket_types(fetch: bool = True) -> dict[int, TicketType] | None:
    """All ticket types, `{id: TicketType}`, cached; with `fetch=False` only what is cached."""
    return client.reference("tickettypes/", [], _all_ticket_types, fetch)


def ticket_types_due() -> bool:
    """Whether the ticket types' shared answer has gone (only the kept one is left)."""
    return client.reference_due("tickettypes/", [])


def _all_ticket_types() -> dict[int, TicketType]:
    types = {}
    for item in client.every_result("tickettypes/", [], max_pages=50):
        ticket_type = TicketType(id=parse.integer(item, "id"), name=str(item.get("name") or ""))
        types[ticket_type.id] = ticket_type
    return types


def _attachment(raw: object) -> Attachment:
    item = parse.record(raw, "attachment")
    return Attachment(
        id=parse.optional_int(item, "id"),
        file_name=parse.text(item, "file_name"),
        url=parse.text(item, "file"),
    )


def _comment(raw: object) -> Comment:
    item = parse.record(raw, "comment")
    return Comment(
        id=parse.integer(item, "id"),
        body=parse.text(item, "body"),
        author=parse.optional_int(item, "author"),
        from_email=parse.optional_str(item, "from_email"),
        created_at=parse.moment(item, "created_at"),
        # A thread shows a comment as internal unless the store says it is public.
        is_public=item.get("is_public") is True,
        attachments=tuple(_attachment(a) for a in parse.items(item, "attachments")),
    )


def _ticket(raw: object, with_comments: bool = True) -> Ticket:
    item = parse.record(raw, "ticket")
    comments = parse.items(item, "comments")
    return Ticket(
        id=parse.integer(item, "id"),
        subject=parse.text(item, "subject"),
        status=parse.optional_str(item, "status"),
        priority=parse.optional_str(item, "priority"),
        channel=parse.optional_str(item, "channel"),
        requester=parse.optional_int(item, "requester"),
        from_email=parse.optional_str(item, "from_email"),
        assignee=parse.optional_int(item, "assignee"),
        order=parse.optional_str(item, "order"),
        ticket_type=parse.optional_int(item, "ticket_type"),
        created_at=parse.moment(item, "created_at"),
        updated_at=parse.moment(item, "updated_at"),
        products=tuple(p for p in parse.items(item, "products") if isinstance(p, int)),
        tags=tuple(str(tag) for tag in parse.items(item, "tags") if tag is not None),
        comments=tuple(sorted(map(_comment, comments), key=_comment_order))
        if with_comments
        else (),
        comment_count=len(comments),
    )


def _comment_order(comment: Comment) -> tuple[datetime, int]:
    return (comment.created_at or datetime.max.replace(tzinfo=UTC), comment.id)
