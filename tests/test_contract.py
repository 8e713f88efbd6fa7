"""The store's published OpenAPI document is the contract, for the sandbox and the dashboard.

Every answer the sandbox gives to an operation the dashboard uses must fit the document (bar
the odd values it marks in `DELIBERATELY_ODD`), and every request the service layer builds must
be one the document allows, so a test that passes here passes against a real store.

Writes too: each change the triage form sends and the webhook's registration, as the sandbox
received them (method, path, headers and JSON body), and the answers as the dashboard received
them; and the sandbox refuses every value the document refuses, as DRF words a refusal.
"""

import contextlib
import io
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import yaml
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request.exceptions import (
    InvalidRequestBody,
    ParameterValidationError,
)
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import Headers, ImmutableMultiDict

from dashboard import store
from dashboard.models import Tag, catalogue_changed
from dashboard.store import transport
from tests.conftest import TEST_TOKEN, every_filter
from tests.test_triage import post as post_triage
from tests.test_triage import shown_form
from tools.sandbox.api import SCOPES
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


def _request_bodies_without_read_only(document):
    """Point each request body at a copy of its schema without the read-only properties (in
    place), named as drf-spectacular names a request's own component: the PATCH's comment is
    read as `CreateTicketCommentRequest`.

    The document describes each serializer once for both ways, with `readOnly` on what only
    answers carry, and lists some of those as required (CreateTicketComment its `id`, Webhook
    its `id`, `created_at` and more). OpenAPI 3.0 said such a property is required in answers
    only and should not be sent; 3.1, plain JSON Schema, keeps `readOnly` as a note, and read
    so no request could ever be valid. Requests are held to the 3.0 meaning, as the store's
    serializers apply it: never required, and never sent (an unexpected property).
    """
    schemas = document["components"]["schemas"]

    def writable(node):
        if isinstance(node, list):
            return [writable(value) for value in node]
        if not isinstance(node, dict):
            return node
        name = node.get("$ref", "").removeprefix("#/components/schemas/")
        if name in schemas:
            if f"{name}Request" not in schemas:
                schemas[f"{name}Request"] = {}  # claimed before its own references are read
                schemas[f"{name}Request"] = writable(schemas[name])
            return {**node, "$ref": f"#/components/schemas/{name}Request"}
        copied = {key: writable(value) for key, value in node.items() if key != "properties"}
        if "properties" in node:
            properties = node["properties"]
            read_only = {key for key, schema in properties.items() if schema.get("readOnly")}
            copied["properties"] = {
                key: writable(schema) for key, schema in properties.items() if key not in read_only
            }
            required = [key for key in node.get("required", []) if key not in read_only]
            copied.pop("required", None)
            if required:
                copied["required"] = required
        return copied

    for item in document["paths"].values():
        for operation in item.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                media["schema"] = writable(media["schema"])


def _request_bodies_as_json(document):
    """Keep only the JSON form of each request body that has one (in place).

    The store also takes form encodings, but the dashboard sends JSON and the sandbox reads
    nothing else (415); and openapi-core 0.23 cannot read a form body whose schema has a
    field typed as a list of types (TypeError), so one would crash the check, not fail it.
    (Uploading an attachment, which the dashboard never does, is multipart only: kept.)
    """
    for item in document["paths"].values():
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                operation["requestBody"]["content"] = {
                    "application/json": content["application/json"]
                }


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
    _request_bodies_without_read_only(document)
    _request_bodies_as_json(document)
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
            body=received.body or None,
            content_type=received.headers.get("content-type", ""),
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
    if isinstance(error, InvalidRequestBody) and isinstance(error.__cause__, InvalidSchemaValue):
        return "body: " + "; ".join(
            f"{'/'.join(map(str, schema_error.path)) or 'the top'}: {schema_error.message}"
            for schema_error in error.__cause__.schema_errors
        )
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


