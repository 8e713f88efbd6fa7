"""The sandbox store over real HTTP: threads, faults, a rate limit, webhook deliveries and a
control API (`control.py`).

`SandboxServer` is what tests and benchmarks start; `python -m tools.sandbox` wraps it for
the command line. Every connection gets its own daemon thread, so a request held back by a
fault never blocks another one, and every wait is on an event that `stop()` and `reset()` set.
Webhook deliveries go out from a thread of their own (`deliveries.py`).
"""

import bisect
import contextlib
import io
import math
import re
import socket
import struct
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from urllib.parse import parse_qsl, urlsplit

from . import api, control
from .api import API_PREFIX, SCOPES, Request, Response, Store, detail, json_response
from .churn import Churn
from .control import CONTROL_PREFIX
from .data import SandboxData
from .deliveries import DeliveryPolicy, Dispatcher
from .webhooks import WebhookRegistry

FAULT_MODES = (
    "none",
    "server_error",
    "unavailable",
    "bad_gateway",
    "slow",
    "timeout",
    "malformed",
    "wrong_shape",
    "rate_storm",
    "token_rejected",
    "disconnect",
)
SLOW_SECONDS = 4
TIMEOUT_SECONDS = 30

# Answer meaning "close the connection without a word".
DROP = Response(0, b"")

# What the infrastructure in front of the real store sends when it is in trouble.
DJANGO_500_PAGE = (
    '<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n</head>\n'
    "<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n"
)
NGINX_502_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
UNAVAILABLE_PAGE = (
    "<html><body><h1>503 Service Unavailable</h1>\n"
    "No server is available to handle this request.\n</body></html>\n"
)
TRUNCATED_JSON = b'{"next":null,"previous":null,"results":[{"id":1201,"subject":"Where is my ord'

# An OAuth scope as the store names them: "tickets:read", "catalogue:write".
_SCOPE = re.compile(r"^[a-z_]+:(read|write)$")


@dataclass
class Settings:
    fault: str = "none"
    latency_ms: int = 0
    rate_limit: int = 0
    page_size: int = 25
    scopes: tuple[str, ...] = SCOPES  # what the token may do

    def validated(self) -> "Settings":
        if self.fault not in FAULT_MODES:
            raise ValueError(
                f"Unknown fault {self.fault!r}; choose one of {', '.join(FAULT_MODES)}"
            )
        for name in ("latency_ms", "rate_limit", "page_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a whole number, 0 or more")
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
        if isinstance(self.scopes, str) or not isinstance(self.scopes, Iterable):
            raise ValueError('scopes must be a list, such as ["tickets:read", "users:read"]')
        scopes = tuple(self.scopes)
        malformed = [s for s in scopes if not isinstance(s, str) or not _SCOPE.match(s)]
        if malformed:
            raise ValueError(f"Not a scope: {malformed[0]!r}; scopes look like 'tickets:read'")
        return replace(self, scopes=tuple(dict.fromkeys(scopes)))


