"""Asking the store: every GET goes through here, paced inside the token's shared budget, with
one deadline per attempt, bounded retries, and answers shared between everyone who asks.

Every call goes to `settings.NEXT_API_BASE_URL` joined with a documented path; the pagination
cursor travels as a query parameter. No URL that came from the API or from a browser is ever
requested, so no link can carry the access token to another host.
"""

import contextlib
import contextvars
import hashlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from dashboard import budget
from dashboard.budget import state
from dashboard.store import errors, parse, transport

logger = logging.getLogger(__name__)

T = TypeVar("T")
Params = Sequence[tuple[str, str]]  # a query string, as (name, value) pairs

# A Retry-After longer than this goes back to the person as "rate limited" rather than holding
# their page open.
MAX_RETRY_AFTER = 5.0
REFERENCE_TTL = 600
REFERENCE_KEPT = 12 * 3600  # the last answer, for pages that ask the store nothing


def _json(response: requests.Response) -> Any:
    """The answer read as JSON. orjson reads a page of 25 tickets in 40% of the standard
    library's time (60 µs against 145), while the person waits for it. It reads UTF-8, what
    the store's `application/json` is: an answer that names another charset, and what orjson
    refuses (NaN, a lone surrogate), are read by requests as before, and what neither reads
    raises `ValueError` (or `RecursionError`) as before. One difference is left: an integer
    beyond 64 bits comes as a float, which the field readers refuse or leave out (the store's
    ids stop at 2**31 - 1)."""
    encoding = response.encoding
    if encoding is None or encoding.lower() in ("utf-8", "utf8"):
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass
    return response.json()


def _field_errors(response: requests.Response) -> dict[str, list[str]]:
    """The store's words for each refused parameter, as Django REST framework writes them:
    `{"field": ["message", ...]}` (or `{"detail": "..."}`, kept under "__all__")."""
    try:
        body = _json(response)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise errors.BadResponse("a 400 without field errors")
    found = {}
    for name, messages in body.items():
        name = "__all__" if name in ("detail", "non_field_errors") else str(name)
        messages = messages if isinstance(messages, list) else [messages]
        found[name] = [str(message)[:300] for message in messages if message][:5]
    return found


@dataclass(frozen=True)
class Answer(Generic[T]):
    """An answer as a page shows it: fresh (`as_of` None: from the store, or the shared cache
    within its life), or the last one known, as of `as_of`, while the fresh one is asked for
    in the background (see `answer`)."""

    value: T
    as_of: datetime | None = None
    # Where a known answer comes from: the store's last answer ("kept"), or what the ticket
    # index holds ("index": a first page without the store's cursor, a thread without words).
    source: str = "store"


# Something that hears of every change to the store's tickets and drops the cached answers each
# makes wrong (the ticket index, told by the store's webhooks: `dashboard.index.changes`) says
# so here: a function answering a value that moves with every change heard, or None while it
# hears none. While it hears them, answers about tickets are kept `STORE_CACHE_TTL_LIVE`.
change_feed: Callable[[], str | None] | None = None

# The last answer of each page and thread, kept this long to be shown, with its age, when the
# store cannot be asked at once.
KNOWN_TTL = 12 * 3600
# How long a refresh in the background waits for its turn in the budget, and the longest line
# it joins (a longer one refuses it at once); the page that polls for it asks for it again.
REFRESH_WAIT = 10.0
# How long background work holding a budget slot waits for an answer's lock (see `_Asked.run`).
HELD_SLOT_LOCK_WAIT = 0.05


def hear_changes(feed: Callable[[], str | None] | None) -> None:
    """Set the change feed (see `change_feed`); None: nothing hears changes."""
    global change_feed
    change_feed = feed


def heard() -> str | None:
    """The change feed's current value, or None while nothing keeps tickets' answers current."""
    feed = change_feed
    if feed is None:
        return None
    try:
        return feed()
    except state.SharedStateError:
        return None


def tickets_ttl() -> float:
    """How long an answer about tickets (a page, a thread) is cached now."""
    if heard() is not None:
        return settings.STORE_CACHE_TTL_LIVE
    return settings.STORE_CACHE_TTL


