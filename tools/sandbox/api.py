"""The Admin API endpoints the sandbox serves, answering as the real store does.

Plain functions from a request to a `Response`; the HTTP plumbing, faults and rate limiting
live in `server.py`. Errors look like Django REST framework's: `{"detail": "..."}`, or field
errors for filters and bodies. Each operation needs the OAuth scope the published spec names
for it: a route's read scope for GET, HEAD and OPTIONS, its write scope for the rest.
"""

import json
import re
from dataclasses import dataclass, field

from .data import SandboxData
from .fields import Invalid, Unreadable, parse_body
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
from .webhooks import WebhookRegistry
from .writes import validate_comment, validate_ticket_changes

API_PREFIX = "/api/admin/"
API_VERSION = "unstable"
VERSION_HEADER = "X-29next-API-Version"
# The scopes of the operations served here; a sandbox token carries all of them by default.
SCOPES = (
    "tickets:read",
    "users:read",
    "catalogue:read",
    "tickets:write",
    "webhooks:read",
    "webhooks:write",
)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class Request:
    method: str
    path: str  # the full path, e.g. "/api/admin/tickets/"
    params: list[tuple[str, str]]
    headers: dict[str, str]  # names lower-cased
    host: str
    query: str = ""  # as received, for the request log
    body: bytes = b""
    # When its first bytes reached the server's socket (time.monotonic()'s clock), if known.
    arrived: float | None = None


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str | None = "application/json"  # None: no Content-Type (no body)
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


@dataclass
class Store:
    """What the endpoints read and change: the data set, the webhooks, the page size."""

    data: SandboxData
    webhooks: WebhookRegistry
    page_size: int = 25


@dataclass(frozen=True)
class Route:
    """A URL of the API, the scopes it needs, and an endpoint per HTTP method it takes."""

    pattern: re.Pattern
    read_scope: str
    write_scope: str
    methods: dict

    def allowed(self) -> list[str]:
        """The methods it takes, in DRF's order, for the `Allow` header."""
        taken = {*self.methods, "OPTIONS", *(["HEAD"] if "GET" in self.methods else [])}
        order = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
        return [method for method in order if method in taken]


def answer(request: Request, store: Store, scopes: tuple[str, ...] = SCOPES) -> Response:
    """Route an authenticated, versioned request to its endpoint, if the token's `scopes`
    allow it. As in DRF: the URL is resolved first (404), then permissions (403), then the
    method (405); a body is read only by an endpoint that takes one."""
    path = request.path.removeprefix(API_PREFIX)
    for route in ROUTES:
        match = route.pattern.match(path)
        if not match:
            continue
        needed = route.read_scope if request.method in SAFE_METHODS else route.write_scope
        if needed not in scopes:
            return detail(403, "You do not have permission to perform this action.")
        allowed = route.allowed()
        if request.method not in allowed:
            message = f'Method "{request.method}" not allowed.'
            return detail(405, message, {"Allow": ", ".join(allowed)})
        if request.method == "OPTIONS":
            return json_response(200, _metadata(route), {"Allow": ", ".join(allowed)})
        endpoint = route.methods["GET" if request.method == "HEAD" else request.method]
        try:
            return endpoint(request, store, *match.groups())
        except Unreadable as error:
            return detail(error.status, error.message)
        except (Invalid, FilterError) as error:
            return json_response(400, error.errors)
    return detail(404, "Not found.")


def _metadata(route: Route) -> dict:
    # What DRF's SimpleMetadata answers to OPTIONS, less the form descriptions.
    return {
        "name": route.pattern.pattern.strip("^$").replace("([^/.]+)", "{id}"),
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json"],
    }


def body_of(request: Request) -> object:
    return parse_body(request.body, request.headers.get("content-type", ""))


# -- Tickets --


def list_tickets(request: Request, store: Store) -> Response:
    return _page_of(request, store.data.filter_tickets(request.params), NEWEST_FIRST, store)


def retrieve_ticket(request: Request, store: Store, ticket_id: str):
    # The comments endpoint answers with the whole Ticket too, as the spec says.
    return _retrieve("Ticket", store.data.ticket, ticket_id)


def update_ticket(request: Request, store: Store, ticket_id: str):
    """PATCH (and PUT, whose schema requires nothing writable either): the fields given
    change, a `comment` given is added, and the whole Ticket comes back."""
    if store.data.ticket(_as_id(ticket_id)) is None:
        return detail(404, "No Ticket matches the given query.")
    changes, comment = validate_ticket_changes(body_of(request), store.data)
    return _changed(store.data.update_ticket(_as_id(ticket_id), changes, comment))