def check_answer(sandbox, received, response, odd_met, status=200):
    """Fail on any way a successful answer (`status`, as documented) breaks the document, except
    at the places the sandbox marks as deliberately odd; those are added to `odd_met` as
    (special ticket, field path)."""
    assert response.status_code == status, (received.target, response.status_code, response.text)
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
        return self.send("GET", url, params=params)

    def send(self, method, url, body=None, params=None):
        """(the request as the sandbox received it, its answer); `body` is sent as JSON."""
        before = len(self.sandbox.received())
        response = self.session.request(method, url, params=params, json=body, timeout=10)
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


# The writes it makes: a ticket's change (the triage form, bulk changes) and its webhook.
WRITES = {"ticketsPartialUpdate", "webhooksCreate"}


def test_the_contract_covers_every_operation_the_dashboard_uses():
    assert set(OPERATIONS) >= READS | WRITES
    assert set(LIST_CASES) | set(RETRIEVE_CASES) == READS
    # The sandbox's writes are checked too, the ones the dashboard does not make included.
    assert set(TICKET_WRITES) | {case.split("'")[0] for case in SPOILABLE} >= WRITES
    assert set(TICKET_WRITES) <= set(OPERATIONS)
    # Requests are held to each schema's request view, which has nothing read-only in it.
    for operation_id in (*TICKET_WRITES, *WRITES):
        assert "readOnly" not in json.dumps(request_schema(operation_id))
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

    body = check_error_answer(received, response, status)
    if status == 400:
        _, operation = OPERATIONS[_operation_of(path)]
        documented = {parameter["name"] for parameter in operation["parameters"]}
        assert body and set(body) <= documented
        assert all(
            isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages)
            for messages in body.values()
        )
    else:
        assert_detail(body)


def check_error_answer(received, response, status):
    """An error answer's body, once it is JSON as DRF sends it. The document lists no error
    answers, so there is no schema to hold them to: openapi-core says exactly that, and the
    callers check what DRF always sends instead."""
    assert response.status_code == status, (received.target, response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/json"
    request, answer = StoreRequest.of(received), StoreResponse.of(response)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
        errors = list(CONTRACT.response_validator.iter_errors(request, answer))
    assert [type(error) for error in errors] == [ResponseNotFound]
    return response.json()


def assert_detail(body):
    """What DRF answers for anything but a field error: `{"detail": "..."}`."""
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]


def _operation_of(path):
    return {"tickets/": "ticketsList", "users/": "usersList", "products/": "productsList"}[path]


# -- Writes: bodies as the document types them, and the sandbox's answers --

SCHEMAS = CONTRACT.spec.read_value()["components"]["schemas"]
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
NOWHERE = "http://127.0.0.1:9/webhooks/next/"  # the discard port: nothing listens


def resolved(schema):
    """`schema` with its `$ref`, or the one schema its `allOf` wraps, followed."""
    while True:
        if "$ref" in schema:
            schema = SCHEMAS[schema["$ref"].removeprefix("#/components/schemas/")]
        elif len(schema.get("allOf", ())) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def request_schema(operation_id):
    """The JSON body `operation_id` takes, as requests are held to it (no read-only field)."""
    _, operation = OPERATIONS[operation_id]
    return resolved(operation["requestBody"]["content"]["application/json"]["schema"])


def assert_drf_field_errors(errors, schema):
    """A refused body's 400 as DRF's serializers write it: each field of `schema` refused (or
    `non_field_errors`) with a list of messages, a nested serializer's as an object alike."""
    assert isinstance(errors, dict) and errors, errors
    properties = resolved(schema).get("properties", {})
    for name, messages in errors.items():
        assert name in properties or name == "non_field_errors", (name, errors)
        if isinstance(messages, dict):
            assert name in properties, (name, errors)
            assert_drf_field_errors(messages, properties[name])
        else:
            assert isinstance(messages, list) and messages, (name, messages)
            assert all(isinstance(m, str) and m for m in messages), (name, messages)