def shared(
    path: str,
    params: Params,
    fetch: Callable[[], T],
    ttl: float | None = None,
    ready: Callable[[T], object] | None = None,
) -> T:
    """`fetch()`'s answer, shared: cached for a short while, and fetched once however many
    people (in however many worker processes) ask for the same thing at the same time."""
    return answer(path, params, fetch, ttl=ttl, ready=ready).value


def answer(
    path: str,
    params: Params,
    fetch: Callable[[], T],
    *,
    ttl: float | None = None,
    ready: Callable[[T], object] | None = None,
    tickets: bool = False,
    noted: Callable[[T], bool] | None = None,
    stale_ok: bool = False,
    fallback: Callable[[], "Answer[T] | None"] | None = None,
    looked: bool = False,
) -> "Answer[T]":
    """`fetch()`'s answer, shared (`shared`), and for a person never long waited for.

    `ready(answer)` hears an answer fetched now, first; `noted(answer)` then hears it (a
    refresh's too), before it is cached for the others, and says whether it may be kept for
    long. An answer about `tickets` (a page, a thread) is dropped by the change feed when its
    ticket changes: it is kept `STORE_CACHE_TTL_LIVE` while the feed is heard, else (and
    without `ttl`) `STORE_CACHE_TTL`; and its last answer is kept `KNOWN_TTL`.

    A person whose question has no answer to share waits for the store only while this
    process has room for one more waiting person (`STORE_WAITERS`). A caller whose page can
    say how old an answer is (`stale_ok`) waits only while the line for the budget is short,
    and at most `STORE_ANSWER_STALE_AFTER`; otherwise it is answered at once with what is
    known (the last answer, else `fallback()`'s), marked with its age, or, with nothing known,
    `StillAsking`; either way the fresh answer is asked for in the background, for the page
    to take. Any other caller waits up to `STORE_WAIT_TIMEOUT` if there is room, and is told
    the store is busy (`StoreBusy`) if there is not. `looked`: the caller found no answer
    cached a moment ago (`cached`), so the cache is read again only under the answer's lock."""
    asked = _Asked(path, params, fetch, ttl, ready, tickets, noted)
    try:
        if budget.current_lane() == budget.BACKGROUND:
            return Answer(asked.run())
        if not looked and (found := budget.peek(asked.key)) is not budget.MISSING:
            return Answer(found)
        return _for_a_person(asked, fallback if stale_ok else None, stale_ok)
    except budget.WaitTimeout as exc:
        logger.warning("gave up waiting for a shared answer: GET %s", path)
        raise errors.StoreBusy() from exc
    except state.SharedStateError as exc:
        raise errors.SharedStateUnavailable() from exc


def _for_a_person(
    asked: "_Asked[T]",
    fallback: Callable[[], "Answer[T] | None"] | None,
    stale_ok: bool,
) -> "Answer[T]":
    # What is known is read only when it is to be shown: a person the store answers in
    # time never needs it, and each read is a round trip to the shared state.
    known: Answer[T] | None = None
    read, tried = not stale_ok, fallback is None

    def what_is_known() -> "Answer[T] | None":
        nonlocal known, read, tried
        if not read:
            read, known = True, asked.last_known()
        if known is None and not tried and fallback is not None:
            tried, known = True, fallback()
        return known

    def nothing_yet() -> errors.StoreBusy:
        logger.info("the store is busy and nothing is known yet: GET %s", asked.path)
        # The page fills in (or asking again finds it) once it is in; a question that could
        # not even be queued is the person's to ask again.
        queued = asked.refresh()
        return errors.StillAsking() if stale_ok and queued else errors.StoreBusy()

    with budget.waiting_room() as admitted:
        if not admitted:
            if what_is_known() is not None:
                asked.refresh()
                return known  # type: ignore[return-value]
            raise nothing_yet()
        # A page that can show something meanwhile waits only a little for the store, and not
        # at all behind a longer line: the budget says so when its slot is asked for, in the
        # same round trip to the shared state.
        stale_after = settings.STORE_ANSWER_STALE_AFTER
        limit = stale_after if stale_ok and stale_after > 0 else None
        try:
            with budget.waiting_at_most(limit):
                return Answer(asked.run(wait_timeout=limit, looked=True))
        except (budget.WaitTimeout, errors.StoreBusy):
            if limit is None:
                raise
        if what_is_known() is None:
            raise nothing_yet()
        asked.refresh()
        return known  # type: ignore[return-value]


