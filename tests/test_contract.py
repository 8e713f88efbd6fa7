"""The store's published OpenAPI document is the contract, for the sandbox and the dashboard.

Every answer the sandbox gives to an operation the dashboard uses must fit the document (bar
the odd values it marks in `DELIBERATELY_ODD`), and every request the service layer builds must
be one the document allows, so a test that passes here passes against a real store.
"""

import contextlib
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request.exceptions import ParameterValidationError
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import Headers, ImmutableMultiDict

from dashboard import store
from tests.conftest import TEST_TOKEN, every_filter
from tools.sandbox.data import DELIBERATELY_ODD

SPEC_PATH = Path(__file__).parent / "contract" / "next-admin-api-unstable.yaml"
# Requests are checked as a store would receive them: at the document's own server.
STORE_HOST_URL = "https://example.29next.store"
API_ROOT = "/api/admin"  # the path of the document's server URL
VERSION = {"X-29next-API-Version": "unstable"}

# An absolute URI (RFC 3986): a scheme, then no spaces or characters a URI may not carry.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\"<>\\^`{|}]*")


def _read_nullable_as_30(node):
    """Rewrite `nullable: true` into the 3.1 spelling, `type: [..., "null"]` (in place)."""
    if isinstance(node, dict):
        if node.pop("nullable", False):
            types = node.get("type")
            node["type"] = [*([types] if isinstance(types, str) else types), "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        for value in node.values():
            _read_nullable_as_30(value)
    elif isinstance(node, list):
        for value in node:
            _read_nullable_as_30(value)


def _parameters_as_sent(document):
    """Give each parameter whose schema allows `[type, "null"]` the one type (in place).

    A query string carries text, never JSON's null, so this drops nothing a request can send;
    and openapi-core 0.23 cannot read a parameter whose `type` is a list (`usersList`'s
    `language`): its style deserializer raises TypeError on every request to the operation.
    """
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if isinstance(schema.get("type"), list):
                    (schema["type"],) = [kind for kind in schema["type"] if kind != "null"]


def _is_absolute_uri(value):
    return not isinstance(value, str) or bool(_ABSOLUTE_URI.fullmatch(value))


def load_contract():
    document = yaml.safe_load(SPEC_PATH.read_text())
    # The document says OpenAPI 3.1, yet the paginated lists' `next` and `previous` carry
    # `nullable: true`, a 3.0 keyword that 3.1 (plain JSON Schema) ignores: read literally,
    # the `next: null` of every last page would break the contract. We read it as 3.0 meant
    # it, "the value may also be null", spelt the 3.1 way before loading.
    _read_nullable_as_30(document)
    _parameters_as_sent(document)
    config = Config(
        # The store's serializers send the fields the document lists and no others; a sandbox
        # that invented one would let the dashboard come to rely on it.
        additional_properties_default_policy="forbid",
        # jsonschema checks `format: uri` only with an optional RFC 3986 package installed.
        extra_format_validators={"uri": _is_absolute_uri},
    )
    return OpenAPI.from_dict(document, config=config)


CONTRACT = load_contract()
PATHS = CONTRACT.spec.read_value()["paths"]
OPERATIONS = {
    operation["operationId"]: (path, operation)
    for path, item in PATHS.items()
    for operation in item.values()
}
# Each path of the document as a pattern over request paths, with its operations by method.
ROUTES = [
    (re.compile(API_ROOT + re.sub(r"\{[^}]+\}", "[^/]+", path)), item)
    for path, item in PATHS.items()
]


# -- openapi-core's request and response protocols, over what really crossed the wire --


@dataclass
class StoreRequest:
    """A request the sandbox received, as openapi-core reads one."""

    method: str
    path: str
    parameters: RequestParameters
    target: str
    host_url: str = STORE_HOST_URL
    body: bytes | None = None
    content_type: str = ""

    @classmethod
    def of(cls, received):
        return cls(
            method=received.method.lower(),
            path=received.path,
            parameters=RequestParameters(
                query=ImmutableMultiDict(parse_qsl(received.query, keep_blank_values=True)),
                header=Headers(received.headers),
            ),
            target=f"{received.method} {received.target}",
        )


@dataclass
class StoreResponse:
    """An answer from the sandbox, as openapi-core reads one."""

    status_code: int
    content_type: str
    data: bytes
    headers: Headers = field(default_factory=Headers)

    @classmethod
    def of(cls, response):
        return cls(
            status_code=response.status_code,
            content_type=response.headers.get("Content-Type", ""),
            data=response.content,
            headers=Headers(dict(response.headers)),
        )


# -- Requests --


def request_violations(received):
    """How each request in `received` breaks the document, one line each, naming the part."""
    lines = []
    for each in received:
        request = StoreRequest.of(each)
        # openapi-core cannot check OAuth 2 (it warns and lets it pass), so the bearer token
        # the document's security scheme asks for is checked here.
        scheme, _, token = request.parameters.header.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            lines.append(f"{request.target}: no bearer token in the Authorization header")
        # openapi-core fills in a missing parameter's schema default, required or not, so a
        # request without the version header would pass it unseen.
        lines.extend(
            f"{request.target}: {parameter['in']} parameter {parameter['name']!r}: "
            "required, and missing"
            for parameter in _operation_for(request).get("parameters", [])
            if parameter.get("required")
            and parameter["name"] not in request.parameters[parameter["in"]]
            and parameter["in"] in ("query", "header")
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
            errors = list(CONTRACT.request_validator.iter_errors(request))
        lines.extend(f"{request.target}: {_explain(error)}" for error in errors)
    return lines


def _operation_for(request):
    """The document's operation for `request`, or {} when it names none."""
    for pattern, item in ROUTES:
        if pattern.fullmatch(request.path):
            return item.get(request.method, {})
    return {}


def _explain(error):
    if not isinstance(error, ParameterValidationError):
        return str(error)
    cause = error.__cause__
    if isinstance(cause, InvalidSchemaValue):
        reason = "; ".join(schema_error.message for schema_error in cause.schema_errors)
    elif cause is not None and hasattr(cause, "value") and hasattr(cause, "type"):
        reason = f"{cause.value!r} is not of type {cause.type!r}"
    else:
        reason = str(error)
    return f"{error.location} parameter {error.name!r}: {reason}"


def assert_requests_conform(received):
    assert received, "nothing reached the store"
    violations = request_violations(received)
    assert not violations, "requests the published spec does not allow:\n" + "\n".join(violations)


# -- Answers --


def check_answer(sandbox, received, response, odd_met):
    """Fail on any way a 200 answer breaks the document, except at the places the sandbox
    marks as deliberately odd; those are added to `odd_met` as (special ticket, field path)."""
    assert response.status_code == 200, (received.target, response.status_code, response.text)
    request = StoreRequest.of(received)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
        errors = list(CONTRACT.response_validator.iter_errors(request, StoreResponse.of(response)))
    unmarked = []
    for error in errors:
        cause = error.__cause__
        if not isinstance(cause, InvalidSchemaValue):
            unmarked.append(str(error))  # status, content type, not JSON: never excused
            continue
        for schema_error in cause.schema_errors:
            path = tuple(schema_error.path)
            inside = _ticket_at(received, response.json(), path)
            place = _odd_place(sandbox, *inside) if inside else None
            if place:
                odd_met.add(place)
                continue
            where = "/".join(map(str, path)) or "the top"
            ticket = f" (ticket {inside[0]['id']})" if inside else ""
            unmarked.append(f"at {where}{ticket}: {schema_error.message}")
    assert not unmarked, f"{request.target} answers outside the spec:\n" + "\n".join(unmarked)


def _ticket_at(received, body, path):
    """(ticket, path within it) when `path` in the answer to `received` lies in a ticket."""
    if received.path == "/api/admin/tickets/" and path[:1] == ("results",) and len(path) > 1:
        return body["results"][path[1]], path[2:]
    if re.fullmatch(r"/api/admin/tickets/\d+/(comments/)?", received.path):
        return body, path
    return None


def _odd_place(sandbox, ticket, within):
    """(special ticket, field path) if the sandbox marks this place of `ticket` as odd."""
    specials = {ticket_id: name for name, ticket_id in sandbox.data.special_ticket_ids.items()}
    special, place = specials.get(ticket["id"]), ".".join(map(str, within))
    return (special, place) if place in DELIBERATELY_ODD.get(special, {}) else None


def every_odd_place():
    return {(special, place) for special, places in DELIBERATELY_ODD.items() for place in places}


class Caller:
    """Calls the sandbox as a client with the test token, and pairs each answer with the
    request the sandbox received for it."""

    def __init__(self, sandbox, token=TEST_TOKEN):
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.headers.update(VERSION)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, url, params=None):
        before = len(self.sandbox.received())
        response = self.session.get(url, params=params, timeout=10)
        (received,) = self.sandbox.received()[before:]
        return received, response

    def walk(self, path, params, odd_met):
        """Every page of a list by its `next` link, each request and answer checked."""
        url, results, pages = self.sandbox.base_url + path, [], 0
        while url:
            received, response = self.get(url, params)
            assert_requests_conform([received])
            check_answer(self.sandbox, received, response, odd_met)
            page = response.json()
            results.extend(page["results"])
            url, params, pages = page["next"], None, pages + 1
        return results, pages


@pytest.fixture
def caller(sandbox):
    return Caller(sandbox)


# The reads the dashboard makes; the document has others it never calls (creating tickets,
# uploading attachments, changing or deleting webhooks).
READS = {
    "ticketsList",
    "ticketsRetrieve",
    "ticketsCommentsRetrieve",
    "tickettypesList",
    "tickettypesRetrieve",
    "usersList",
    "usersRetrieve",
    "productsList",
    "productsRetrieve",
}


def test_the_contract_covers_every_operation_the_dashboard_uses():
    assert READS <= set(OPERATIONS)
    assert set(LIST_CASES) | set(RETRIEVE_CASES) == READS
    # Every `nullable` was read the 3.0 way: none is left, and a list's links may be null.
    assert "nullable" not in json.dumps(CONTRACT.spec.read_value())
    schemas = CONTRACT.spec.read_value()["components"]["schemas"]
    for name in ("PaginatedTicketList", "PaginatedUserList", "PaginatedProductListList"):
        links = schemas[name]["properties"]
        assert links["next"]["type"] == links["previous"]["type"] == ["string", "null"]


def _ticket_with_every_field(data):
    """A seeded ticket that every Tickets List filter can find."""
    return next(
        t
        for t in data.tickets
        if t["requester"] and t["assignee"] and t["order"] and t["products"] and t["tags"]
        and t["ticket_type"] and t["priority"] and t["channel"] in store.CHANNELS
        and t["status"] in store.STATUSES
    )  # fmt: skip


def _every_ticket_filter(data):
    ticket = _ticket_with_every_field(data)
    day = ticket["created_at"][:10]
    return [
        ("filter_text", ticket["subject"].split()[0]),
        ("id", ticket["id"]),
        ("subject", ticket["subject"][:6]),
        ("status", ticket["status"]),
        ("status", "pending"),
        ("requester", ticket["requester"]),
        ("assignee", ticket["assignee"]),
        ("order_number", ticket["order"]),
        *(("product", product) for product in ticket["products"]),
        *(("tags", data.tag_ids[tag]) for tag in ticket["tags"]),
        ("ticket_type", ticket["ticket_type"]),
        ("priority", ticket["priority"]),
        ("channel", ticket["channel"]),
        ("created_from", day),
        ("created_to", day),
    ]


def _every_user_filter(data):
    user = next(u for u in data.customers if u["phone_number"] and u["language"])
    return [
        ("email", user["email"].upper()),
        ("name", user["last_name"]),
        ("phone_number", user["phone_number"]),
        ("language", user["language"]),
        ("user_type", "customer"),
        ("date_joined_from", user["date_joined"][:10]),
        ("date_joined_to", user["date_joined"][:10]),
        ("is_blocked", "false"),
        ("accepts_marketing", "true" if user["accepts_marketing"] else "false"),
    ]


# Representative parameters for each list: (path, page size, params for the first page).
LIST_CASES = {
    "ticketsList": [
        ("tickets/", 25, lambda d: []),
        ("tickets/", 10, lambda d: [("status", "solved"), ("status", "new"), ("channel", "api")]),
        ("tickets/", 10, _every_ticket_filter),
    ],
    "tickettypesList": [
        ("tickettypes/", 4, lambda d: []),
        ("tickettypes/", 4, lambda d: [("name", "Chargeback")]),
    ],
    "usersList": [
        ("users/", 25, lambda d: []),
        ("users/", 4, lambda d: [("user_type", "dashboard")]),
        ("users/", 4, lambda d: [("name", "a"), ("language", "en")]),
        ("users/", 4, _every_user_filter),
    ],
    "productsList": [
        ("products/", 4, lambda d: []),
        ("products/", 4, lambda d: [("title", "pro"), ("is_public", "true")]),
        ("products/", 4, lambda d: [
            ("is_gift_card", "false"),
            *(("sku", p["variants"][0]["sku"]) for p in d.products[:3]),
        ]),
    ],
}  # fmt: skip


@pytest.mark.parametrize("operation", LIST_CASES)
def test_every_page_of_every_list_fits_the_contract(sandbox, caller, operation):
    odd_met = set()
    for path, page_size, params in LIST_CASES[operation]:
        sandbox.configure(page_size=page_size)
        results, pages = caller.walk(path, params(sandbox.data), odd_met)
        assert results, (path, params(sandbox.data))
        if not params(sandbox.data):
            assert pages > 1  # the walk really followed `next` links

    if operation == "ticketsList":
        # The whole list holds every odd ticket: each marked place really is odd, and is met.
        assert odd_met == every_odd_place()
    else:
        assert odd_met == set()


RETRIEVE_CASES = {
    "ticketsRetrieve": lambda d: [
        f"tickets/{ticket_id}/"
        for ticket_id in dict.fromkeys(
            [*(t["id"] for t in d.tickets[:30]), *d.special_ticket_ids.values()]
        )
    ],
    "ticketsCommentsRetrieve": lambda d: [
        f"tickets/{ticket_id}/comments/" for ticket_id in d.special_ticket_ids.values()
    ],
    "tickettypesRetrieve": lambda d: [f"tickettypes/{t['id']}/" for t in d.ticket_types],
    "usersRetrieve": lambda d: [f"users/{u['id']}/" for u in d.users],
    "productsRetrieve": lambda d: [f"products/{p['id']}/" for p in d.products],
}


@pytest.mark.parametrize("operation", RETRIEVE_CASES)
def test_every_retrieve_fits_the_contract(sandbox, caller, operation):
    odd_met = set()
    for path in RETRIEVE_CASES[operation](sandbox.data):
        received, response = caller.get(sandbox.base_url + path)
        assert_requests_conform([received])
        check_answer(sandbox, received, response, odd_met)

    if operation.startswith("tickets"):
        # Every special ticket was asked for: each marked place really is odd, and is met.
        assert odd_met == every_odd_place()
    else:
        assert odd_met == set()


def test_an_odd_value_is_excused_only_where_it_is_marked(sandbox, caller, monkeypatch):
    added = sandbox.data.add_ticket(subject="Odd", priority=None)
    received, response = caller.get(sandbox.base_url + f"tickets/{added['id']}/")
    with pytest.raises(AssertionError, match=rf"at priority \(ticket {added['id']}\): None is not"):
        check_answer(sandbox, received, response, set())

    # A special ticket's marks excuse their own places, not its other fields.
    odd = sandbox.data.ticket(sandbox.data.special_ticket_ids["null_order"])
    monkeypatch.setitem(odd, "subject", None)
    received, response = caller.get(sandbox.base_url + f"tickets/{odd['id']}/")
    with pytest.raises(
        AssertionError, match=rf"at subject \(ticket {odd['id']}\): None is"
    ) as failed:
        check_answer(sandbox, received, response, set())
    assert "at order" not in str(failed.value)


# -- Error answers: the document describes only 200s --

ERROR_CASES = {
    "400 tickets filter": ("tickets/", [("status", "bogus"), ("tags", "vip")], 400),
    "400 users filter": ("users/", [("language", "xx"), ("is_blocked", "yes")], 400),
    "400 products filter": ("products/", [("category", "1"), ("is_public", "maybe")], 400),
    "403 users without users:read": ("users/", [], 403),
    "403 products without catalogue:read": ("products/7/", [], 403),
    "404 ticket": ("tickets/999999/", [], 404),
    "404 comments": ("tickets/999999/comments/", [], 404),
    "404 ticket type": ("tickettypes/99/", [], 404),
    "404 user": ("users/1/", [], 404),
    "404 product": ("products/9999/", [], 404),
    "404 cursor": ("tickets/", [("cursor", "not-a-cursor")], 404),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_error_answers_are_json_objects_as_drf_writes_them(sandbox, caller, case):
    path, params, status = ERROR_CASES[case]
    if status == 403:
        sandbox.configure(scopes=["tickets:read"])

    received, response = caller.get(sandbox.base_url + path, params)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    # The document lists no error answers, so there is no schema to hold them to: openapi-core
    # says exactly that, and the test checks what DRF always sends instead.
    request, answer = StoreRequest.of(received), StoreResponse.of(response)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
        errors = list(CONTRACT.response_validator.iter_errors(request, answer))
    assert [type(error) for error in errors] == [ResponseNotFound]
    body = response.json()
    if status == 400:
        _, operation = OPERATIONS[_operation_of(path)]
        documented = {parameter["name"] for parameter in operation["parameters"]}
        assert body and set(body) <= documented
        assert all(
            isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages)
            for messages in body.values()
        )
    else:
        assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]


