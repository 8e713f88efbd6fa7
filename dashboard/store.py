"""The store's Admin API: the only code in the dashboard that speaks HTTP to the store.

Every call goes to `settings.NEXT_API_BASE_URL` joined with a documented path; the pagination
cursor travels as a query parameter. No URL that came from the API or from a browser is ever
requested, so no link can carry the access token to another host.
"""

import hashlib
import logging
import math
import random
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
import urllib3.connection
from django.conf import settings
from django.utils.dateparse import parse_datetime
from django.views.decorators.debug import sensitive_variables

from dashboard import pacing, state

logger = logging.getLogger(__name__)

USER_AGENT = "tickets-dashboard/0.1 (support tickets dashboard; python-requests)"
TICKET_TYPES_TTL = 600
# A Retry-After longer than this goes back to the person as "rate limited" rather than holding
# their page open.
MAX_RETRY_AFTER = 5.0

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

    @property
    def retry_seconds(self):
        return max(1, round(_retry_after_seconds(self.retry_after)))


class StoreUnavailable(TicketsAPIError):
    code = "unavailable"
    message = "The store is unavailable right now; try again in a moment."
    http_status = 503

    def __init__(self, *args, retryable=False):
        super().__init__(*args)
        # Connection failures and 502/503/504 are worth one more try; a 500 is not.
        self.retryable = retryable


class StoreTimeout(StoreUnavailable):
    code = "timeout"
    message = "The store took too long to answer; try again in a moment."
    http_status = 504


class StoreBusy(TicketsAPIError):
    code = "busy"
    message = (
        "Many people are asking the store at once and the dashboard keeps to its request "
        "budget; try again in a few seconds."
    )
    http_status = 503


class SharedStateUnavailable(TicketsAPIError):
    """The store may be fine, but the dashboard's own cache or pacing state failed."""

    code = state.SharedStateError.code
    message = state.SharedStateError.message
    http_status = state.SharedStateError.http_status


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
        try:
            return bool(self.url) and urlsplit(self.url).scheme.lower() in {"http", "https"}
        except ValueError:  # not even a URL (an unclosed "[" host, say)
            return False


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

    # A list page carries each thread's size, not the thread: the bodies are read on the
    # ticket's own page, and leaving them out keeps cached pages small and quick.
    comment_count: int = 0

    @property
    def fingerprint(self):
        """Changes whenever anything about the ticket does: rendered rows are reused by it."""
        return hash(self)

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
    # When the store gave this answer: cached pages are shown with their true age.
    fetched_at: datetime | None = None


@dataclass(frozen=True)
class TicketType:
    id: int
    name: str


@dataclass(frozen=True)
class Person:
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


def list_tickets(query, max_age=None):
    """One page of the Tickets List for `query`, at most `max_age` seconds old if given.

    Its tickets carry `comment_count` but no comments: threads are read with `get_ticket`.
    """
    params = query.params()

    def fetch():
        payload = _get("tickets/", params, cursor_given=bool(query.cursor))
        return TicketPage(
            tickets=tuple(
                _ticket(item, with_comments=False) for item in _field(payload, "results", list)
            ),
            next_cursor=cursor_from_url(payload.get("next")),
            previous_cursor=cursor_from_url(payload.get("previous")),
            fetched_at=datetime.now(UTC),
        )

    page = _shared("tickets/", params, fetch)
    if max_age is not None and page.fetched_at < datetime.now(UTC) - timedelta(seconds=max_age):
        pacing.forget(_cache_key("tickets/", params))
        page = _shared("tickets/", params, fetch)
    return page


def get_ticket(ticket_id):
    """One ticket with its whole comment thread."""
    path = f"tickets/{int(ticket_id)}/"
    return _shared(path, [], lambda: _ticket(_get(path, [])))


def ticket_types(fetch=True):
    """All ticket types, `{id: TicketType}`, cached; with `fetch=False` only what is cached."""
    return _reference("tickettypes/", [], _all_ticket_types, fetch)