def _shared_error(exc: Exception) -> bool:
    """Whether an error is shared with everyone who asks meanwhile: not a wait that ran out,
    which was the asker's own (another may be allowed a longer one)."""
    return not isinstance(exc, errors.StoreBusy)


class _Asked(Generic[T]):
    """One question to the store, as `answer` shares it, keeps it and asks it again."""

    def __init__(
        self,
        path: str,
        params: Params,
        fetch: Callable[[], T],
        ttl: float | None,
        ready: Callable[[T], object] | None,
        tickets: bool,
        noted: Callable[[T], bool] | None,
    ) -> None:
        self.path, self.params = path, params
        self.key = cache_key(path, params)
        self.fetch, self.ttl, self.ready = fetch, ttl, ready
        self.tickets, self.noted = tickets, noted

    def _fetch_once(self) -> T:
        try:
            return self.fetch()
        except errors.BadResponse as exc:
            # Logged here, once per fetch, whatever part of the answer could not be read.
            logger.error(
                "store sent an answer the dashboard cannot read: GET %s (%s)", self.path, exc
            )
            raise

    def run(
        self, wait_timeout: float | None = None, person: bool = True, looked: bool = False
    ) -> T:
        """The answer from the cache, else fetched once for everyone asking (single flight).
        Background work waits for its slot before it takes the answer's lock (see below).
        `looked`: the caller found nothing cached a moment ago."""
        heard_before = heard() if self.tickets else None
        computed: list[T] = []
        kept_long: list[bool] = []

        def compute() -> T:
            value = self._fetch_once()
            computed.append(value)
            return value

        def hear(value: T) -> None:
            if person and self.ready is not None:
                self.ready(value)
            if self.noted is not None and self.noted(value) is False:
                kept_long.append(False)

        def lifetime(value: T) -> float:
            if self.ttl is not None:
                return self.ttl
            # Long only while the feed is heard and nothing changed since the question went
            # out: a change heard meanwhile may have come too late for this answer.
            if heard_before is not None and not kept_long and heard() == heard_before:
                kept_long.append(True)
                return settings.STORE_CACHE_TTL_LIVE
            return settings.STORE_CACHE_TTL

        flight = {
            "ttl": lifetime,
            "wait_timeout": wait_timeout,
            "error_ttl": settings.STORE_ERROR_TTL,
            "ready": hear,
            "shared_error": _shared_error,
            "looked": looked,
        }
        nobody_waits = budget.current_lane() == budget.BACKGROUND or not person
        if nobody_waits and not budget.answered(self.key):
            # Work nobody waits at (a wall, a prefetch, a count, the refresh of a page shown as
            # known) waits for its slot before it takes the answer's lock: a person asking the
            # same meanwhile goes first, and is never held up behind its wait for the budget.
            # (A person's own line is read under the lock, with the slot: nobody holds the
            # lock while waiting in a line longer than a person would wait.)
            budget.wait_for_slot(identity())
            try:
                with budget.slot_in_hand():
                    held = {**flight, "wait_timeout": HELD_SLOT_LOCK_WAIT}
                    value = budget.single_flight(self.key, compute, **held)
            except budget.WaitTimeout:
                # Someone else is asking this very question. A slot held while waiting for
                # them would be spent late, perhaps in a second the store already counts
                # full: it is left unused, and their answer waited for without one.
                value = budget.single_flight(self.key, compute, **flight)
        else:
            # A person's slot is taken with the answer's lock when one is free (on Redis, in
            # the same round trip): the request then goes as soon as the lock is held.
            value = budget.single_flight(self.key, compute, **flight, slot_key=identity())
        if computed and self.tickets:
            self._keep(value)
            if kept_long == [True] and heard() != heard_before:
                # A change was heard between the check and the write: it may be this answer's.
                budget.forget(self.key)
        return value

    def _known_key(self) -> str:
        hashed = hashlib.sha256(self.key.encode()).hexdigest()[:32]
        return state.schema_key("known", 1, hashed)

    def _keep(self, value: T) -> None:
        with contextlib.suppress(state.SharedStateError):  # what is known is a nicety
            state.cache_set(self._known_key(), (value, datetime.now(UTC)), KNOWN_TTL)

    def last_known(self) -> "Answer[T] | None":
        """The last answer fetched for this question, with when, if it is still kept."""
        if not self.tickets:
            return None
        try:
            found = state.cache_get(self._known_key())
        except state.SharedStateError:
            return None
        if not isinstance(found, tuple) or len(found) != 2:
            return None
        return Answer(found[0], found[1], "kept")

    def refresh(self) -> bool:
        """Ask again in the background (this process's refresh thread), in the people's lane,
        for the page that polls for the fresh answer; once however many ask. False when it
        could not be queued (the queue is full)."""
        return budget.worker.submit(
            ("refresh", self.key), self._refresh, budget.worker.Priority.REFRESH
        )

    def _refresh(self) -> None:
        try:
            with budget.interactive(), budget.waiting_at_most(REFRESH_WAIT):
                self.run(wait_timeout=REFRESH_WAIT, person=False)
        except (budget.WaitTimeout, errors.TicketsAPIError, state.SharedStateError) as exc:
            logger.info("no fresh answer yet (%s): GET %s", type(exc).__name__, self.path)


