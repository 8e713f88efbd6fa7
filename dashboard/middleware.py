"""Answers that every view shares: the way to sign in (a redirect, for HTMX too), the outage
page (shared state or database out of reach) and the Permissions-Policy; and the nudge that
keeps the ticket index's walk going."""

import gzip
import logging
import secrets
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.middleware.gzip import GZipMiddleware, re_accepts_gzip
from django.shortcuts import render, resolve_url
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect
from isal import igzip

from dashboard.budget import SharedStateError, state
from dashboard.index import sync
from dashboard.tickets.filters import first_reads

logger = logging.getLogger(__name__)

# The dashboard uses none of these browser features; a page that cannot ask for them cannot be
# tricked into asking either.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
)


class CompressPages(GZipMiddleware):
    """Pages and fragments gzipped for browsers that take it, with Django's random bytes in each
    answer's header, which keep BREACH from reading a secret out of its length.

    By Intel's ISA-L (`isal`), at its level 1, not zlib at Django's 6: a list page's 54 kB take
    0.03 ms instead of 0.45 ms (zlib at level 1: 0.14 ms) on this machine's cores, on every
    page's way out, for about a sixth more bytes (9.3 kB instead of 8.0 kB). Streamed downloads
    are left as they are: a compressor holds their first hundred kilobytes or so back, and with
    them the browser's progress and the server's notice that the person cancelled, which stops
    the walk of the store; and an Excel file is compressed already."""

    level = 1  # ISA-L's levels go from 0 to 3

    def process_response(self, request, response):
        if response.streaming or len(response.content) < 200:
            return response
        if response.has_header("Content-Encoding"):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        if not re_accepts_gzip.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
            return response
        compressed = self.compress(response.content)
        if len(compressed) >= len(response.content):
            return response
        response.content = compressed
        response.headers["Content-Length"] = str(len(compressed))
        etag = response.get("ETag")
        if etag and etag.startswith('"'):
            response.headers["ETag"] = "W/" + etag  # as Django's: a weak ETag (RFC 9110 8.8.1)
        response.headers["Content-Encoding"] = "gzip"
        return response

    def compress(self, content: bytes) -> bytes:
        """`content` gzipped at `level`, with as Django's `compress_string` a file name of 0 to
        99 random bytes in its header."""
        data = igzip.compress(content, compresslevel=self.level, mtime=0)
        header = bytearray(data[:10])
        header[3] = gzip.FNAME
        name = b"a" * secrets.randbelow(self.max_random_bytes) + b"\x00"
        return bytes(header) + name + data[10:]


def read_with_session(get_response):
    """A list page's first read of the shared state (its cached answer) made with the person's
    session, in one round trip instead of two (`tickets.filters.first_reads`); every other page
    reads its session as before, and so does a request with no session to read. Before the
    session middleware: the session is read (by `dashboard.sessions`, through the shared
    state) when the person is first asked for. The answer's key answers that one read of it
    (`once`), the view's."""

    def middleware(request):
        if (
            request.method != "GET"
            or request.path_info != "/"
            or settings.SESSION_COOKIE_NAME not in request.COOKIES
        ):
            return get_response(request)
        keys = first_reads(request)
        if not keys:
            return get_response(request)
        with state.read_together(keys, once=True):
            return get_response(request)

    return middleware


def permissions_policy(get_response):
    def middleware(request):
        response = get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response

    return middleware


# Views that answer only a page's fragments (polled or asked for by its script): never a page
# to come back to after signing in.
FRAGMENTS_ONLY = {"arrivals", "names", "ticket_count", "view_counts"}


class SignInRequired(LoginRequiredMiddleware):
    """Every view but those marked `login_not_required` needs a signed-in person. A page
    without one is redirected to the sign-in page, as Django's middleware does; so is an HTMX
    request (Load more, a poll, a thread, a form), by `HX-Redirect`, so that the whole page
    goes to the sign-in page and comes back to where it was, rather than the sign-in form
    being swapped into the page. Polls redirect too: a page whose session ended (signed out in
    another tab, expired) does not keep customers' messages on screen, polled in vain, until
    the next click."""

    def handle_no_permission(self, request, view_func):
        htmx = getattr(request, "htmx", None)
        # A history restore swaps the whole answer into the body: there, the sign-in page.
        if not htmx or htmx.history_restore_request:
            return super().handle_no_permission(request, view_func)
        login_url = resolve_url(self.get_login_url(view_func))
        field = self.get_redirect_field_name(view_func)
        query = urlencode({field: page_of(request)}, safe="/")
        response = HttpResponseClientRedirect(f"{login_url}?{query}")
        patch_vary_headers(response, ["HX-Request"])
        add_never_cache_headers(response)
        return response


def page_of(request):
    """The path (and query) of the page an HTMX request came from: `HX-Current-URL` when it
    names a page of this site, or else the request's own page, or the list."""
    current = request.htmx.current_url or ""
    if url_has_allowed_host_and_scheme(
        current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(current)
        if parts.path.startswith("/") and not parts.path.startswith("//"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    match = request.resolver_match
    if request.method != "GET" or (match and match.url_name in FRAGMENTS_ONLY):
        return resolve_url(settings.LOGIN_REDIRECT_URL)
    # Load more's own URL is the list's, from a place in it: the list from its start.
    query = request.GET.copy()
    query.pop("cursor", None)
    return request.path + (f"?{query.urlencode()}" if query else "")


def index_sync(get_response):
    """Every request may hand the ticket index's walk to this process's background worker
    when it is due (`sync.nudge`: a clock read, at most one look every 30 s). Requests are the
    clock: with no visitor, the proxy's health checks and the store's deliveries still come.
    Nothing here can fail a request: the walk's faults stay in the worker."""

    def middleware(request):
        sync.nudge()
        return get_response(request)

    return middleware


class DatabaseUnavailable:
    """What a page says when the database (sessions, people, views, links) cannot be reached."""

    code = "database"
    message = "The dashboard's database is unavailable; try again in a moment."
    http_status = 503


# Faults of the database itself (refused, dropped, timed out, or a connection it closed), as
# opposed to the queries' own errors (an integrity or programming error stays a 500).
DATABASE_FAULTS = (OperationalError, InterfaceError)


def outage(exception):
    """The error to show for an exception that means the dashboard's own state or database is
    out of reach, or None for any other exception."""
    if isinstance(exception, SharedStateError):
        return exception
    if isinstance(exception, DATABASE_FAULTS):
        first_line = str(exception).strip().splitlines()[:1]
        logger.error("database unavailable: %s: %s", type(exception).__name__, *first_line or [""])
        return DatabaseUnavailable()
    return None


def unavailable(request, error):
    """One clear 503 for an outage, in whatever view it happens, sign-in included. The page
    recovers by itself once the state or database is back, so it offers to try again.

    Rendered without context processors when the database is out: they read the person's
    preferences, which would fail again."""
    htmx = getattr(request, "htmx", None)
    fragment = htmx and not htmx.history_restore_request
    template = "dashboard/_error.html" if fragment else "503.html"
    context = {"error": error, "retry_url": request.get_full_path(), "request": request}
    if isinstance(error, DatabaseUnavailable):
        response = HttpResponse(render_to_string(template, context), status=error.http_status)
    else:
        response = render(request, template, context, status=error.http_status)
    response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response


class Outages:
    """A view that meets an outage answers `unavailable()`; one met before the view (the
    session, the user) reaches the 500 handler, which answers the same (see views/site.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        error = outage(exception)
        return None if error is None else unavailable(request, error)