def ordinary_ticket(data):
    """A seeded ticket with nothing deliberately odd, an assignee, tags and a priority."""
    odd = set(data.special_ticket_ids.values())
    return next(
        t
        for t in data.tickets
        if t["id"] not in odd and t["assignee"] and t["tags"] and t["priority"]
        and t["requester"] and t["status"] in store.STATUSES
    )  # fmt: skip


def other(choices, current):
    """The first of `choices` that is not `current`."""
    return next(choice for choice in choices if choice != current)


# The sandbox's ticket writes, and bodies the document allows: taken (200) or refused for
# their values, as a store refuses them (400).
TICKET_WRITES = {
    "ticketsPartialUpdate": ("PATCH", "tickets/{id}/", [
        (200, lambda d, t: {
            "status": other(store.STATUSES, t["status"]), "priority": "high",
            "assignee": other([a["id"] for a in d.agents], t["assignee"]),
            "tags": ["vip", "refund"], "comment": {"body": "Refund sent.", "is_public": False},
        }),
        (200, lambda d, t: {"assignee": None, "tags": [], "ticket_type": None}),
        (200, lambda d, t: {"comment": {"body": "Any news?", "author": t["requester"]}}),
        (400, lambda d, t: {"tags": ["vip", "not-in-this-store"], "ticket_type": 99}),
        (400, lambda d, t: {"assignee": d.customers[0]["id"]}),
        (400, lambda d, t: {"comment": {"body": "  ", "is_public": False}}),
        (400, lambda d, t: {"status": "open", "comment": {"is_public": True}}),
        (400, lambda d, t: {"comment": {"body": "Photo attached", "attachments": [7001]}}),
    ]),
    "ticketsUpdate": ("PUT", "tickets/{id}/", [
        (200, lambda d, t: {"status": other(store.STATUSES, t["status"]), "tags": ["vip"]}),
        (400, lambda d, t: {"subject": "", "products": [999999]}),
    ]),
    "ticketsCommentsCreate": ("POST", "tickets/{id}/comments/", [
        (200, lambda d, t: {"body": "Refund sent.", "is_public": False}),
        (200, lambda d, t: {"body": "Thanks!", "author": t["requester"], "is_public": True}),
        (400, lambda d, t: {"body": "", "author": 999999}),
        (400, lambda d, t: {"is_public": False}),
    ]),
}  # fmt: skip


@pytest.mark.parametrize("operation", TICKET_WRITES)
def test_every_answer_to_a_ticket_write_fits_the_contract(sandbox, caller, operation):
    method, path, cases = TICKET_WRITES[operation]
    ticket = ordinary_ticket(sandbox.data)
    url = sandbox.base_url + path.format(id=ticket["id"])
    last = ticket["updated_at"]
    for status, body in cases:
        before = sandbox.data.ticket(ticket["id"])
        received, response = caller.send(method, url, body(sandbox.data, before))
        assert_requests_conform([received])
        if status == 200:
            check_answer(sandbox, received, response, set())
            changed = response.json()
            assert changed == sandbox.data.ticket(ticket["id"])
            assert changed["updated_at"] > last  # every write moves it on
            last = changed["updated_at"]
        else:
            assert_drf_field_errors(
                check_error_answer(received, response, 400), request_schema(operation)
            )
            assert sandbox.data.ticket(ticket["id"]) == before  # a refusal changes nothing

    # Without the write scope (the reads still there) and for no ticket: DRF's `detail`.
    valid = cases[0][1](sandbox.data, sandbox.data.ticket(ticket["id"]))
    sandbox.configure(scopes=["tickets:read", "users:read", "catalogue:read", "webhooks:write"])
    assert_detail(check_error_answer(*caller.send(method, url, valid), 403))
    sandbox.configure(scopes=["tickets:read", "tickets:write"])
    missing = sandbox.base_url + path.format(id=999999)
    assert_detail(check_error_answer(*caller.send(method, missing, valid), 404))
    assert sandbox.data.ticket(ticket["id"])["updated_at"] == last