def refresh(
    path: str, params: Params, fetch: Callable[[], T], noted: Callable[[T], bool] | None = None
) -> None:
    """Have the answer to a question about tickets asked again in the background (a page that
    polls for its fresh answer, when none is cached)."""
    _Asked(path, params, fetch, None, None, True, noted).refresh()


def cached(path: str, params: Params) -> Any:
    """The shared answer to a GET if there is one, else None."""
    try:
        return budget.cached(cache_key(path, params))
    except state.SharedStateError:
        return None


def cached_keys(path: str, params: Params) -> list[str]:
    """Where `cached(path, params)` reads, for a page to read it with its other reads."""
    return [budget.cached_key(cache_key(path, params))]


def keep(path: str, value: object, ttl: float) -> None:
    """Keep `value` for `path` beyond the shared answer's life (names, for hours)."""
    key = _kept_key(path)
    state.cache_set(key, value, ttl)
    _remember(key, value, time.monotonic())


def kept_many(paths: Mapping[int, str]) -> dict[int, Any]:
    """`{name: value}` of what was kept for each of `paths` (`{name: path}`): what this
    process read in the last LOCAL_TTL seconds, the rest in one read of the shared state; a
    failing cache keeps nothing (what is kept is a nicety)."""
    keys = {_kept_key(path): name for name, path in paths.items()}
    now = time.monotonic()
    found, missing = {}, []
    for key, name in keys.items():
        expires, value = _kept_local.get(key, (0.0, None))
        if now < expires:
            found[name] = value
        else:
            missing.append(key)
    if missing:
        try:
            read = state.cache_get_many(missing)
        except state.SharedStateError:
            return {}
        for key, value in read.items():
            _remember(key, value, now)
            found[keys[key]] = value
    return found


# Names and titles are read by every page that shows them, and change a few times a year: each
# process keeps the ones it read for LOCAL_TTL seconds (what it has not found is asked again).
KEPT_LOCAL_MAX = 20_000
_kept_local: dict[str, tuple[float, Any]] = {}


def _remember(key: str, value: object, now: float) -> None:
    if len(_kept_local) >= KEPT_LOCAL_MAX:
        _kept_local.clear()
    _kept_local[key] = (now + LOCAL_TTL, value)


def _kept_key(path: str) -> str:
    hashed = hashlib.sha256(cache_key(path, []).encode()).hexdigest()[:32]
    return state.schema_key("kept", 1, hashed)  # what is kept is parsed: cache_key has its shape


