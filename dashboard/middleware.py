"""Answers that every view shares: the outage page (shared state or database out of reach) and
the Permissions-Policy; and the nudge that keeps the ticket index's walk going."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from dashboard.budget import SharedStateError
from dashboard.index import sync

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


def permissions_policy(get_response):
    def middleware(request):
        response = get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response

    return middleware


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