class RateLimiter:
    """At most `limit` requests per key in any sliding second, counted as they arrive.

    Requests are admitted in the order their handlers get here, which under load is not quite
    the order they arrived in (their arrival is the kernel's stamp, see `StampedReads`): one
    that arrived earlier may be admitted after one that arrived later. So each is held to every
    one-second window that would hold it, the later arrivals' too, never only its own."""

    # Kept this long after the newest arrival, for an earlier arrival admitted late.
    KEPT = 2.0

    def __init__(self):
        self._lock = threading.Lock()
        self._windows: dict[str, list[float]] = defaultdict(list)

    def admit(self, key: str, limit: int, now: float) -> int | None:
        """None if the request may go ahead, else the whole seconds to wait (at least 1)."""
        with self._lock:
            window = self._windows[key]  # arrival times, in order
            newest = max(now, window[-1]) if window else now
            del window[: bisect.bisect_right(window, newest - self.KEPT)]
            ends = [now, *(t for t in window if now < t < now + 1.0)]
            if max(self._held(window, end) for end in ends) >= limit:
                # Throttled requests are not counted, so waiting really frees a slot.
                own = [t for t in window if now - 1.0 < t <= now]
                return max(1, math.ceil(own[0] + 1.0 - now)) if own else 1
            bisect.insort(window, now)
            return None

    @staticmethod
    def _held(window: list[float], end: float) -> int:
        """The arrivals in the second that ends at `end`."""
        return bisect.bisect_right(window, end) - bisect.bisect_right(window, end - 1.0)

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as it reached the API: what a test checks against the published spec."""

    method: str
    path: str
    query: str  # as received, still percent-encoded
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""  # as received (a write's JSON)

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


class Stats:
    """What reached the API, for benchmarks and tests to check the client's manners."""

    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._counts = Counter()
            self._arrivals: list[float] = []
            self._received: list[ReceivedRequest] = []
            self._paths = Counter()
            self._statuses = Counter()

    def arrived(self, request: Request, now: float) -> None:
        received = ReceivedRequest(
            request.method, request.path, request.query, dict(request.headers), request.body
        )
        with self._lock:
            self._counts["calls"] += 1
            self._arrivals.append(now)
            self._received.append(received)
            self._paths[request.path] += 1

    def received(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._received)

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def answered(self, status: int) -> None:
        with self._lock:
            self._statuses[str(status)] += 1

    def snapshot(self) -> dict:
        with self._lock:
            arrivals = sorted(self._arrivals)
            return {
                "calls": self._counts["calls"],
                "served": self._counts["served"],
                "throttled": self._counts["throttled"],
                "faulted": self._counts["faulted"],
                "peak_per_second": peak_per_second(arrivals),
                "arrivals": arrivals,
                "requests": [request.target for request in self._received],
                "paths": dict(self._paths),
                "statuses": dict(self._statuses),
            }