def _operation_of(path):
    return {"tickets/": "ticketsList", "users/": "usersList", "products/": "productsList"}[path]


# -- The dashboard's requests --


def requests_sent_by(sandbox, call):
    """The requests that reached the sandbox while `call()` ran. A store error is not this
    test's business (other tests check how it shows): the requests are."""
    before = len(sandbox.received())
    with contextlib.suppress(store.TicketsAPIError):
        call()
    return sandbox.received()[before:]


def _second_page(query):
    first = store.list_tickets(query)
    assert first.next_cursor
    store.list_tickets(query.with_cursor(first.next_cursor))


# Each service-layer call, by what it asks; add a case for each new one.
SERVICE_CALLS = {
    "tickets, first page": lambda data: store.list_tickets(store.TicketQuery()),
    "tickets, every filter": lambda data: store.list_tickets(every_filter()),
    "tickets, next page by the cursor of the first": lambda data: _second_page(
        store.TicketQuery(status=("solved", "closed"))
    ),
    "tickets, tags by id": lambda data: store.list_tickets(
        store.TicketQuery(tags=(data.tag_ids["vip"], data.tag_ids["refund"]))
    ),
    "ticket": lambda data: store.get_ticket(data.tickets[0]["id"]),
    "ticket types": lambda data: store.ticket_types(),
    "agents": lambda data: store.staff(),
    "customer by id": lambda data: store.look_up_customer(data.customers[0]["id"]),
    "customers by email": lambda data: store.find_customers(email=data.customers[0]["email"]),
    "customers by name": lambda data: store.find_customers(name=data.customers[0]["first_name"]),
    "product by id": lambda data: store.look_up_product(data.products[0]["id"]),
    "products by title": lambda data: store.find_products(data.products[0]["title"]),
}


