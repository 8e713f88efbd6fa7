"""Each thread's keep-alive HTTP session to the store, whose every read ends at its call's
deadline."""

import functools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3.connection

USER_AGENT = "tickets-dashboard/0.1 (support tickets dashboard; python-requests)"

# requests' read timeout bounds each wait for bytes, not the call: a store trickling its answer a
# byte at a time would hold a view for minutes. So each attempt has one deadline, and every read
# from a store connection waits at most until it. The deadline belongs to the thread: an attempt
# runs start to end in the thread that makes it, while pooled connections pass between threads.
_attempt = threading.local()

if TYPE_CHECKING:  # what the mixins below are mixed into
    _Socket = socket.socket
    _Connection = urllib3.connection.HTTPConnection
else:
    _Socket = _Connection = object


@contextmanager
def deadline(seconds: float, sent: Callable[[], object] | None = None) -> Iterator[float]:
    """One attempt's deadline; `sent()`, if given, hears once that the attempt's request has
    gone and its thread starts to wait for the answer (its first read)."""
    _attempt.deadline = time.monotonic() + seconds
    _attempt.sent = sent
    try:
        yield _attempt.deadline
    finally:
        _attempt.deadline = _attempt.sent = None


class _ReadsUntilDeadline(_Socket):
    """Socket reads that end at the thread's deadline. http.client reads the status line, the
    headers and the body through `makefile("rb")`, which reads with `recv_into`."""

    # No slots of its own: an existing socket can then take on a class that mixes this in.
    __slots__ = ()

    def _limit_wait(self) -> None:
        if sent := getattr(_attempt, "sent", None):
            # http.client reads nothing before the whole request is written: it has gone.
            _attempt.sent = None
            sent()
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

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        self._limit_wait()
        return super().recv(*args, **kwargs)

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self._limit_wait()
        return super().recv_into(*args, **kwargs)


class _DeadlineSocket(_ReadsUntilDeadline, socket.socket):
    __slots__ = ()


class _DeadlineSSLSocket(_ReadsUntilDeadline, ssl.SSLSocket):
    __slots__ = ()


_DEADLINE_SOCKETS = {socket.socket: _DeadlineSocket, ssl.SSLSocket: _DeadlineSSLSocket}


class _DeadlineConnection(_Connection):
    def connect(self) -> None:
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

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _DEADLINE_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.PoolManager:
        # An HTTP(S)_PROXY in the environment must not quietly take the deadline away.
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # a SOCKS proxy's connections are its own
            manager.pool_classes_by_scheme = _DEADLINE_POOLS
        return manager


# requests does not promise that a Session may be shared between threads (its cookie jar and
# adapters are not locked), and every view's store thread, the background threads and gunicorn's
# threads all call the store. So each thread has its own, with its own keep-alive connections:
# a thread's calls are one after another, so a small pool is enough.
_local = threading.local()


def session() -> requests.Session:
    """This thread's session to the store (made on its first call)."""
    made: requests.Session | None = getattr(_local, "session", None)
    if made is None:
        made = requests.Session()
        adapter = _StoreAdapter(pool_connections=2, pool_maxsize=2)
        made.mount("https://", adapter)
        made.mount("http://", adapter)
        made.headers["User-Agent"] = USER_AGENT
        made.headers["Accept"] = "application/json"
        _local.session = made
    return made


@dataclass(frozen=True)
class Prepared:
    """A GET made ready to go on this thread's session (`prepare`), sent by `send`."""

    session: requests.Session
    request: requests.PreparedRequest
    environment: dict[str, Any]


def prepare(url: str, params: Sequence[tuple[str, str]], headers: dict[str, str]) -> Prepared:
    """A GET of `url` made as `Session.get` makes it, ready to go: made before the call's slot
    in the budget is taken, so that once it is only the sending is left (a tenth of a
    millisecond or two, each time before the store hears the person's request).

    Less what `Session.get` reads again on every call and the store never needs (a good part
    of a millisecond): the session's cookies (the store sets none), and the environment, read
    here once per session and host (a proxy and CA bundle from `HTTPS_PROXY`, `NO_PROXY`,
    `REQUESTS_CA_BUNDLE`), never a `.netrc`, whose password would take the token's place."""
    made = session()
    known = _local.__dict__.setdefault("environments", {})
    environment = known.get((made, urlsplit(url)[:2]))
    if environment is None:
        environment = made.merge_environment_settings(url, {}, None, None, None)
        known[(made, urlsplit(url)[:2])] = environment
    sent = {**made.headers, **headers}
    if "#" in url:  # an address with a fragment, which the query goes before: as requests
        request = requests.Request("GET", url, params=list(params), headers=sent).prepare()
        return Prepared(made, request, environment)
    request = requests.PreparedRequest()
    request.prepare_method("GET")
    # requests parses, checks and quotes the address on every call, most of its preparing:
    # here once per address, and the parameters added as requests adds them (`urlencode`,
    # whose output its quoting leaves as it is).
    query = urlencode(list(params))
    base = _prepared_url(url)
    request.url = f"{base}{'&' if '?' in base else '?'}{query}" if query else base
    request.prepare_headers(sent)
    request.prepare_cookies(None)  # none, but a jar: an answer's cookies are read into it
    request.prepare_body(None, None)
    request.prepare_auth(None, request.url)
    return Prepared(made, request, environment)


@functools.lru_cache(maxsize=1024)
def _prepared_url(url: str) -> str:
    """`url` as requests prepares it (its host in IDNA, its path quoted); raises as requests
    does for an address it cannot ask."""
    request = requests.PreparedRequest()
    request.prepare_url(url, None)
    assert request.url is not None
    return request.url


def send(prepared: Prepared, timeout: Any) -> requests.Response:
    """`prepared`'s GET, streamed, on the session it was made on, following no redirect."""
    environment = prepared.environment
    return prepared.session.send(
        prepared.request,
        stream=True,
        timeout=timeout,
        allow_redirects=False,
        verify=environment["verify"],
        proxies=environment["proxies"],
        cert=environment["cert"],
    )