def forget(path: str, params: Params) -> None:
    """Drop the shared answer to a GET, so the next ask goes to the store."""
    budget.forget(cache_key(path, params))


def cache_key(path: str, params: Params) -> str:
    # The store, API version and token are part of the key, so a change of any of them never
    # serves another store's answers. The token is hashed; the budget hashes keys again.
    # The shape of the answers as this release parses them, too (see `parse.schema`).
    shape, version = parse.schema(), settings.NEXT_API_VERSION
    return f"store:{shape}:{identity()}:{version}:{path}?{urlencode(params)}"


def identity() -> str:
    """A hash naming this store and token: the key of everything kept per store (cached
    answers, the request budget, wall boards), with no way back to the token."""
    text = f"{settings.NEXT_API_BASE_URL} {settings.NEXT_API_TOKEN}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


sleep = time.sleep  # tests replace it to see the waits without waiting

_sent: contextvars.ContextVar[Callable[[], object] | None] = contextvars.ContextVar(
    "store_sent", default=None
)


@contextlib.contextmanager
def when_sent(sent: Callable[[], object]) -> Iterator[None]:
    """Inside the block, `sent()` hears each time a request to the store has gone and its
    thread begins to wait for the answer: a view that asked the store in another thread can
    leave the CPU to that thread until then, and do its own work while the store answers."""
    token = _sent.set(sent)
    try:
        yield
    finally:
        _sent.reset(token)


def _went(sent: Callable[[], object] | None) -> Callable[[], object]:
    """What hears that a request has gone: the budget (a call that went late counts from
    then), then `sent`."""
    if sent is None:
        return budget.slot_used

    def went() -> None:
        budget.slot_used()
        sent()

    return went


def get(path: str, params: Params, cursor_given: bool = False) -> dict[str, Any]:
    """GET with the shared budget: every attempt waits its turn; a 429 is retried after its
    Retry-After (a bounded number of times), a connection failure or 502/503/504 once."""
    rate_limited = transient = 0
    while True:
        try:
            return _get_once(path, params, cursor_given)
        except errors.RateLimited as exc:
            wait = errors.retry_after_seconds(exc.retry_after)
            if rate_limited >= settings.STORE_429_RETRIES or wait > MAX_RETRY_AFTER:
                raise
            rate_limited += 1
            sleep(wait)
        except errors.StoreUnavailable as exc:
            if not exc.retryable or transient >= 1:
                raise
            transient += 1
            sleep(random.uniform(0.2, 0.6))  # jitter: workers do not retry in step
        logger.info("retrying GET %s", path)


# Error reports must never show the Authorization header, nor the request that carries it.
@sensitive_variables("headers", "request")
def _get_once(path: str, params: Params, cursor_given: bool) -> dict[str, Any]:
    headers = {
        "Authorization": f"Bearer {settings.NEXT_API_TOKEN}",
        "X-29next-API-Version": settings.NEXT_API_VERSION,
    }
    try:
        request = transport.prepare(settings.NEXT_API_BASE_URL + path, params, headers)
    except requests.RequestException as exc:  # an address that cannot be asked at all
        raise _unanswered(exc, path, math.inf) from exc
    try:
        budget.wait_for_slot(identity())
    except budget.WaitTimeout as exc:
        if budget.current_lane() != budget.INTERACTIVE:
            logger.info("no background slot in time (people come first): GET %s", path)
        elif budget.interactive_wait() < budget.config().wait_timeout:
            logger.info("no slot within a short wait (what is known is shown): GET %s", path)
        else:
            logger.warning("request budget exhausted for too long: GET %s", path)
        raise errors.StoreBusy() from exc
    seconds = settings.NEXT_API_READ_TIMEOUT
    # Connecting is part of the call, so it never outlasts the call's deadline.
    timeout = (min(settings.NEXT_API_CONNECT_TIMEOUT, seconds), seconds)
    with transport.deadline(seconds, sent=_went(_sent.get())) as deadline:
        try:
            # No redirects: a second request would skip the budget (and carry the token along).
            # Streamed, so that a failure is known to come before the answer began or part-way.
            response = transport.send(request, timeout)
        except requests.RequestException as exc:
            raise _unanswered(exc, path, deadline) from exc
        with response:  # back to the pool when read whole, closed when not
            try:
                response.content  # noqa: B018 - reads the whole body, within the deadline
            except requests.RequestException as exc:
                raise _broken_off(exc, path, deadline) from exc
    return _payload(response, path, cursor_given)