# A value of each JSON type, and the strings a lenient reader takes for another type.
SAMPLES = (None, True, False, 0, 1, 7, -1, 2.5, "", " ", "7", "yes", "true", "x",
           "anna@example.com", [], [7], ["x"], [None], {}, {"body": "x"})  # fmt: skip


def samples(data):
    """SAMPLES, and the text of ids the store has: an agent's (a user, a ticket type too) and
    a product's, which a lenient reader would find."""
    return (*SAMPLES, str(data.agents[0]["id"]), [str(data.products[0]["id"])])


# Bodies the sandbox takes, and where in them each field of the operation's schema is put.
SPOILABLE = {
    "ticketsPartialUpdate": ("PATCH", "tickets/{id}/", {}, ()),
    "ticketsPartialUpdate's comment": (
        "PATCH", "tickets/{id}/", {"comment": {"body": "x"}}, ("comment",),
    ),
    "ticketsCommentsCreate": ("POST", "tickets/{id}/comments/", {"body": "x"}, ()),
    "webhooksCreate": ("POST", "webhooks/", {"target": NOWHERE, "events": ["ticket.updated"]}, ()),
}  # fmt: skip


@pytest.mark.parametrize("case", SPOILABLE)
def test_the_sandbox_refuses_every_value_the_contract_refuses(sandbox, caller, case):
    """Never laxer than the document: each writable field, given a value of each JSON type,
    is refused with a 400 naming it wherever the document refuses the body. (It may refuse
    more: a value the document allows can still be one the store has not got.)"""
    method, path, taken, inside = SPOILABLE[case]
    operation = case.split("'")[0]
    schema = request_schema(operation)
    for name in inside:
        schema = resolved(schema["properties"][name])
    url = sandbox.base_url + path.format(id=ordinary_ticket(sandbox.data)["id"])
    refused, lenient = 0, []
    for field_name in schema["properties"]:
        for value in samples(sandbox.data):
            body = json.loads(json.dumps(taken))
            place = body
            for name in inside:
                place = place[name]
            place[field_name] = value
            received, response = caller.send(method, url, body)
            if not request_violations([received]):
                continue
            refused += 1
            errors = response.json() if response.status_code == 400 else {}
            if response.status_code == 400:
                assert_drf_field_errors(errors, request_schema(operation))
            for name in inside:
                errors = errors.get(name) if isinstance(errors, dict) else {}
            if not isinstance(errors, dict) or field_name not in errors:
                lenient.append(f"{field_name}: {value!r} -> {response.status_code}")

    assert refused > 3 * len(schema["properties"])  # the samples did reach past the types
    assert not lenient, "taken by the sandbox, refused by the document:\n" + "\n".join(lenient)


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


# -- The dashboard's writes --


@pytest.fixture
def triaging(client, lead, tag_catalogue, settings):
    """A person who may change tickets, signed in; the store's tags in the team's catalogue."""
    settings.STORE_RATE_LIMIT = 0  # what is sent is the point here, not the pace
    lead.groups.add(Group.objects.get(name="Triage"))  # the migration's group
    client.force_login(lead)
    return client


@contextlib.contextmanager
def answers_in_this_thread():
    """The store's answers as this thread's session to the store receives them."""
    answers = []

    def keep(response, **kwargs):
        answers.append(response)

    hooks = transport.session().hooks["response"]
    hooks.append(keep)
    try:
        yield answers
    finally:
        hooks.remove(keep)