@pytest.mark.parametrize("call", list(SERVICE_CALLS))
def test_every_request_the_service_layer_builds_conforms(sandbox, call):
    sent = requests_sent_by(sandbox, lambda: SERVICE_CALLS[call](sandbox.data))

    assert sent, "the call reached the store"
    assert_requests_conform(sent)


def test_the_request_check_names_the_offending_parameter(sandbox, caller):
    received, _ = caller.get(sandbox.base_url + "tickets/", [("tags", "vip"), ("id", "7")])

    violations = request_violations([received])

    assert violations == [
        "GET /api/admin/tickets/?tags=vip&id=7: query parameter 'tags': "
        "'vip' is not of type 'integer'"
    ]
    (no_token,) = requests_sent_by(
        sandbox, lambda: requests.get(sandbox.base_url + "tickets/", headers=VERSION, timeout=5)
    )
    assert request_violations([no_token]) == [
        "GET /api/admin/tickets/: no bearer token in the Authorization header"
    ]
    (no_version,) = requests_sent_by(
        sandbox,
        lambda: requests.get(
            sandbox.base_url + "users/7/", headers={"Authorization": "Bearer x"}, timeout=5
        ),
    )
    assert request_violations([no_version]) == [
        "GET /api/admin/users/7/: header parameter 'X-29next-API-Version': required, and missing"
    ]
