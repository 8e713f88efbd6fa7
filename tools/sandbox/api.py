"""The Admin API endpoints the dashboard uses, answering as the real store does.

Plain functions from a request to a `Response`; the HTTP plumbing, faults and rate limiting
live in `server.py`. Errors look like Django REST framework's: `{"detail": "..."}` or field
errors for filters. Each operation needs the OAuth scope the published spec names for it.
"""

import json
import re
from dataclasses import dataclass, field

from .data import SandboxData
from .filters import FilterError, last_value
from .pagination import (
    BY_ID,
    NEWEST_FIRST,
    USERS_NEWEST_FIRST,
    InvalidCursor,
    Ordering,
    page_link,
    paginate,
)
from .people import product_listing

API_PREFIX = "/api/admin/"
API_VERSION = "unstable"
VERSION_HEADER = "X-29next-API-Version"
# The scopes of the operations served here; a sandbox token carries all of them by default.
SCOPES = ("tickets:read", "users:read", "catalogue:read")


@dataclass
class Request:
    method: str
    path: str  # the full path, e.g. "/api/admin/tickets/"
    params: list[tuple[str, str]]
    headers: dict[str, str]  # names lower-cased
    host: str
    query: str = ""  # as received, for the request log
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: object, headers: dict[str, str] | None = None):
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, headers=headers or {})


def detail(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"detail": message}, headers)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def check_credentials(request: Request, token: str) -> Response | None:
    """401 unless the request carries the store's bearer token (DRF's wording)."""
    given = bearer_token(request)
    challenge = {"WWW-Authenticate": 'Bearer realm="api"'}
    if given is None:
        return detail(401, "Authentication credentials were not provided.", challenge)
    if given != token:
        return detail(401, "Invalid token.", challenge)
    return None


def check_version(request: Request) -> Response | None:
    """400 unless the version header names the one version this API speaks."""
    version = request.headers.get(VERSION_HEADER.lower())
    if version is None:
        return detail(400, f'Missing "{VERSION_HEADER}" header. Supported versions: unstable.')
    if version.strip() != API_VERSION:
        return detail(400, f'Invalid version in "{VERSION_HEADER}" header.')
    return None


def answer(
    request: Request, store: SandboxData, page_size: int, scopes: tuple[str, ...] = SCOPES
) -> Response:
    """Route an authenticated, versioned request to its endpoint, if the token's `scopes`
    allow it. As in DRF: the URL is resolved first (404), then permissions (403), then the
    method (405)."""
    route = request.path.removeprefix(API_PREFIX)
    for pattern, endpoint, scope in ROUTES:
        match = pattern.match(route)
        if not match:
            continue
        if scope not in scopes:
            return detail(403, "You do not have permission to perform this action.")
        if request.method not in ("GET", "HEAD"):
            return detail(405, f'Method "{request.method}" not allowed.', {"Allow": "GET, HEAD"})
        return endpoint(request, store, page_size, *match.groups())
    return detail(404, "Not found.")


def list_tickets(request: Request, store: SandboxData, page_size: int) -> Response:
    try:
        tickets = store.filter_tickets(request.params)
    except FilterError as error:
        return json_response(400, error.errors)
    return _page_of(request, tickets, NEWEST_FIRST, page_size)


def retrieve_ticket(request: Request, store: SandboxData, page_size: int, ticket_id: str):
    # The comments endpoint answers with the whole Ticket too, as the spec says.
    return _retrieve("Ticket", store.ticket, ticket_id)


def list_ticket_types(request: Request, store: SandboxData, page_size: int) -> Response:
    return _page_of(request, store.filter_ticket_types(request.params), BY_ID, page_size)


def retrieve_ticket_type(request: Request, store: SandboxData, page_size: int, type_id: str):
    return _retrieve("TicketType", store.ticket_type, type_id)


def list_users(request: Request, store: SandboxData, page_size: int) -> Response:
    try:
        users = store.filter_users(request.params)
    except FilterError as error:
        return json_response(400, error.errors)
    return _page_of(request, users, USERS_NEWEST_FIRST, page_size)


def retrieve_user(request: Request, store: SandboxData, page_size: int, user_id: str):
    return _retrieve("User", store.user, user_id)


def list_products(request: Request, store: SandboxData, page_size: int) -> Response:
    try:
        products = store.filter_products(request.params)
    except FilterError as error:
        return json_response(400, error.errors)
    return _page_of(request, [product_listing(item) for item in products], BY_ID, page_size)


def retrieve_product(request: Request, store: SandboxData, page_size: int, product_id: str):
    return _retrieve("Product", store.product, product_id)


def _retrieve(kind: str, find, lookup: str) -> Response:
    """One object by the id in its URL, or DRF's 404."""
    found = find(_as_id(lookup))
    if found is None:
        return detail(404, f"No {kind} matches the given query.")
    return json_response(200, found)


def _as_id(text: str) -> int | None:
    # Only ASCII digits: int() would also accept "١٢", which no router would match.
    return int(text) if text.isascii() and text.isdigit() else None


def _page_of(request: Request, rows: list[dict], ordering: Ordering, page_size: int):
    try:
        page = paginate(rows, ordering, last_value(request.params, "cursor"), page_size)
    except InvalidCursor:
        return detail(404, "Invalid cursor")
    return json_response(
        200,
        {
            "next": page_link(request.host, request.path, request.params, page.next_cursor),
            "previous": page_link(request.host, request.path, request.params, page.previous_cursor),
            "results": page.results,
        },
    )


# DRF routers match any lookup without "/" or "."; a non-numeric id then finds nothing (404).
ROUTES = [
    (re.compile(r"^tickets/$"), list_tickets, "tickets:read"),
    (re.compile(r"^tickets/([^/.]+)/$"), retrieve_ticket, "tickets:read"),
    (re.compile(r"^tickets/([^/.]+)/comments/$"), retrieve_ticket, "tickets:read"),
    (re.compile(r"^tickettypes/$"), list_ticket_types, "tickets:read"),
    (re.compile(r"^tickettypes/([^/.]+)/$"), retrieve_ticket_type, "tickets:read"),
    (re.compile(r"^users/$"), list_users, "users:read"),
    (re.compile(r"^users/([^/.]+)/$"), retrieve_user, "users:read"),
    (re.compile(r"^products/$"), list_products, "catalogue:read"),
    (re.compile(r"^products/([^/.]+)/$"), retrieve_product, "catalogue:read"),
]
