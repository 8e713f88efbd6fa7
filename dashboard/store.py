"""The store's Admin API: the only code in the dashboard that speaks HTTP to the store.

Every call goes to `settings.NEXT_API_BASE_URL` joined with a documented path; the pagination
cursor travels as a query parameter. No URL that came from the API or from a browser is ever
requested, so no link can carry the access token to another host.
"""

import logging
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from django.utils.dateparse import parse_datetime

logger = logging.getLogger(__name__)

USER_AGENT = "tickets-dashboard/0.1 (support tickets dashboard; python-requests)"
TICKET_TYPES_CACHE_KEY = "store:ticket-types"
TICKET_TYPES_TTL = 600

STATUSES = ("new", "open", "pending", "solved", "closed")
PRIORITIES = ("high", "medium", "low")
CHANNELS = ("customer_account", "dashboard", "email", "api", "follow_up")


# --- Errors --------------------------------------------------------------------------------


class TicketsAPIError(Exception):
    """The store could not answer; `message` is safe to show to a signed-in user."""

    code = "error"
    message = "The store could not answer."
    http_status = 502


class TokenRejected(TicketsAPIError):
    code = "token_rejected"
    message = "The store rejected the API token; check NEXT_API_TOKEN."
    http_status = 502


class TicketNotFound(TicketsAPIError):
    code = "not_found"
    message = "The store has no such ticket."
    http_status = 404


class InvalidCursor(TicketsAPIError):
    code = "invalid_cursor"
    message = "The list changed since this page was loaded; start again from the top."
    http_status = 400


class RateLimited(TicketsAPIError):
    code = "rate_limited"
    message = "The store is rate limiting the dashboard; try again in a few seconds."
    http_status = 503

    def __init__(self, *args, retry_after=None):
        super().__init__(*args)
        self.retry_after = retry_after


class StoreUnavailable(TicketsAPIError):
    code = "unavailable"
    message = "The store is unavailable right now; try again in a moment."
    http_status = 503


class StoreTimeout(StoreUnavailable):
    code = "timeout"
    message = "The store took too long to answer; try again in a moment."
    http_status = 504


class BadResponse(TicketsAPIError):
    code = "bad_response"
    message = "The store sent an answer the dashboard cannot read."
    http_status = 502


# --- What the API returns ------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    id: int | None
    file_name: str
    url: str

    @property
    def is_link(self):
        """Only http(s) URLs become links; anything else (javascript:, data:) stays text."""
        return urlsplit(self.url).scheme.lower() in {"http", "https"} if self.url else False


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: int | None
    from_email: str | None
    created_at: datetime | None
    is_public: bool
    attachments: tuple[Attachment, ...] = ()


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

    @property
    def comment_count(self):
        return len(self.comments)

    @property
    def public_comment_count(self):
        return sum(1 for comment in self.comments if comment.is_public)

    @property
    def internal_comment_count(self):
        return self.comment_count - self.public_comment_count


@dataclass(frozen=True)
class TicketPage:
    tickets: tuple[Ticket, ...]
    next_cursor: str | None
    previous_cursor: str | None


@dataclass(frozen=True)
class TicketType:
    id: int
    name: str


# --- What the dashboard asks ---------------------------------------------------------------


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
    tags: tuple[str, ...] = ()
    ticket_type: int | None = None
    priority: str = ""
    channel: str = ""
    created_from: date | None = None
    created_to: date | None = None
    cursor: str = ""

    def params(self):
        """The query string as (name, value) pairs: arrays repeated, dates ISO, empties left out."""
        pairs = []
        for name in FILTER_NAMES + ("cursor",):
            value = getattr(self, name)
            if value is None or value == "" or value == ():
                continue
            values = value if isinstance(value, tuple) else (value,)
            pairs.extend((name, _param_value(item)) for item in values)
        return pairs

    def with_cursor(self, cursor):
        return replace(self, cursor=cursor or "")

    @property
    def filters(self):
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


def _param_value(value):
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# --- Calls ---------------------------------------------------------------------------------


def list_tickets(query):
    """One page of the Tickets List for `query`."""
    payload = _get("tickets/", query.params(), cursor_given=bool(query.cursor))
    results = _field(payload, "results", list)
    return TicketPage(
        tickets=tuple(_ticket(item) for item in results),
        next_cursor=cursor_from_url(payload.get("next")),
        previous_cursor=cursor_from_url(payload.get("previous")),
    )


def get_ticket(ticket_id):
    """One ticket with its whole comment thread."""
    return _ticket(_get(f"tickets/{int(ticket_id)}/", []))


def ticket_types(fetch=True):
    """All ticket types, `{id: TicketType}`, cached; with `fetch=False` only what is cached."""
    types = cache.get(TICKET_TYPES_CACHE_KEY)
    if types is not None or not fetch:
        return types
    types = {}
    cursor = None
    for _ in range(50):  # ticket types are few; the bound keeps a looping cursor finite
        params = [("cursor", cursor)] if cursor else []
        payload = _get("tickettypes/", params, cursor_given=bool(cursor))
        for item in _field(payload, "results", list):
            ticket_type = TicketType(id=_int(item, "id"), name=str(item.get("name") or ""))
            types[ticket_type.id] = ticket_type
        cursor = cursor_from_url(payload.get("next"))
        if not cursor:
            break
    cache.set(TICKET_TYPES_CACHE_KEY, types, TICKET_TYPES_TTL)
    return types