@sensitive_variables("headers", "body")  # nor a write's body (a webhook's secret, say)
def send(
    method: str, path: str, body: Mapping[str, Any], scope: str, background: bool = False
) -> dict[str, Any]:
    """A write (`POST`, `PATCH`) of `body` as JSON to `path`, the store's answer as a dict ({}
    when it has none). `scope` is what the token needs for it, named by a 403.

    A write is a person's (or an operator's): it waits for its slot in the people's lane,
    whatever lane the caller is in, unless it is one of many nobody waits at one by one (a
    bulk change, `background=True`): that takes the caller's lane. A 429 is retried after its
    Retry-After, since the store did not process it; any other failure is not, since a write
    the store may have applied must not be applied twice. Its body is never logged."""
    rate_limited = 0
    while True:
        try:
            with contextlib.nullcontext() if background else budget.interactive():
                return _send_once(method, path, body, scope)
        except errors.RateLimited as exc:
            wait = errors.retry_after_seconds(exc.retry_after)
            if rate_limited >= settings.STORE_429_RETRIES or wait > MAX_RETRY_AFTER:
                raise
            rate_limited += 1
            sleep(wait)
        logger.info("retrying %s %s after a 429", method, path)


@sensitive_variables("headers", "body")
def _send_once(method: str, path: str, body: Mapping[str, Any], scope: str) -> dict[str, Any]:
    try:
        budget.wait_for_slot(identity())
    except budget.WaitTimeout as exc:
        logger.warning("request budget exhausted for too long: %s %s", method, path)
        raise errors.StoreBusy() from exc
    headers = {
        "Authorization": f"Bearer {settings.NEXT_API_TOKEN}",
        "X-29next-API-Version": settings.NEXT_API_VERSION,
    }
    seconds = settings.NEXT_API_READ_TIMEOUT
    timeout = (min(settings.NEXT_API_CONNECT_TIMEOUT, seconds), seconds)
    what = f"{method} {path}"
    with transport.deadline(seconds, sent=_went(None)) as deadline:
        try:
            response = transport.session().request(
                method,
                settings.NEXT_API_BASE_URL + path,
                json=dict(body),
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            raise _unanswered(exc, path, deadline, method) from exc
        with response:
            try:
                response.content  # noqa: B018 - reads the whole body, within the deadline
            except requests.RequestException as exc:
                raise _broken_off(exc, path, deadline, method) from exc
    return _written(response, what, scope)


def _written(response: requests.Response, what: str, scope: str) -> dict[str, Any]:
    """The answer to a write, or its error; the answer's body is never logged (it may echo
    what was written)."""
    status = response.status_code
    if status == 401:
        logger.error("store rejected the API token: %s -> %s", what, status)
        raise errors.TokenRejected()
    if status == 403:
        logger.warning("the token lacks %s: %s -> 403", scope, what)
        _remember_missing(scope)  # the form that asks for it hides meanwhile
        raise errors.ScopeMissing(scope=scope)
    if status == 429:
        retry_after = response.headers.get("Retry-After")
        logger.warning("store rate limited: %s (Retry-After %s)", what, retry_after)
        raise errors.RateLimited(retry_after=retry_after)
    if status >= 500:
        logger.warning("store failed: %s -> %s", what, status)
        raise errors.StoreUnavailable()
    if 400 <= status < 500:
        logger.info("store refused: %s -> %s", what, status)
        try:
            field_errors = _field_errors(response)
        except errors.BadResponse:
            field_errors = {}
        raise errors.WriteRefused(field_errors=field_errors, status=status)
    if status not in (200, 201, 202, 204):
        raise errors.BadResponse(f"unexpected status {status}")
    if status == 204 or not response.content.strip():
        return {}
    try:
        payload = _json(response)
    except (ValueError, RecursionError) as exc:
        raise errors.BadResponse("not JSON") from exc
    if not isinstance(payload, dict):
        raise errors.BadResponse("not a JSON object")
    return payload


def _unanswered(
    exc: requests.RequestException, path: str, deadline: float, method: str = "GET"
) -> Exception:
    """The error for an attempt that failed before the store began to answer."""
    timed_out = time.monotonic() >= deadline
    if isinstance(exc, requests.ConnectTimeout) and not timed_out:
        logger.warning("store did not accept a connection in time: %s %s", method, path)
        return errors.StoreTimeout(retryable=True)
    if timed_out or isinstance(exc, requests.Timeout):
        logger.warning("store timed out: %s %s", method, path)
        return errors.StoreTimeout()
    logger.warning("store unreachable: %s %s (%s)", method, path, type(exc).__name__)
    return errors.StoreUnavailable(retryable=True)


def _broken_off(
    exc: requests.RequestException, path: str, deadline: float, method: str = "GET"
) -> Exception:
    """The error for an answer that stalled or broke part-way. Never retried: the store is up
    but struggling, and a second try would most likely make the person wait twice as long for
    the same end. (requests reports a stall mid-body as a broken connection, not a timeout.)"""
    if time.monotonic() >= deadline:
        logger.warning("store timed out part-way through its answer: %s %s", method, path)
        return errors.StoreTimeout()
    logger.warning("store broke off its answer: %s %s (%s)", method, path, type(exc).__name__)
    return errors.StoreUnavailable()


# The scope each path needs; a 403 names it so the page can say which one is missing.
SCOPES = (("users/", "users:read"), ("products/", "catalogue:read"), ("", "tickets:read"))


NICETY_SCOPES = ("users:read", "catalogue:read")
SCOPE_MEMORY = 600  # seconds a refused scope is remembered: no look-up tries it meanwhile


def scope_of(path: str) -> str:
    return next(scope for prefix, scope in SCOPES if path.startswith(prefix))


def missing_scopes() -> list[str]:
    """The nicety scopes the store refused this token in the last ten minutes, by any process."""
    keys = {_scope_key(scope): scope for scope in NICETY_SCOPES}
    try:
        found = state.cache_get_many(list(keys))
    except state.SharedStateError:
        return []
    return sorted(keys[key] for key in found)


def scope_refused(scope: str) -> bool:
    """Whether the store refused this token `scope` in the last ten minutes (a write's scope,
    say), by any process."""
    try:
        return bool(state.cache_get(_scope_key(scope)))
    except state.SharedStateError:
        return False


def _remember_missing(scope: str) -> None:
    with contextlib.suppress(state.SharedStateError):  # asked again next time: a nicety
        state.cache_set(_scope_key(scope), True, SCOPE_MEMORY)


def scope_keys(*also: str) -> list[str]:
    """Where the refusals of the nicety scopes, and of the scopes `also`, are remembered in the
    shared state: for a page to read them with its other reads (`state.read_together`)."""
    return [_scope_key(scope) for scope in (*NICETY_SCOPES, *also)]


def _scope_key(scope: str) -> str:
    return state.schema_key("scope-missing", 1, identity(), scope)


def _payload(response: requests.Response, path: str, cursor_given: bool) -> dict[str, Any]:
    status = response.status_code
    if status == 401:
        logger.error("store rejected the API token: GET %s -> %s", path, status)
        raise errors.TokenRejected()
    if status == 403:
        scope = scope_of(path)
        # Names and titles are a nicety a token may go without: that is not worth a warning.
        level = logging.WARNING if scope == "tickets:read" else logging.INFO
        logger.log(level, "the token lacks %s: GET %s -> 403", scope, path)
        if scope in NICETY_SCOPES:
            _remember_missing(scope)
        raise errors.ScopeMissing(scope=scope)
    if status == 400:
        raise errors.FilterRefused(field_errors=_field_errors(response))
    if status == 404:
        logger.info("store answered 404: GET %s", path)
        raise errors.InvalidCursor() if cursor_given else errors.TicketNotFound()
    if status == 429:
        retry_after = response.headers.get("Retry-After")
        logger.warning("store rate limited: GET %s (Retry-After %s)", path, retry_after)
        raise errors.RateLimited(retry_after=retry_after)
    if status >= 500:
        logger.warning("store failed: GET %s -> %s", path, status)
        raise errors.StoreUnavailable(retryable=status in (502, 503, 504))
    if status != 200:
        raise errors.BadResponse(f"unexpected status {status}")
    try:
        payload = _json(response)
    except (ValueError, RecursionError) as exc:
        raise errors.BadResponse("not JSON") from exc
    if not isinstance(payload, dict):
        raise errors.BadResponse("not a JSON object")
    return payload


def every_result(path: str, params: Params, max_pages: int) -> Iterator[dict[str, Any]]:
    """Every result of a short list, following its cursor; the bound keeps a cursor that
    loops from looping for ever."""
    cursor = None
    for _ in range(max_pages):
        page_params = [*params, *([("cursor", cursor)] if cursor else [])]
        payload = get(path, page_params, cursor_given=bool(cursor))
        for item in parse.field(payload, "results", list):
            if not isinstance(item, dict):
                raise errors.BadResponse(f"{path} result is not an object")
            yield item
        cursor = cursor_from_url(payload.get("next"))
        if not cursor:
            return


def cursor_from_url(url: object) -> str | None:
    """The opaque `cursor` value out of an API `next`/`previous` URL (None at either end)."""
    if not url:
        return None
    if not isinstance(url, str):
        raise errors.BadResponse("pagination link is not a string")
    try:
        values = parse_qs(urlsplit(url).query).get("cursor")
    except ValueError as exc:
        raise errors.BadResponse("pagination link is not a URL") from exc
    if not values or not values[0]:
        raise errors.BadResponse("pagination link carries no cursor")
    return values[0]


# Reference data (ticket types, agents) changes rarely and is read by every page: each process
# keeps its copy for a minute instead of asking the shared cache on every view.
LOCAL_TTL = 60.0
_local: dict[str, tuple[float, Any]] = {}


def reference(path: str, params: Params, fetch_all: Callable[[], T], fetch: bool) -> T | None:
    """Reference data (ticket types, agents): `fetch_all()`'s answer, shared for ten minutes,
    kept for hours beyond that, and kept by each process for one minute; with `fetch=False`,
    only what is already known (the kept answer once the shared one has gone), or None.

    A page that asks nothing of the store (a sidebar's counts, a saved view built on "Mine")
    must not lose the agents when the ten minutes are up: it reads the kept answer, and the
    next page that may ask the store refreshes it."""
    key = cache_key(path, params)
    expires, value = _local.get(key, (0.0, None))
    if value is not None and time.monotonic() < expires:
        return value
    try:
        if fetch:
            try:
                value = shared(path, params, fetch_all, ttl=REFERENCE_TTL)
            except errors.StoreBusy:
                # Nobody waits for the store in a busy moment: the kept answer will do.
                value = state.cache_get(_kept_key(path + "?" + urlencode(params)))
                if value is None:
                    raise
                _local[key] = (time.monotonic() + LOCAL_TTL, value)
                return value
            if value:  # an empty answer (a scope missing, say) must not replace a good one
                keep(path + "?" + urlencode(params), value, REFERENCE_KEPT)
        else:
            value = budget.cached(key)
            if value is None:
                value = state.cache_get(_kept_key(path + "?" + urlencode(params)))
    except state.SharedStateError:
        return None
    if value is not None:
        _local[key] = (time.monotonic() + LOCAL_TTL, value)
    return value


def reference_due(path: str, params: Params) -> bool:
    """Whether the shared answer of this reference data has gone (only a kept one is left):
    worth refreshing in the background."""
    try:
        return budget.cached(cache_key(path, params)) is None
    except state.SharedStateError:
        return False


def forget_local() -> None:
    """Drop this process's copies of reference data, names and titles (tests switch stores
    between cases)."""
    _local.clear()
    _kept_local.clear()