def staff(fetch=True):
    """The store's support agents, `{id: Person}`, so threads and walls show names, not numbers.

    Reading users needs the `users:read` scope; a token without it still gets every page, with
    agent ids instead of names.
    """
    return _reference("users/", [("user_type", "dashboard")], _all_staff, fetch)


# Reference data (ticket types, agents) changes rarely and is read by every page: each process
# keeps its copy for a minute instead of asking the shared cache on every view.
LOCAL_TTL = 60.0
_local = {}


def _reference(path, params, fetch_all, fetch):
    key = _cache_key(path, params)
    expires, value = _local.get(key, (0.0, None))
    if value is not None and time.monotonic() < expires:
        return value
    if fetch:
        value = _shared(path, params, fetch_all, ttl=TICKET_TYPES_TTL)
    else:
        try:
            value = pacing.cached(key)
        except state.SharedStateError:
            return None
    if value is not None:
        _local[key] = (time.monotonic() + LOCAL_TTL, value)
    return value


def forget_local():
    """Drop this process's copies of reference data (tests switch stores between cases)."""
    _local.clear()


def _all_staff():
    try:
        # A support team, not a customer base: a few pages at most.
        items = list(_every_result("users/", [("user_type", "dashboard")], max_pages=20))
    except (TokenRejected, TicketNotFound, BadResponse) as exc:
        logger.info("agent names unavailable (%s): showing agent ids", exc.code)
        return {}
    people = {}
    for item in items:
        name = " ".join(
            str(item.get(part) or "").strip() for part in ("first_name", "last_name")
        ).strip()
        people[_int(item, "id")] = Person(
            id=_int(item, "id"), name=name or str(item.get("email") or "")
        )
    return people


def _all_ticket_types():
    types = {}
    for item in _every_result("tickettypes/", [], max_pages=50):
        ticket_type = TicketType(id=_int(item, "id"), name=str(item.get("name") or ""))
        types[ticket_type.id] = ticket_type
    return types


def _every_result(path, params, max_pages):
    """Every result of a short list, following its cursor; the bound keeps a cursor that
    loops from looping for ever."""
    cursor = None
    for _ in range(max_pages):
        page_params = params + ([("cursor", cursor)] if cursor else [])
        payload = _get(path, page_params, cursor_given=bool(cursor))
        for item in _field(payload, "results", list):
            if not isinstance(item, dict):
                raise BadResponse(f"{path} result is not an object")
            yield item
        cursor = cursor_from_url(payload.get("next"))
        if not cursor:
            return


def cursor_from_url(url):
    """The opaque `cursor` value out of an API `next`/`previous` URL (None at either end)."""
    if not url:
        return None
    if not isinstance(url, str):
        raise BadResponse("pagination link is not a string")
    try:
        values = parse_qs(urlsplit(url).query).get("cursor")
    except ValueError as exc:
        raise BadResponse("pagination link is not a URL") from exc
    if not values or not values[0]:
        raise BadResponse("pagination link carries no cursor")
    return values[0]


# --- HTTP ----------------------------------------------------------------------------------

# requests' read timeout bounds each wait for bytes, not the call: a store trickling its answer a
# byte at a time would hold a view for minutes. So each attempt has one deadline, and every read
# from a store connection waits at most until it. The deadline belongs to the thread: an attempt
# runs start to end in the thread that makes it, while pooled connections pass between threads.
_attempt = threading.local()


@contextmanager
def _deadline(seconds):
    _attempt.deadline = time.monotonic() + seconds
    try:
        yield _attempt.deadline
    finally:
        _attempt.deadline = None