def writes_made_by(sandbox, call):
    """Each write that reached the sandbox while `call()` ran, as (the request as the store
    received it, the answer as the dashboard received it). Every request made meanwhile,
    reads too, must be one the document allows."""
    before = len(sandbox.received())
    with answers_in_this_thread() as answers:
        call()
    sent = sandbox.received()[before:]
    assert_requests_conform(sent)
    writes = [each for each in sent if each.method not in SAFE_METHODS]
    answered = [each for each in answers if each.request.method not in SAFE_METHODS]
    assert [(each.method, each.path) for each in writes] == [
        (each.request.method, urlsplit(each.url).path) for each in answered
    ]
    return list(zip(writes, answered, strict=True))


def triage_writes(sandbox, client, ticket_id, changes, status=302):
    """The writes made when a person changes the thread's triage form, as its page showed it,
    as `changes` (form values) say and submits it."""
    values = {**shown_form(client, ticket_id), **changes}
    answered = []
    writes = writes_made_by(
        sandbox, lambda: answered.append(post_triage(client, ticket_id, values))
    )
    assert answered[0].status_code == status
    return writes


def _other_tags(data, ticket):
    """The store's tag names for another set: the ticket's first taken off, one added."""
    added = next(name for name in data.tag_ids if name not in ticket["tags"])
    return [*ticket["tags"][1:], added]


# What a person changes on the thread's form, as form values; each field alone, and together.
# (The list's bulk change sends status, priority and assignee: the same fields, alone and
# together, in the same PATCH.)
TRIAGE_CASES = {
    "status": lambda d, t: {"status": [other(store.STATUSES, t["status"])]},
    "priority": lambda d, t: {"priority": [other(store.PRIORITIES, t["priority"])]},
    "assignee": lambda d, t: {"assignee": [str(other([a["id"] for a in d.agents], t["assignee"]))]},
    "unassigned": lambda d, t: {"assignee": [""]},
    "tags by name": lambda d, t: {"tags": _other_tags(d, t)},
    "every tag taken off": lambda d, t: {"tags": []},
    "an internal note": lambda d, t: {"note": ["Courier called: the parcel is lost."]},
    "a public reply": lambda d, t: {"note": ["Your refund is on its way."], "reply": ["public"]},
    "status, priority and assignee": lambda d, t: {
        **TRIAGE_CASES["status"](d, t), **TRIAGE_CASES["priority"](d, t),
        **TRIAGE_CASES["unassigned"](d, t),
    },
    "everything at once": lambda d, t: {
        **TRIAGE_CASES["status"](d, t), **TRIAGE_CASES["priority"](d, t),
        **TRIAGE_CASES["assignee"](d, t), **TRIAGE_CASES["tags by name"](d, t),
        **TRIAGE_CASES["a public reply"](d, t),
    },
}  # fmt: skip


def _as_asked(changes):
    """The ticket's fields the person changed, as the store's ticket shows them (tags sorted)."""
    asked = {}
    for name, values in changes.items():
        if name == "tags":
            asked["tags"] = sorted(values)
        elif name == "assignee":
            asked["assignee"] = int(values[0]) if values[0] else None
        elif name in ("status", "priority"):
            asked[name] = values[0]
    return asked


@pytest.mark.parametrize("case", TRIAGE_CASES)
def test_every_change_the_triage_form_sends_fits_the_contract(sandbox, triaging, case):
    ticket = ordinary_ticket(sandbox.data)
    changes = TRIAGE_CASES[case](sandbox.data, ticket)

    ((write, answer),) = triage_writes(sandbox, triaging, ticket["id"], changes)

    assert (write.method, write.path) == ("PATCH", f"/api/admin/tickets/{ticket['id']}/")
    check_answer(sandbox, write, answer, set())
    # Only what was changed is sent, and the store's answer shows it done.
    sent, changed, asked = json.loads(write.body), answer.json(), _as_asked(changes)
    note = changes.get("note", [""])[0]
    assert set(sent) == set(asked) | ({"comment"} if note else set())
    shown = {name: sorted(changed[name]) if name == "tags" else changed[name] for name in asked}
    assert shown == asked
    if note:
        added = changed["comments"][-1]
        assert (added["body"], added["is_public"]) == (note, changes.get("reply") == ["public"])
    assert changed["updated_at"] > ticket["updated_at"]