def peak_per_second(arrivals: list[float]) -> int:
    """The most arrivals within any sliding one-second window (sorted input)."""
    peak, start = 0, 0
    for end, moment in enumerate(arrivals):
        while moment - arrivals[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


class SandboxServer:
    """A stand-in for the store's Admin API, served over HTTP from a background thread.

    `start()`, then point a client at `base_url` with `Authorization: Bearer <token>` and
    `X-29next-API-Version: unstable`. `configure()`/`set_fault()` change how it behaves,
    `stats()` tells what reached it, `reset()` undoes both, `stop()` ends it. `data` is the
    `SandboxData` it serves. `fault` and `arrivals_every` are extras for the command line.
    The token carries `scopes` (every scope of the API served here unless told otherwise); an
    operation whose scope it lacks answers 403. `received()` lists whole requests, bodies too.

    Webhooks: `webhooks` holds them (`webhook_url` and `webhook_secret` register one from the
    start), `deliveries` sends every ticket change to them under `delivery_policy`, and
    `churn_every` > 0 changes a ticket about that often and adds one about half as often.
    """

    fault_modes = FAULT_MODES

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "sandbox-token",
        page_size: int = 25,
        rate_limit: int = 0,
        latency_ms: int = 0,
        seed: int = 29,
        tickets: int = 360,
        anchor: datetime | None = None,
        fault: str = "none",
        arrivals_every: float = 0,
        scopes: Iterable[str] = SCOPES,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        delivery_policy: DeliveryPolicy | None = None,
        churn_every: float = 0,
    ):
        self.host = host
        self.port = port
        self.token = token
        self.arrivals_every = arrivals_every
        self.data = SandboxData(seed=seed, tickets=tickets, anchor=anchor)
        self.webhooks = WebhookRegistry()
        if webhook_url:
            self.webhooks.preset(webhook_url, webhook_secret, name="Ticket changes")
        self.deliveries = Dispatcher(self.webhooks, delivery_policy)
        self.data.subscribe(self.deliveries.ticket_changed)
        self._churn = Churn(self.data, churn_every, seed) if churn_every > 0 else None
        self._defaults = Settings(fault, latency_ms, rate_limit, page_size, scopes).validated()
        self._settings = replace(self._defaults)
        self._lock = threading.Lock()
        self._limiter = RateLimiter()
        self._stats = Stats()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- Life cycle --

    def start(self) -> "SandboxServer":
        if self._httpd is not None:
            return self
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._spawn(self._httpd.serve_forever, 0.05)
        self.deliveries.start()
        if self.arrivals_every > 0:
            self._spawn(self._keep_arriving)
        if self._churn is not None:
            self._spawn(self._churn.run, self._stopping)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()
        self._wake.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        # Idle keep-alive connections would otherwise outlive the server.
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self._httpd = None
        self.deliveries.stop()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    # -- Controls --

    def configure(self, **changes) -> dict:
        """Change fault, latency_ms, rate_limit, page_size or scopes; returns the settings."""
        unknown = set(changes) - set(asdict(self._defaults))
        if unknown:
            raise ValueError(f"Unknown setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            self._settings = replace(self._settings, **changes).validated()
        return self.settings()

    def set_fault(self, mode: str) -> dict:
        return self.configure(fault=mode)

    def settings(self) -> dict:
        with self._lock:
            settings = asdict(self._settings)
        # As the control API shows them, so both views of the settings compare equal.
        return {**settings, "scopes": list(settings["scopes"])}

    @property
    def page_size(self) -> int:
        return self._settings.page_size

    def stats(self) -> dict:
        return self._stats.snapshot()

    def received(self) -> list[ReceivedRequest]:
        """Every request that reached the API since the last reset, oldest first."""
        return self._stats.received()

    def reset_stats(self) -> None:
        self._stats.clear()

    def reset(self) -> None:
        """No fault, the constructor's other settings (scopes too), clean stats and request
        log, only seeded tickets as seeded, only the webhooks given at start-up, and no
        delivery queued or counted."""
        with self._lock:
            self._settings = replace(self._defaults, fault="none")
        self._limiter.clear()
        self._stats.clear()
        self.data.reset()
        self.webhooks.reset()
        self.deliveries.reset()
        # Requests held by `slow` or `timeout` wake up and answer normally.
        held, self._wake = self._wake, threading.Event()
        held.set()

    # -- Requests --

    def handle(self, request: Request) -> Response:
        if request.path.startswith(API_PREFIX):
            response = self._handle_api(request)
            if response is not DROP:
                self._stats.answered(response.status)
            return response
        if request.path.startswith(CONTROL_PREFIX) or request.path == CONTROL_PREFIX[:-1]:
            return control.handle(self, request)
        if request.path == "/":
            return json_response(200, control.index(self))
        return detail(404, "Not found.")

    def _handle_api(self, request: Request) -> Response:
        now = request.arrived if request.arrived is not None else time.monotonic()
        self._stats.arrived(request, now)
        settings = replace(self._settings)
        if settings.rate_limit:
            key = api.bearer_token(request) or ""
            wait = self._limiter.admit(key, settings.rate_limit, now)
            if wait is not None:
                self._stats.count("throttled")
                return _throttled(wait)
        if settings.fault != "none":
            self._stats.count("faulted")
            response = self._fault(settings.fault)
            if response is not None:
                return response
        if settings.latency_ms and self._pause(settings.latency_ms / 1000):
            return DROP
        self._stats.count("served")
        return (
            api.check_credentials(request, self.token)
            or api.check_version(request)
            or api.answer(
                request, Store(self.data, self.webhooks, settings.page_size), settings.scopes
            )
        )

    def _fault(self, mode: str) -> Response | None:
        """The response a fault forces, or None to carry on (after any delay)."""
        if mode in ("slow", "timeout"):
            seconds = SLOW_SECONDS if mode == "slow" else TIMEOUT_SECONDS
            return DROP if self._pause(seconds) else None
        if mode == "disconnect":
            return DROP
        html = "text/html; charset=utf-8"
        responses = {
            "server_error": lambda: Response(500, DJANGO_500_PAGE.encode(), html),
            "unavailable": lambda: Response(503, UNAVAILABLE_PAGE.encode(), html),
            "bad_gateway": lambda: Response(502, NGINX_502_PAGE.encode(), html),
            "malformed": lambda: Response(200, TRUNCATED_JSON),
            "wrong_shape": lambda: json_response(200, {"data": []}),
            "rate_storm": lambda: _throttled(1),
            "token_rejected": lambda: detail(
                401, "Invalid token.", {"WWW-Authenticate": 'Bearer realm="api"'}
            ),
        }
        return responses[mode]()

    def _pause(self, seconds: float) -> bool:
        """Wait, cut short by reset or stop; True if the server is stopping."""
        self._wake.wait(seconds)
        return self._stopping.is_set()

    # -- Threads --

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="sandbox")
        thread.start()
        self._threads.append(thread)

    def _keep_arriving(self) -> None:
        # New tickets trickle in, so the wall board has something to show in a demo.
        while not self._stopping.wait(self.arrivals_every):
            self.data.add_ticket()