class _ReadsUntilDeadline:
    """Socket reads that end at the thread's deadline. http.client reads the status line, the
    headers and the body through `makefile("rb")`, which reads with `recv_into`."""

    # No slots of its own: an existing socket can then take on a class that mixes this in.
    __slots__ = ()

    def _limit_wait(self):
        deadline = getattr(_attempt, "deadline", None)
        if deadline is None:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the store call's deadline has passed")
        # urllib3 sets the timeout it wants before sending a request and before reading the
        # answer; in between this only lowers it, towards a deadline that only comes nearer, so
        # min() with the current timeout is min() with the one urllib3 asked for.
        current = self.gettimeout()
        self.settimeout(remaining if current is None else min(current, remaining))

    def recv(self, *args, **kwargs):
        self._limit_wait()
        return super().recv(*args, **kwargs)

    def recv_into(self, *args, **kwargs):
        self._limit_wait()
        return super().recv_into(*args, **kwargs)


class _DeadlineSocket(_ReadsUntilDeadline, socket.socket):
    __slots__ = ()


class _DeadlineSSLSocket(_ReadsUntilDeadline, ssl.SSLSocket):
    __slots__ = ()


_DEADLINE_SOCKETS = {socket.socket: _DeadlineSocket, ssl.SSLSocket: _DeadlineSSLSocket}


class _DeadlineConnection:
    def connect(self):
        super().connect()
        # The socket urllib3 made, set up and (for https) wrapped in TLS takes on the deadline's
        # reads: building our own would mean copying how urllib3 connects. A socket of another
        # kind (TLS inside a TLS proxy) keeps urllib3's per-read timeout only.
        deadline_kind = _DEADLINE_SOCKETS.get(type(self.sock))
        if deadline_kind is not None:
            self.sock.__class__ = deadline_kind


class _DeadlineHTTPConnection(_DeadlineConnection, urllib3.connection.HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineConnection, urllib3.connection.HTTPSConnection):
    pass


class _DeadlineHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_DEADLINE_POOLS = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}