def test_the_answers_to_the_dashboards_refused_writes_fit_the_contract(sandbox, triaging):
    ticket = ordinary_ticket(sandbox.data)
    # A tag the team's catalogue has and the store has not: a body the document allows, and
    # the store refuses for its value.
    Tag.objects.create(name="tag-the-store-dropped", store_id=99999)
    catalogue_changed()
    changes = {"tags": ["tag-the-store-dropped"], "note": ["Tagged."]}
    ((write, answer),) = triage_writes(sandbox, triaging, ticket["id"], changes, status=400)
    errors = check_error_answer(write, answer, 400)
    assert_drf_field_errors(errors, request_schema("ticketsPartialUpdate"))
    assert set(errors) == {"tags"}

    # Without tickets:write (its reads still allowed): DRF's detail.
    sandbox.configure(scopes=["tickets:read", "users:read", "catalogue:read"])
    changes = {"priority": [other(store.PRIORITIES, ticket["priority"])]}
    ((write, answer),) = triage_writes(sandbox, triaging, ticket["id"], changes, status=403)
    assert_detail(check_error_answer(write, answer, 403))

    # A ticket the store no longer has, sent the dashboard's own body.
    sandbox.configure(scopes=list(SCOPES))
    body = json.loads(write.body)
    ((write, answer),) = writes_made_by(
        sandbox, lambda: pytest.raises(store.WriteRefused, store.update_ticket, 999999, body)
    )
    assert_detail(check_error_answer(write, answer, 404))
    assert sandbox.data.ticket(ticket["id"]) == ticket  # none of them changed it


def test_the_webhook_registration_fits_the_contract(sandbox, settings):
    settings.NEXT_WEBHOOK_SECRET = "whsec-contract-3c81"

    def register():
        call_command("register_webhook", NOWHERE, stdout=io.StringIO())

    ((write, answer),) = writes_made_by(sandbox, register)
    assert (write.method, write.path) == ("POST", "/api/admin/webhooks/")
    check_answer(sandbox, write, answer, set(), status=201)
    assert answer.json()["target"] == NOWHERE

    sandbox.configure(scopes=["tickets:read", "webhooks:read"])
    ((write, answer),) = writes_made_by(sandbox, lambda: pytest.raises(CommandError, register))
    assert_detail(check_error_answer(write, answer, 403))


def test_the_request_check_names_what_is_wrong_with_a_body(sandbox, caller):
    url = sandbox.base_url + f"tickets/{ordinary_ticket(sandbox.data)['id']}/"
    wrong = [
        # DRF would take the id's text; the document types it as a number.
        caller.send("PATCH", url, {"assignee": "3"})[0],
        # Read-only: never sent, here or in the nested comment.
        caller.send("PATCH", url, {"updated_at": "2026-01-01T00:00:00Z", "comment": {"id": 1}})[0],
        caller.send("POST", url + "comments/", {"body": "x", "is_public": "no"})[0],
        requests_sent_by(
            sandbox, lambda: caller.session.patch(url, data={"status": "open"}, timeout=5)
        )[0],
    ]
    target = f"PATCH {urlsplit(url).path}"

    assert [request_violations([each]) for each in wrong] == [
        [f"{target}: body: assignee: '3' is not of type 'integer', 'null'"],
        [
            f"{target}: body: comment: Additional properties are not allowed ('id' was "
            "unexpected); the top: Additional properties are not allowed ('updated_at' was "
            "unexpected)"
        ],
        [f"POST {urlsplit(url).path}comments/: body: is_public: 'no' is not of type 'boolean'"],
        [
            f"{target}: Request body validation error: Content for the following mimetype not "
            "found: application/x-www-form-urlencoded. Valid mimetypes: ['application/json']"
        ],
    ]