def cursor_from_url(url):
    """The opaque `cursor` value out of an API `next`/`previous` URL (None at either end)."""
    if not url:
        return None
    if not isinstance(url, str):
        raise BadResponse("pagination link is not a string")
    values = parse_qs(urlsplit(url).query).get("cursor")
    if not values or not values[0]:
        raise BadResponse("pagination link carries no cursor")
    return values[0]


# --- HTTP ----------------------------------------------------------------------------------

_session = None


def _http():
    global _session
    if _session is None:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        session.headers["Accept"] = "application/json"
        _session = session
    return _session


def _get(path, params, cursor_given=False):
    url = settings.NEXT_API_BASE_URL + path
    headers = {
        "Authorization": f"Bearer {settings.NEXT_API_TOKEN}",
        "X-29next-API-Version": settings.NEXT_API_VERSION,
    }
    timeout = (settings.NEXT_API_CONNECT_TIMEOUT, settings.NEXT_API_READ_TIMEOUT)
    try:
        response = _http().get(url, params=params, headers=headers, timeout=timeout)
    except requests.Timeout as exc:
        logger.warning("store timed out: GET %s", path)
        raise StoreTimeout() from exc
    except requests.RequestException as exc:
        logger.warning("store unreachable: GET %s (%s)", path, type(exc).__name__)
        raise StoreUnavailable() from exc
    return _payload(response, path, cursor_given)


def _payload(response, path, cursor_given):
    status = response.status_code
    if status in (401, 403):
        logger.error("store rejected the API token: GET %s -> %s", path, status)
        raise TokenRejected()
    if status == 404:
        logger.info("store answered 404: GET %s", path)
        raise InvalidCursor() if cursor_given else TicketNotFound()
    if status == 429:
        retry_after = response.headers.get("Retry-After")
        logger.warning("store rate limited: GET %s (Retry-After %s)", path, retry_after)
        raise RateLimited(retry_after=retry_after)
    if status >= 500:
        logger.warning("store failed: GET %s -> %s", path, status)
        raise StoreUnavailable()
    if status != 200:
        logger.error("store refused: GET %s -> %s", path, status)
        raise BadResponse(f"unexpected status {status}")
    try:
        payload = response.json()
    except ValueError as exc:
        logger.error("store sent non-JSON: GET %s", path)
        raise BadResponse("not JSON") from exc
    if not isinstance(payload, dict):
        raise BadResponse("not a JSON object")
    return payload


# --- Parsing at the border -----------------------------------------------------------------


def _field(payload, name, kind):
    value = payload.get(name)
    if not isinstance(value, kind):
        raise BadResponse(f"{name!r} missing or not a {kind.__name__}")
    return value


def _int(payload, name):
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadResponse(f"{name!r} missing or not an integer")
    return value


def _optional_int(payload, name):
    value = payload.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _optional_str(payload, name):
    value = payload.get(name)
    return None if value is None else str(value)


def _datetime(payload, name):
    value = payload.get(name)
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _attachment(item):
    if not isinstance(item, dict):
        raise BadResponse("attachment is not an object")
    return Attachment(
        id=_optional_int(item, "id"),
        file_name=str(item.get("file_name") or ""),
        url=str(item.get("file") or ""),
    )


def _comment(item):
    if not isinstance(item, dict):
        raise BadResponse("comment is not an object")
    attachments = item.get("attachments") or []
    if not isinstance(attachments, list):
        raise BadResponse("attachments is not a list")
    return Comment(
        id=_int(item, "id"),
        body=str(item.get("body") or ""),
        author=_optional_int(item, "author"),
        from_email=_optional_str(item, "from_email"),
        created_at=_datetime(item, "created_at"),
        # A thread shows a comment as internal unless the store says it is public.
        is_public=item.get("is_public") is True,
        attachments=tuple(_attachment(a) for a in attachments),
    )


def _ticket(item):
    if not isinstance(item, dict):
        raise BadResponse("ticket is not an object")
    comments = item.get("comments") or []
    products = item.get("products") or []
    tags = item.get("tags") or []
    if not all(isinstance(value, list) for value in (comments, products, tags)):
        raise BadResponse("ticket comments, products or tags is not a list")
    return Ticket(
        id=_int(item, "id"),
        subject=str(item.get("subject") or ""),
        status=_optional_str(item, "status"),
        priority=_optional_str(item, "priority"),
        channel=_optional_str(item, "channel"),
        requester=_optional_int(item, "requester"),
        from_email=_optional_str(item, "from_email"),
        assignee=_optional_int(item, "assignee"),
        order=_optional_str(item, "order"),
        ticket_type=_optional_int(item, "ticket_type"),
        created_at=_datetime(item, "created_at"),
        updated_at=_datetime(item, "updated_at"),
        products=tuple(p for p in products if isinstance(p, int)),
        tags=tuple(str(tag) for tag in tags if tag is not None),
        comments=tuple(sorted((_comment(c) for c in comments), key=_comment_order)),
    )


def _comment_order(comment):
    return (comment.created_at or datetime.max.replace(tzinfo=UTC), comment.id)