class _StoreAdapter(requests.adapters.HTTPAdapter):
    """requests' pooled keep-alive transport, over connections that keep the deadline."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _DEADLINE_POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        # An HTTP(S)_PROXY in the environment must not quietly take the deadline away.
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # a SOCKS proxy's connections are its own
            manager.pool_classes_by_scheme = _DEADLINE_POOLS
        return manager


_session = None


def _http():
    global _session
    if _session is None:
        session = requests.Session()
        adapter = _StoreAdapter(pool_connections=4, pool_maxsize=16)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        session.headers["Accept"] = "application/json"
        _session = session
    return _session


def _shared(path, params, fetch, ttl=None):
    """`fetch()`'s answer, shared: cached for a short while, and fetched once however many
    people (in however many worker processes) ask for the same thing at the same time."""
    ttl = settings.STORE_CACHE_TTL if ttl is None else ttl
    try:
        return pacing.single_flight(
            _cache_key(path, params), fetch, ttl=ttl, error_ttl=settings.STORE_ERROR_TTL
        )
    except pacing.WaitTimeout as exc:
        logger.warning("gave up waiting for a shared answer: GET %s", path)
        raise StoreBusy() from exc
    except state.SharedStateError as exc:
        raise SharedStateUnavailable() from exc


def _cache_key(path, params):
    # The store, API version and token are part of the key, so a change of any of them never
    # serves another store's answers. The token is hashed; pacing hashes keys again.
    return f"store:{_token_key()}:{settings.NEXT_API_VERSION}:{path}?{urlencode(params)}"


def _token_key():
    identity = f"{settings.NEXT_API_BASE_URL} {settings.NEXT_API_TOKEN}"
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


_sleep = time.sleep  # tests replace it to see the waits without waiting


def _get(path, params, cursor_given=False):
    """GET with the shared budget: every attempt waits its turn; a 429 is retried after its
    Retry-After (a bounded number of times), a connection failure or 502/503/504 once."""
    rate_limited = transient = 0
    while True:
        try:
            return _get_once(path, params, cursor_given)
        except RateLimited as exc:
            wait = _retry_after_seconds(exc.retry_after)
            if rate_limited >= settings.STORE_429_RETRIES or wait > MAX_RETRY_AFTER:
                raise
            rate_limited += 1
            _sleep(wait)
        except StoreUnavailable as exc:
            if not exc.retryable or transient >= 1:
                raise
            transient += 1
            _sleep(random.uniform(0.2, 0.6))  # jitter: workers do not retry in step
        logger.info("retrying GET %s", path)


@sensitive_variables("headers")  # error reports must never show the Authorization header
def _get_once(path, params, cursor_given):
    try:
        pacing.wait_for_slot(_token_key())
    except pacing.WaitTimeout as exc:
        logger.warning("request budget exhausted for too long: GET %s", path)
        raise StoreBusy() from exc
    url = settings.NEXT_API_BASE_URL + path
    headers = {
        "Authorization": f"Bearer {settings.NEXT_API_TOKEN}",
        "X-29next-API-Version": settings.NEXT_API_VERSION,
    }
    seconds = settings.NEXT_API_READ_TIMEOUT
    # Connecting is part of the call, so it never outlasts the call's deadline.
    timeout = (min(settings.NEXT_API_CONNECT_TIMEOUT, seconds), seconds)
    with _deadline(seconds) as deadline:
        try:
            # No redirects: a second request would skip the budget (and carry the token along).
            # Streamed, so that a failure is known to come before the answer began or part-way.
            response = _http().get(
                url,
                params=params,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            raise _unanswered(exc, path, deadline) from exc
        with response:  # back to the pool when read whole, closed when not
            try:
                response.content  # noqa: B018 - reads the whole body, within the deadline
            except requests.RequestException as exc:
                raise _broken_off(exc, path, deadline) from exc
    return _payload(response, path, cursor_given)


def _unanswered(exc, path, deadline):
    """The error for an attempt that failed before the store began to answer."""
    timed_out = time.monotonic() >= deadline
    if isinstance(exc, requests.ConnectTimeout) and not timed_out:
        logger.warning("store did not accept a connection in time: GET %s", path)
        return StoreTimeout(retryable=True)
    if timed_out or isinstance(exc, requests.Timeout):
        logger.warning("store timed out: GET %s", path)
        return StoreTimeout()
    logger.warning("store unreachable: GET %s (%s)", path, type(exc).__name__)
    return StoreUnavailable(retryable=True)


def _broken_off(exc, path, deadline):
    """The error for an answer that stalled or broke part-way. Never retried: the store is up
    but struggling, and a second try would most likely make the person wait twice as long for
    the same end. (requests reports a stall mid-body as a broken connection, not a timeout.)"""
    if time.monotonic() >= deadline:
        logger.warning("store timed out part-way through its answer: GET %s", path)
        return StoreTimeout()
    logger.warning("store broke off its answer: GET %s (%s)", path, type(exc).__name__)
    return StoreUnavailable()


def _retry_after_seconds(value):
    """Retry-After as seconds: a number, or an HTTP date; 1 s when absent or unreadable."""
    if value is None:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else 1.0
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


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
        raise StoreUnavailable(retryable=status in (502, 503, 504))
    if status != 200:
        logger.error("store refused: GET %s -> %s", path, status)
        raise BadResponse(f"unexpected status {status}")
    try:
        payload = response.json()
    except (ValueError, RecursionError) as exc:
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
    try:
        # In UTC now, so no later conversion can overflow at the ends of the calendar.
        return parsed.astimezone(UTC) if parsed is not None else None
    except OverflowError:
        return None


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


def _ticket(item, with_comments=True):
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
        comments=tuple(sorted((_comment(c) for c in comments), key=_comment_order))
        if with_comments
        else (),
        comment_count=len(comments),
    )


def _comment_order(comment):
    return (comment.created_at or datetime.max.replace(tzinfo=UTC), comment.id)