def create_comment(request: Request, store: Store, ticket_id: str):
    """A comment added to the ticket; the answer is the whole Ticket, with status 200."""
    if store.data.ticket(_as_id(ticket_id)) is None:
        return detail(404, "No Ticket matches the given query.")
    comment = validate_comment(body_of(request), store.data)
    return _changed(store.data.update_ticket(_as_id(ticket_id), {}, comment))


def _changed(ticket: dict | None) -> Response:
    if ticket is None:  # gone between the look-up and the change
        return detail(404, "No Ticket matches the given query.")
    return json_response(200, ticket)


def list_ticket_types(request: Request, store: Store) -> Response:
    return _page_of(request, store.data.filter_ticket_types(request.params), BY_ID, store)


def retrieve_ticket_type(request: Request, store: Store, type_id: str):
    return _retrieve("TicketType", store.data.ticket_type, type_id)


# -- Users and products --


def list_users(request: Request, store: Store) -> Response:
    return _page_of(request, store.data.filter_users(request.params), USERS_NEWEST_FIRST, store)


def retrieve_user(request: Request, store: Store, user_id: str):
    return _retrieve("User", store.data.user, user_id)


def list_products(request: Request, store: Store) -> Response:
    products = [product_listing(item) for item in store.data.filter_products(request.params)]
    return _page_of(request, products, BY_ID, store)


def retrieve_product(request: Request, store: Store, product_id: str):
    return _retrieve("Product", store.data.product, product_id)


# -- Webhooks --


def list_webhooks(request: Request, store: Store) -> Response:
    return _page_of(request, store.webhooks.listing(request.params), BY_ID, store)


def create_webhook(request: Request, store: Store) -> Response:
    return json_response(201, store.webhooks.create(body_of(request)))


def retrieve_webhook(request: Request, store: Store, hook_id: str):
    return _retrieve("Webhook", store.webhooks.get, hook_id)


def update_webhook(request: Request, store: Store, hook_id: str):
    if store.webhooks.get(_as_id(hook_id)) is None:
        return detail(404, "No Webhook matches the given query.")
    changed = store.webhooks.update(_as_id(hook_id), body_of(request))
    if changed is None:
        return detail(404, "No Webhook matches the given query.")
    return json_response(200, changed)


def delete_webhook(request: Request, store: Store, hook_id: str):
    if not store.webhooks.delete(_as_id(hook_id)):
        return detail(404, "No Webhook matches the given query.")
    return Response(204, b"", content_type=None)


# -- Shared --


def _retrieve(kind: str, find, lookup: str) -> Response:
    """One object by the id in its URL, or DRF's 404."""
    found = find(_as_id(lookup))
    if found is None:
        return detail(404, f"No {kind} matches the given query.")
    return json_response(200, found)


def _as_id(text: str) -> int | None:
    # Only ASCII digits: int() would also accept "١٢", which no router would match.
    return int(text) if text.isascii() and text.isdigit() else None


def _page_of(request: Request, rows: list[dict], ordering: Ordering, store: Store):
    try:
        page = paginate(rows, ordering, last_value(request.params, "cursor"), store.page_size)
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


def _route(pattern: str, scope: str, **methods) -> Route:
    """`scope` is the read scope, e.g. "tickets:read"; writes need its ":write" twin."""
    write = scope.replace(":read", ":write")
    return Route(re.compile(pattern), scope, write, {k.upper(): v for k, v in methods.items()})


# DRF routers match any lookup without "/" or "."; a non-numeric id then finds nothing (404).
# Ticket creation and attachment uploads are not served: a real store takes them, the sandbox
# answers 405 and 404, stricter and never laxer.
ROUTES = [
    _route(r"^tickets/$", "tickets:read", get=list_tickets),
    _route(r"^tickets/([^/.]+)/$", "tickets:read",
           get=retrieve_ticket, put=update_ticket, patch=update_ticket),
    _route(r"^tickets/([^/.]+)/comments/$", "tickets:read",
           get=retrieve_ticket, post=create_comment),
    _route(r"^tickettypes/$", "tickets:read", get=list_ticket_types),
    _route(r"^tickettypes/([^/.]+)/$", "tickets:read", get=retrieve_ticket_type),
    _route(r"^users/$", "users:read", get=list_users),
    _route(r"^users/([^/.]+)/$", "users:read", get=retrieve_user),
    _route(r"^products/$", "catalogue:read", get=list_products),
    _route(r"^products/([^/.]+)/$", "catalogue:read", get=retrieve_product),
    _route(r"^webhooks/$", "webhooks:read", get=list_webhooks, post=create_webhook),
    _route(r"^webhooks/([^/.]+)/$", "webhooks:read",
           get=retrieve_webhook, patch=update_webhook, delete=delete_webhook),
]  # fmt: skip