def _throttled(wait: int) -> Response:
    unit = "second" if wait == 1 else "seconds"
    return detail(
        429,
        f"Request was throttled. Expected available in {wait} {unit}.",
        {"Retry-After": str(wait)},
    )


# Linux's SO_TIMESTAMPNS (socket(7)), which Python's socket module does not name: the kernel
# stamps each packet as it arrives, and hands the stamp of what a read returns beside it.
SO_TIMESTAMPNS = 35
# A stamp further back than this is a clock that jumped, not a request that waited.
STAMP_SANE = 60.0


class StampedReads(io.RawIOBase):
    """A connection's reads, noting when the first packet read since `take_stamp()` reached
    the socket, by the kernel's clock. The socket stays the server's to close.

    A store counts its rate limit as requests arrive. This process stands in for a store on
    another machine, but shares its cores with the dashboard and the load a benchmark drives:
    when they starve it, a request's handler runs tens or hundreds of milliseconds after the
    request came in, and a time read then squeezes calls that arrived more than a second apart
    into one second, a 429 that no store on its own machine would give."""

    def __init__(self, connection: socket.socket):
        super().__init__()
        self._connection = connection
        self._stamp: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if not hasattr(socket, "CMSG_SPACE"):  # no ancillary data here (Windows): no stamp
            return self._connection.recv_into(buffer)
        size, ancillary, _, _ = self._connection.recvmsg_into([buffer], socket.CMSG_SPACE(16))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and self._stamp is None:
                seconds, nanoseconds = struct.unpack("qq", data[:16])
                self._stamp = seconds + nanoseconds / 1e9
        return size

    def take_stamp(self, clock=time.time, monotonic=time.monotonic) -> float | None:
        """When the request just read arrived, on `monotonic()`'s clock, if the kernel said
        (its stamp is on `clock()`'s); the next request's first read is stamped afresh."""
        stamp, self._stamp = self._stamp, None
        if stamp is None:
            return None
        waited = clock() - stamp
        return monotonic() - max(0.0, waited) if waited < STAMP_SANE else None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer):
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # Accepted connections inherit the stamping, from their very first packet.
        with contextlib.suppress(OSError):  # not Linux: handlers read the time themselves
            self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        # HTTPServer looks up the host's FQDN here, which can hang for seconds offline.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address) -> None:
        # Clients that hang up (timeouts, stop()) are business as usual, not errors.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SandboxStore/1.0"
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 120
    # An answer goes out as two writes, its headers and then its body. With Nagle's algorithm
    # the body waits for the client to acknowledge the headers, which a client delays by up
    # to 40 ms: every call on a kept-alive connection took 40 ms, where a store takes its
    # network's time (`latency_ms` adds that on purpose).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own reader, for one that notes arrivals
        self._reads = StampedReads(self.connection)
        self.rfile = io.BufferedReader(self._reads)
        self.server.sandbox._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._connections.discard(self.connection)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args) -> None:
        # Benchmarks send thousands of requests; a line each would drown the output.
        pass

    def do_GET(self) -> None:
        request = self._request()
        try:
            response = self.server.sandbox.handle(request)
        except Exception:
            traceback.print_exc()
            response = detail(500, "Sandbox error; see the sandbox's output.")
        if response is DROP:
            self.close_connection = True
            return
        self._send(response)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _request(self) -> Request:
        url = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        host, port = self.server.server_address[:2]
        return Request(
            method=self.command,
            path=url.path,
            params=parse_qsl(url.query, keep_blank_values=True),
            query=url.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            host=self.headers.get("Host") or f"{host}:{port}",
            body=self.rfile.read(length) if length > 0 else b"",
            arrived=self._reads.take_stamp(),
        )

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
