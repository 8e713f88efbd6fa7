"""The sandbox store, over real HTTP, as the dashboard and the benchmarks meet it.

No Django here: run with `pytest tests/test_sandbox.py -p no:django`.
"""

import base64
import io
import json
import re
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from tools.processes import SandboxProcess, free_port, wait_until
from tools.sandbox.data import DELIBERATELY_ODD, SandboxData
from tools.sandbox.server import (
    FAULT_MODES,
    SO_TIMESTAMPNS,
    TIMEOUT_SECONDS,
    RateLimiter,
    SandboxServer,
    StampedReads,
    peak_per_second,
)

ANCHOR = datetime(2026, 3, 10, 12, tzinfo=UTC)
TOKEN = "sandbox-token"
PAGE_SIZE = 25

# The properties of a Ticket and of its comments in the published API.
SPEC = yaml.safe_load(
    (Path(__file__).parent / "contract" / "next-admin-api-unstable.yaml").read_text()
)
TICKET_KEYS = set(SPEC["components"]["schemas"]["Ticket"]["properties"])
COMMENT_KEYS = set(SPEC["components"]["schemas"]["TicketComment"]["properties"])
FILTER_STATUSES = ("new", "open", "pending", "solved", "closed")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(scope="module")
def sandbox():
    server = SandboxServer(port=0, token=TOKEN, page_size=PAGE_SIZE, anchor=ANCHOR)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def store_on_sandbox(sandbox):
    """Each test starts from the constructor's settings (replaces the Django-based fixture)."""
    sandbox.reset()
    yield sandbox
    sandbox.reset()


@pytest.fixture
def api(sandbox):
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {TOKEN}", "X-29next-API-Version": "unstable"})
    yield session
    session.close()


def get(api, sandbox, path, params=None, **kwargs):
    kwargs.setdefault("timeout", 5)
    return api.get(sandbox.base_url + path, params=params, **kwargs)


def walk_next(api, sandbox, params=None):
    """Every page of the Tickets List for `params`, following `next` to the end."""
    pages = [get(api, sandbox, "tickets/", params).json()]
    while pages[-1]["next"]:
        pages.append(api.get(pages[-1]["next"], timeout=5).json())
    return pages


def ids_of(tickets):
    return [ticket["id"] for ticket in tickets]


def requester_email(data, ticket):
    user = data.user(ticket["requester"]) if ticket["requester"] else None
    return user["email"] if user else ""


# -- Authentication and versioning --


def test_requests_without_the_bearer_token_are_refused(sandbox):
    headers = {"X-29next-API-Version": "unstable"}
    missing = requests.get(sandbox.base_url + "tickets/", headers=headers, timeout=5)
    wrong = requests.get(
        sandbox.base_url + "tickets/",
        headers={**headers, "Authorization": "Bearer not-the-token"},
        timeout=5,
    )
    assert missing.status_code == wrong.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    assert wrong.json() == {"detail": "Invalid token."}


@pytest.mark.parametrize("version", [None, "2024-01-01", ""])
def test_the_version_header_is_required_and_must_be_unstable(sandbox, version):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if version is not None:
        headers["X-29next-API-Version"] = version
    response = requests.get(sandbox.base_url + "tickets/", headers=headers, timeout=5)
    assert response.status_code == 400
    assert "X-29next-API-Version" in response.json()["detail"]


# -- Tickets List --


def test_the_first_page_is_newest_first_in_the_spec_shape(api, sandbox):
    response = get(api, sandbox, "tickets/")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    page = response.json()
    assert set(page) == {"next", "previous", "results"}
    assert page["previous"] is None
    assert ids_of(page["results"]) == ids_of(sandbox.data.tickets[:PAGE_SIZE])
    keys = [(t["created_at"], t["id"]) for t in page["results"]]
    assert keys == sorted(keys, reverse=True)
    for ticket in page["results"]:
        assert set(ticket) == TICKET_KEYS
        assert TIMESTAMP.match(ticket["created_at"]) and TIMESTAMP.match(ticket["updated_at"])
        for comment in ticket["comments"]:
            assert set(comment) == COMMENT_KEYS
            assert TIMESTAMP.match(comment["created_at"])
            for attachment in comment["attachments"]:
                assert set(attachment) == {"file", "file_name", "id"}


def mentions(data, ticket, text):
    text = text.lower()
    haystacks = [ticket["subject"], requester_email(data, ticket), ticket["from_email"] or ""]
    return str(ticket["id"]) == text or any(text in h.lower() for h in haystacks)


def _busy_requester(data):
    requesters = [t["requester"] for t in data.tickets if t["requester"]]
    return max(set(requesters), key=requesters.count)


# Each case gives the query and, independently, what a matching ticket looks like.
FILTER_CASES = {
    "filter_text=<id>": lambda d: (
        {"filter_text": str(d.tickets[7]["id"])},
        lambda t: mentions(d, t, str(d.tickets[7]["id"])),
    ),
    "filter_text=<subject>": lambda d: (
        {"filter_text": "REFUND"},
        lambda t: mentions(d, t, "refund"),
    ),
    "filter_text=<email>": lambda d: (
        {"filter_text": requester_email(d, d.tickets[3]) or d.tickets[3]["from_email"]},
        lambda t: mentions(d, t, requester_email(d, d.tickets[3]) or d.tickets[3]["from_email"]),
    ),
    "id": lambda d: ({"id": d.tickets[5]["id"]}, lambda t: t["id"] == d.tickets[5]["id"]),
    "subject": lambda d: (
        {"subject": "WHERE IS"},
        lambda t: "where is" in t["subject"].lower(),
    ),
    "status": lambda d: ({"status": "pending"}, lambda t: t["status"] == "pending"),
    "requester": lambda d: (
        {"requester": _busy_requester(d)},
        lambda t: t["requester"] == _busy_requester(d),
    ),
    "assignee": lambda d: ({"assignee": 3}, lambda t: t["assignee"] == 3),
    "order_number": lambda d: (
        {"order_number": next(t["order"] for t in d.tickets if t["order"])},
        lambda t: t["order"] == next(t["order"] for t in d.tickets if t["order"]),
    ),
    "product": lambda d: ({"product": 101}, lambda t: 101 in t["products"]),
    "tags": lambda d: ({"tags": d.tag_ids["refund"]}, lambda t: "refund" in t["tags"]),
    "ticket_type": lambda d: ({"ticket_type": 2}, lambda t: t["ticket_type"] == 2),
    "priority": lambda d: ({"priority": "high"}, lambda t: t["priority"] == "high"),
    "channel": lambda d: ({"channel": "follow_up"}, lambda t: t["channel"] == "follow_up"),
    "created_from": lambda d: (
        {"created_from": "2026-03-01"},
        lambda t: t["created_at"] >= "2026-03-01",
    ),
    "created_to": lambda d: (
        {"created_to": "2025-12-31"},
        lambda t: t["created_at"] < "2026-01-01",
    ),
    "created_from+to (inclusive)": lambda d: (
        {"created_from": "2026-03-09", "created_to": "2026-03-09"},
        lambda t: t["created_at"].startswith("2026-03-09"),
    ),
}


@pytest.mark.parametrize("case", FILTER_CASES)
def test_every_filter_selects_what_it_says(api, sandbox, case):
    params, matches = FILTER_CASES[case](sandbox.data)
    expected = [t for t in sandbox.data.tickets if matches(t)]

    pages = walk_next(api, sandbox, params)

    assert 0 < len(expected) < len(sandbox.data.tickets)  # the filter really filters
    assert ids_of(sandbox.data.filter_tickets(params)) == ids_of(expected)
    assert [t["id"] for page in pages for t in page["results"]] == ids_of(expected)


def test_repeated_parameters_match_any_of_their_values(api, sandbox):
    tag_ids = sandbox.data.tag_ids
    params = [
        ("status", "new"),
        ("status", "pending"),
        ("tags", tag_ids["vip"]),
        ("tags", tag_ids["damaged"]),
    ]
    expected = [
        t
        for t in sandbox.data.tickets
        if t["status"] in ("new", "pending") and {"vip", "damaged"} & set(t["tags"])
    ]
    products = [("product", "101"), ("product", "102")]
    expected_products = [t for t in sandbox.data.tickets if {101, 102} & set(t["products"])]

    assert expected and expected_products
    assert ids_of(walk_next(api, sandbox, params)[0]["results"]) == ids_of(expected)[:PAGE_SIZE]
    walked = [t for page in walk_next(api, sandbox, products) for t in page["results"]]
    assert ids_of(walked) == ids_of(expected_products)


def test_tags_filter_takes_tag_ids_and_matches_any_of_them(api, sandbox):
    tag_ids = sandbox.data.tag_ids
    either = [("tags", tag_ids["refund"]), ("tags", tag_ids["wholesale"])]
    expected = [t for t in sandbox.data.tickets if {"refund", "wholesale"} & set(t["tags"])]

    walked = [t for page in walk_next(api, sandbox, either) for t in page["results"]]

    assert {"refund", "wholesale"} <= {tag for t in expected for tag in t["tags"]}
    assert ids_of(walked) == ids_of(expected)


@pytest.mark.parametrize(
    "value, message",
    [
        ("vip", "“vip” is not a valid value."),
        ("1.0", "“1.0” is not a valid value."),
        ("99", "Select a valid choice. 99 is not one of the available choices."),
        ("-1", "Select a valid choice. -1 is not one of the available choices."),
        # The id 1 exists, but Django compares the row's own spelling of it.
        ("+1", "Select a valid choice. +1 is not one of the available choices."),
        ("01", "Select a valid choice. 01 is not one of the available choices."),
    ],
)
def test_tags_filter_refuses_names_and_unknown_ids_as_a_real_store(api, sandbox, value, message):
    # A real store's tags filter is a model multiple-choice filter on tag ids.
    response = get(
        api, sandbox, "tickets/", [("tags", sandbox.data.tag_ids["vip"]), ("tags", value)]
    )

    assert response.status_code == 400
    assert response.json() == {"tags": [message]}


def test_unknown_and_empty_parameters_are_ignored(api, sandbox):
    plain = get(api, sandbox, "tickets/").json()
    noisy = get(
        api, sandbox, "tickets/", {"status": "", "priority": "", "colour": "blue", "page": "2"}
    ).json()
    assert ids_of(noisy["results"]) == ids_of(plain["results"])


def test_bad_filter_values_get_field_errors(api, sandbox):
    params = {
        "status": ["open", "bogus"],
        "created_from": "yesterday",
        "created_to": "2026-02-30",
        "requester": "abc",
        "product": "x",
        "priority": "urgent",
        "channel": "pigeon",
        "tags": "999",
    }
    response = get(api, sandbox, "tickets/", params)

    assert response.status_code == 400
    assert response.json() == {
        "status": ["Select a valid choice. bogus is not one of the available choices."],
        "created_from": ["Enter a valid date."],
        "created_to": ["Enter a valid date."],
        "requester": ["Enter a whole number."],
        "product": ["Enter a whole number."],
        "priority": ["Select a valid choice. urgent is not one of the available choices."],
        "channel": ["Select a valid choice. pigeon is not one of the available choices."],
        "tags": ["Select a valid choice. 999 is not one of the available choices."],
    }


# -- Pagination --


def test_walking_next_yields_every_ticket_once_and_previous_walks_back(api, sandbox):
    pages = walk_next(api, sandbox)
    walked = [t["id"] for page in pages for t in page["results"]]
    assert walked == ids_of(sandbox.data.tickets)
    assert len(pages) == -(-len(walked) // PAGE_SIZE)
    assert pages[-1]["next"] is None

    back = [pages[-1]]
    while back[-1]["previous"]:
        back.append(api.get(back[-1]["previous"], timeout=5).json())
    assert [ids_of(p["results"]) for p in back] == [ids_of(p["results"]) for p in pages][::-1]


def test_next_and_previous_are_absolute_and_repeat_the_filters(api, sandbox):
    params = [("status", "solved"), ("status", "closed"), ("priority", "low")]
    # Links are built from the Host the client asked for, as behind a proxy.
    proxied = get(api, sandbox, "tickets/", params, headers={"Host": "store-proxy.test:8443"})
    first = get(api, sandbox, "tickets/", params).json()
    second = api.get(first["next"], timeout=5).json()

    assert proxied.json()["next"].startswith("http://store-proxy.test:8443/api/admin/tickets/?")
    assert first["next"].startswith(sandbox.base_url + "tickets/?")
    for link in (proxied.json()["next"], first["next"], second["previous"]):
        url = urlsplit(link)
        assert url.scheme == "http" and url.path == "/api/admin/tickets/"
        query = parse_qs(url.query)
        assert query["status"] == ["solved", "closed"] and query["priority"] == ["low"]
        assert len(query["cursor"]) == 1
    assert second["previous"].startswith(sandbox.base_url + "tickets/?")


def test_the_cursor_is_stable_when_new_tickets_arrive(api, sandbox):
    before = [t["id"] for page in walk_next(api, sandbox) for t in page["results"]]
    first = get(api, sandbox, "tickets/").json()
    arrived = [sandbox.data.add_ticket(subject=f"New arrival {n}") for n in range(3)]

    rest = [api.get(first["next"], timeout=5).json()]
    while rest[-1]["next"]:
        rest.append(api.get(rest[-1]["next"], timeout=5).json())

    walked = ids_of(first["results"]) + [t["id"] for page in rest for t in page["results"]]
    assert walked == before
    assert ids_of(get(api, sandbox, "tickets/").json()["results"][:3]) == ids_of(arrived)[::-1]


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!!",
        "Zm9yZ2Vk",  # "forged"
        base64.urlsafe_b64encode(b'{"p":["yesterday",1],"r":false}').decode(),
        base64.urlsafe_b64encode(b'{"p":[1],"r":false}').decode(),
        base64.urlsafe_b64encode(b"o=25&r=0").decode(),
    ],
)
def test_a_forged_cursor_is_a_404(api, sandbox, cursor):
    response = get(api, sandbox, "tickets/", {"cursor": cursor})
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}


def test_page_size_follows_the_settings(api, sandbox):
    sandbox.configure(page_size=7)
    assert len(get(api, sandbox, "tickets/").json()["results"]) == 7


# -- Retrieve and the other endpoints --


def test_a_ticket_and_its_comments_are_retrieved_by_id(api, sandbox):
    ticket = sandbox.data.tickets[12]
    assert get(api, sandbox, f"tickets/{ticket['id']}/").json() == ticket
    assert get(api, sandbox, f"tickets/{ticket['id']}/comments/").json() == ticket


@pytest.mark.parametrize("path", ["tickets/1/", "tickets/abc/", "tickets/99999/comments/"])
def test_an_unknown_ticket_is_a_404(api, sandbox, path):
    response = get(api, sandbox, path)
    assert response.status_code == 404
    assert response.json() == {"detail": "No Ticket matches the given query."}


def test_ticket_types_users_and_products(api, sandbox):
    types = get(api, sandbox, "tickettypes/").json()
    assert [t["name"] for t in types["results"]][:2] == ["Refund request", "Shipping & delivery"]
    assert get(api, sandbox, "tickettypes/", {"name": "chargeback"}).json()["results"] == [
        {"id": 6, "name": "Chargeback"}
    ]
    assert get(api, sandbox, "tickettypes/2/").json() == {"id": 2, "name": "Shipping & delivery"}

    agent = get(api, sandbox, "users/", {"email": "MAYA.THOMPSON@example-store.test"}).json()
    assert [u["user_type"] for u in agent["results"]] == ["dashboard"]
    requester_id = sandbox.data.tickets[0]["requester"] or sandbox.data.customers[0]["id"]
    user = get(api, sandbox, f"users/{requester_id}/").json()
    assert user["id"] == requester_id and "email" in user and "total_spent" in user
    by_name = get(api, sandbox, "users/", {"name": user["first_name"]}).json()["results"]
    assert requester_id in ids_of(by_name)

    product = get(api, sandbox, "products/101/").json()
    assert product["id"] == 101 and product["title"] and product["variants"]
    assert get(api, sandbox, "products/9999/").status_code == 404
    assert get(api, sandbox, "users/1/").status_code == 404


def test_users_list_is_paginated(api, sandbox):
    sandbox.configure(page_size=30)
    first = get(api, sandbox, "users/").json()
    second = api.get(first["next"], timeout=5).json()
    assert len(first["results"]) == 30
    assert not set(ids_of(first["results"])) & set(ids_of(second["results"]))


def walk(api, sandbox, path, params=None):
    """Every result of a list, following `next` to the end."""
    pages = [get(api, sandbox, path, params).json()]
    while pages[-1]["next"]:
        pages.append(api.get(pages[-1]["next"], timeout=5).json())
    return [item for page in pages for item in page["results"]]


def _full_name(user):
    return f"{user['first_name']} {user['last_name']}"


USER_FILTER_CASES = {
    "email (exact, any case)": lambda d: (
        {"email": d.customers[4]["email"].upper()},
        lambda u: u["email"] == d.customers[4]["email"],
    ),
    "email (not a part of one)": lambda d: (
        {"email": d.customers[4]["email"][1:]},
        lambda u: u["email"] == d.customers[4]["email"][1:],
    ),
    "name (first and last)": lambda d: (
        {"name": _full_name(d.agents[0]).upper()},
        lambda u: _full_name(d.agents[0]).lower() in _full_name(u).lower(),
    ),
    "name (part)": lambda d: ({"name": "son"}, lambda u: "son" in _full_name(u).lower()),
    "phone_number": lambda d: (
        {"phone_number": next(u["phone_number"] for u in d.customers if u["phone_number"])},
        lambda u: (
            u["phone_number"] == next(u["phone_number"] for u in d.customers if u["phone_number"])
        ),
    ),
    "language": lambda d: ({"language": "de"}, lambda u: u["language"] == "de"),
    "user_type": lambda d: ({"user_type": "dashboard"}, lambda u: u["user_type"] == "dashboard"),
    "date_joined_from": lambda d: (
        {"date_joined_from": "2025-01-01"},
        lambda u: u["date_joined"] >= "2025-01-01",
    ),
    "date_joined_to (inclusive)": lambda d: (
        {"date_joined_to": d.users[10]["date_joined"][:10]},
        lambda u: u["date_joined"][:10] <= d.users[10]["date_joined"][:10],
    ),
    "is_blocked": lambda d: ({"is_blocked": "true"}, lambda u: u["is_blocked"]),
    "accepts_marketing": lambda d: (
        {"accepts_marketing": "false"},
        lambda u: not u["accepts_marketing"],
    ),
}


@pytest.mark.parametrize("case", USER_FILTER_CASES)
def test_every_users_filter_selects_what_it_says(api, sandbox, case):
    sandbox.configure(page_size=10)
    params, matches = USER_FILTER_CASES[case](sandbox.data)
    expected = [u for u in sandbox.data.users if matches(u)]

    walked = walk(api, sandbox, "users/", params)

    assert ids_of(walked) == ids_of(expected)
    if "not a part" not in case:
        assert 0 < len(expected) < len(sandbox.data.users)  # the filter really filters


@pytest.mark.parametrize(
    "value, blocked", [("true", True), ("True", True), ("1", True), ("false", False),
                       ("False", False), ("0", False)]
)  # fmt: skip
def test_booleans_are_read_as_django_filter_reads_them(api, sandbox, value, blocked):
    walked = walk(api, sandbox, "users/", {"is_blocked": value})
    assert walked and all(u["is_blocked"] is blocked for u in walked)


@pytest.mark.parametrize("value", ["TRUE", "yes", "on", "2", "null"])
def test_other_booleans_are_refused(api, sandbox, value):
    response = get(api, sandbox, "products/", {"is_public": value})
    assert response.status_code == 400
    assert response.json() == {
        "is_public": [f"Select a valid choice. {value} is not one of the available choices."]
    }


def test_bad_users_filter_values_get_field_errors(api, sandbox):
    params = {
        "language": "xx",
        "user_type": "admin",
        "date_joined_from": "yesterday",
        "date_joined_to": "2026-02-30",
        "is_blocked": "yes",
        "accepts_marketing": "maybe",
    }
    response = get(api, sandbox, "users/", params)

    assert response.status_code == 400
    assert response.json() == {
        "language": ["Select a valid choice. xx is not one of the available choices."],
        "user_type": ["Select a valid choice. admin is not one of the available choices."],
        "date_joined_from": ["Enter a valid date."],
        "date_joined_to": ["Enter a valid date."],
        "is_blocked": ["Select a valid choice. yes is not one of the available choices."],
        "accepts_marketing": ["Select a valid choice. maybe is not one of the available choices."],
    }


# The properties of a product in the Products List and on its own.
PRODUCT_LIST_KEYS = set(SPEC["components"]["schemas"]["ProductList"]["properties"])
PRODUCT_KEYS = set(SPEC["components"]["schemas"]["Product"]["properties"])


def test_products_list_is_paginated_by_id_in_the_list_shape(api, sandbox):
    sandbox.configure(page_size=4)
    first = get(api, sandbox, "products/").json()
    walked = walk(api, sandbox, "products/")

    assert first["previous"] is None and first["next"].startswith(sandbox.base_url + "products/?")
    assert ids_of(walked) == sorted(ids_of(sandbox.data.products))
    # Without the detail fields: the list answers ProductList, the product itself Product.
    assert all(set(item) <= PRODUCT_LIST_KEYS for item in walked)
    assert "description" not in walked[0]
    assert set(get(api, sandbox, "products/101/").json()) <= PRODUCT_KEYS
    assert "description" in get(api, sandbox, "products/101/").json()


def _skus(product):
    return {variant["sku"] for variant in product["variants"]}


PRODUCT_FILTER_CASES = {
    "title (part, any case)": lambda d: (
        {"title": "MATCHA"},
        lambda p: "matcha" in p["title"].lower(),
    ),
    "is_public": lambda d: ({"is_public": "True"}, lambda p: p["is_public"]),
    "is_public=false": lambda d: ({"is_public": "0"}, lambda p: not p["is_public"]),
    "is_gift_card": lambda d: ({"is_gift_card": "true"}, lambda p: False),
    "is_gift_card=false": lambda d: ({"is_gift_card": "false"}, lambda p: True),
    "sku (any of)": lambda d: (
        [("sku", sorted(_skus(d.products[2]))[0]), ("sku", sorted(_skus(d.products[5]))[0])],
        lambda p: p["id"] in (d.products[2]["id"], d.products[5]["id"]),
    ),
    "sku (exact)": lambda d: ({"sku": sorted(_skus(d.products[2]))[0][:-1]}, lambda p: False),
}


@pytest.mark.parametrize("case", PRODUCT_FILTER_CASES)
def test_every_products_filter_selects_what_it_says(api, sandbox, case):
    params, matches = PRODUCT_FILTER_CASES[case](sandbox.data)
    expected = [p for p in sandbox.data.products if matches(p)]

    walked = walk(api, sandbox, "products/", params)

    assert ids_of(walked) == ids_of(expected)


def test_bad_products_filter_values_get_field_errors(api, sandbox):
    # The sandbox's shop has no categories or offer ranges: every id names nothing.
    params = [("category", "1"), ("range", "cheap"), ("is_gift_card", "no"), ("title", "")]
    response = get(api, sandbox, "products/", params)

    assert response.status_code == 400
    assert response.json() == {
        "category": ["Select a valid choice. 1 is not one of the available choices."],
        "range": ["“cheap” is not a valid value."],
        "is_gift_card": ["Select a valid choice. no is not one of the available choices."],
    }


# -- Scopes --

READS = {
    "tickets:read": ["tickets/", "tickets/1201/", "tickets/1201/comments/", "tickettypes/",
                     "tickettypes/1/"],
    "users:read": ["users/", "users/1/"],
    "catalogue:read": ["products/", "products/101/"],
}  # fmt: skip


@pytest.mark.parametrize("scope", READS)
def test_an_operation_needs_its_scope(api, sandbox, scope):
    sandbox.configure(scopes=[other for other in READS if other != scope])

    for path in READS[scope]:
        response = get(api, sandbox, path)
        # Permission comes before the lookup: an unknown id is refused, not "not found".
        assert response.status_code == 403, path
        assert response.json() == {"detail": "You do not have permission to perform this action."}
    for other in READS:
        if other != scope:
            assert get(api, sandbox, READS[other][0]).status_code == 200
    assert get(api, sandbox, "orders/").status_code == 404  # still no such operation


def test_scopes_are_set_by_constructor_and_control_api_and_reset_restores_them(api):
    with SandboxServer(
        port=0, token=TOKEN, tickets=30, anchor=ANCHOR, scopes=["tickets:read"]
    ) as server:
        control = server.root_url + "__sandbox__/control"
        assert requests.get(control, timeout=5).json()["scopes"] == ["tickets:read"]
        assert api.get(server.base_url + "users/", timeout=5).status_code == 403

        changed = requests.post(control, json={"scopes": ["users:read"]}, timeout=5)
        assert changed.json()["scopes"] == ["users:read"]
        assert api.get(server.base_url + "users/", timeout=5).status_code == 200
        assert api.get(server.base_url + "tickets/", timeout=5).status_code == 403
        assert requests.post(control, json={"scopes": "users:read"}, timeout=5).status_code == 400
        assert requests.post(control, json={"scopes": ["users"]}, timeout=5).status_code == 400

        requests.post(server.root_url + "__sandbox__/reset", timeout=5)
        assert server.settings()["scopes"] == ["tickets:read"]
    # By default the token may do everything the sandbox serves, writes and webhooks too.
    assert SandboxServer(port=0, tickets=0).settings()["scopes"] == [
        "tickets:read",
        "users:read",
        "catalogue:read",
        "tickets:write",
        "webhooks:read",
        "webhooks:write",
    ]


def test_a_method_a_route_does_not_take_is_refused_with_allow(api, sandbox):
    # Creating tickets is not served (a real store takes it): refused, never faked.
    response = api.post(sandbox.base_url + "tickets/", json={}, timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json() == {"detail": 'Method "POST" not allowed.'}
    ticket = api.delete(sandbox.base_url + "tickets/1201/", timeout=5)
    assert ticket.status_code == 405
    assert ticket.headers["Allow"] == "GET, PUT, PATCH, HEAD, OPTIONS"
    # A write to what only reads needs the write scope first, as DRF checks permissions first.
    assert api.post(sandbox.base_url + "users/", json={}, timeout=5).status_code == 403


# -- Rate limit, latency and faults --


def test_the_rate_limit_throttles_the_fifth_request_in_a_second(api, sandbox):
    sandbox.configure(rate_limit=4)
    statuses, retry_after = [], []
    for _ in range(5):
        response = get(api, sandbox, "tickettypes/")
        statuses.append(response.status_code)
        retry_after.append(response.headers.get("Retry-After"))

    assert statuses == [200, 200, 200, 200, 429]
    assert int(retry_after[-1]) >= 1
    # Per token: another token still gets through (and is then refused for being wrong).
    other = requests.get(
        sandbox.base_url + "tickettypes/", headers={"Authorization": "Bearer other"}, timeout=5
    )
    assert other.status_code == 401
    stats = sandbox.stats()
    assert stats["throttled"] == 1 and stats["calls"] == 6
    assert stats["peak_per_second"] == 6

    time.sleep(1.05)
    assert get(api, sandbox, "tickettypes/").status_code == 200


def test_latency_delays_every_answer(api, sandbox):
    sandbox.configure(latency_ms=150)
    started = time.monotonic()
    assert get(api, sandbox, "tickettypes/").status_code == 200
    assert time.monotonic() - started >= 0.15


FAULT_ANSWERS = {
    "server_error": (500, "text/html"),
    "unavailable": (503, "text/html"),
    "bad_gateway": (502, "text/html"),
    "malformed": (200, "application/json"),
    "wrong_shape": (200, "application/json"),
    "rate_storm": (429, "application/json"),
    "token_rejected": (401, "application/json"),
}


@pytest.mark.parametrize("fault", FAULT_ANSWERS)
def test_fault_modes_answer_like_a_store_in_trouble(api, sandbox, fault):
    sandbox.set_fault(fault)
    response = get(api, sandbox, "tickets/")

    status, content_type = FAULT_ANSWERS[fault]
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(content_type)
    if fault == "malformed":
        with pytest.raises(ValueError):
            response.json()
    if fault == "wrong_shape":
        assert response.json() == {"data": []}
    if fault == "rate_storm":
        assert response.headers["Retry-After"] == "1"
    assert sandbox.stats()["faulted"] == 1


def test_disconnect_closes_the_connection_without_an_answer(api, sandbox):
    sandbox.set_fault("disconnect")
    with pytest.raises(requests.ConnectionError):
        get(api, sandbox, "tickets/")
    sandbox.set_fault("none")
    assert get(api, sandbox, "tickets/").status_code == 200


def test_slow_answers_after_seconds(api, sandbox):
    sandbox.set_fault("slow")
    with pytest.raises(requests.ReadTimeout):
        get(api, sandbox, "tickets/", timeout=0.5)


def test_a_held_request_is_woken_by_reset_and_never_blocks_others(api, sandbox):
    sandbox.set_fault("timeout")
    with pytest.raises(requests.ReadTimeout):
        get(api, sandbox, "tickets/", timeout=0.3)

    held = {}

    def ask():
        # Given up well before the fault would let it go by itself.
        held["response"] = requests.get(
            sandbox.base_url + "tickettypes/", headers=api.headers, timeout=TIMEOUT_SECONDS / 3
        )

    asking = threading.Thread(target=ask)
    asking.start()
    wait_until(lambda: sandbox.stats()["faulted"] == 2, 10, "the second request held")
    assert requests.get(sandbox.root_url + "__sandbox__/stats", timeout=5).ok  # not blocked
    sandbox.reset()
    asking.join()

    assert held["response"].status_code == 200  # answered normally once woken


def test_stop_is_not_blocked_by_a_held_request():
    server = SandboxServer(port=0, tickets=30, anchor=ANCHOR, fault="timeout").start()
    headers = {"Authorization": f"Bearer {TOKEN}", "X-29next-API-Version": "unstable"}
    with pytest.raises(requests.ReadTimeout):
        requests.get(server.base_url + "tickets/", headers=headers, timeout=0.3)

    started = time.monotonic()
    server.stop()
    # Not held until the fault would let the request go.
    assert time.monotonic() - started < TIMEOUT_SECONDS / 3
    with pytest.raises(requests.ConnectionError):
        requests.get(server.base_url + "tickets/", headers=headers, timeout=1)


def test_unknown_settings_are_refused(sandbox):
    with pytest.raises(ValueError):
        sandbox.set_fault("meteor")
    with pytest.raises(ValueError):
        sandbox.configure(latency_ms=-1)
    with pytest.raises(ValueError):
        sandbox.configure(colour="blue")
    assert set(FAULT_MODES) >= {"none", "timeout", "disconnect", "rate_storm"}


# -- Control API --


def test_control_endpoint_reads_and_changes_settings(api, sandbox):
    control = sandbox.root_url + "__sandbox__/control"
    changed = requests.post(
        control, json={"fault": "unavailable", "latency_ms": 5, "page_size": 10}, timeout=5
    )
    assert changed.json() == {
        "fault": "unavailable",
        "latency_ms": 5,
        "rate_limit": 0,
        "page_size": 10,
        "scopes": ["tickets:read", "users:read", "catalogue:read", "tickets:write",
                   "webhooks:read", "webhooks:write"],
    }  # fmt: skip
    assert requests.get(control, timeout=5).json() == changed.json()
    assert get(api, sandbox, "tickets/").status_code == 503
    assert requests.post(control, json={"fault": "meteor"}, timeout=5).status_code == 400

    requests.post(sandbox.root_url + "__sandbox__/reset", timeout=5)
    assert requests.get(control, timeout=5).json()["fault"] == "none"
    assert get(api, sandbox, "tickets/").status_code == 200


def test_stats_count_what_reached_the_api(api, sandbox):
    get(api, sandbox, "tickets/", {"status": "open"})
    get(api, sandbox, "tickets/1/")
    requests.get(sandbox.base_url + "tickets/", timeout=5)  # no token
    requests.get(sandbox.root_url + "__sandbox__/control", timeout=5)  # not an API call

    stats = requests.get(sandbox.root_url + "__sandbox__/stats", timeout=5).json()

    assert stats["calls"] == stats["served"] == 3
    assert stats["throttled"] == stats["faulted"] == 0
    assert stats["paths"] == {"/api/admin/tickets/": 2, "/api/admin/tickets/1/": 1}
    assert stats["requests"][0] == "/api/admin/tickets/?status=open"
    assert len(stats["arrivals"]) == 3 and stats["arrivals"] == sorted(stats["arrivals"])
    assert stats["peak_per_second"] == 3
    sandbox.reset_stats()
    assert sandbox.stats()["calls"] == 0


def test_the_request_log_keeps_whole_requests(api, sandbox):
    get(api, sandbox, "tickets/", [("status", "open"), ("status", "new"), ("subject", "a b")])
    requests.get(sandbox.base_url + "users/", timeout=5)  # no token

    first, second = sandbox.received()

    assert (first.method, first.path) == ("GET", "/api/admin/tickets/")
    assert first.query == "status=open&status=new&subject=a+b"
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["x-29next-api-version"] == "unstable"
    assert second.path == "/api/admin/users/" and "authorization" not in second.headers
    assert first.body == second.body == b""
    api.patch(sandbox.base_url + "tickets/1/", json={"status": "open"}, timeout=5)
    written = sandbox.received()[-1]
    assert (written.method, written.body) == ("PATCH", b'{"status": "open"}')
    assert written.headers["content-type"] == "application/json"
    sandbox.reset()
    assert sandbox.received() == []


def test_answers_are_sent_without_waiting_on_the_clients_acknowledgement(sandbox):
    # Headers and body are two writes: with Nagle's algorithm on, each answer on a kept-alive
    # connection would wait for the client's delayed ACK of the headers.
    with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as client:
        client.sendall(b"GET /api/admin/tickets/ HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        assert client.recv(12) == b"HTTP/1.1 401"
        (served,) = [
            connection
            for connection in list(sandbox._connections)
            if connection.getpeername() == client.getsockname()
        ]
        assert served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_peak_per_second_uses_a_sliding_window():
    assert peak_per_second([]) == 0
    assert peak_per_second([0.0, 0.5, 0.99, 1.0, 1.2, 1.4]) == 5
    assert peak_per_second([0.0, 1.0, 2.0, 3.0]) == 1


def test_adding_a_ticket_over_http_and_resetting_removes_it(api, sandbox):
    response = requests.post(
        sandbox.root_url + "__sandbox__/tickets",
        json={"subject": "Live arrival", "priority": "high"},
        timeout=5,
    )
    assert response.status_code == 201
    added = response.json()
    assert added["subject"] == "Live arrival" and added["status"] == "new"
    assert set(added) == TICKET_KEYS
    assert get(api, sandbox, "tickets/").json()["results"][0] == added
    count = requests.get(
        sandbox.root_url + "__sandbox__/count", params={"filter_text": "live arrival"}, timeout=5
    )
    assert count.json() == {"count": 1}
    bad = requests.post(sandbox.root_url + "__sandbox__/tickets", json={"id": 1}, timeout=5)
    assert bad.status_code == 400

    requests.post(sandbox.root_url + "__sandbox__/reset", timeout=5)
    assert get(api, sandbox, f"tickets/{added['id']}/").status_code == 404


def test_count_endpoint_uses_the_list_filters(sandbox):
    params = [("status", "open"), ("status", "pending"), ("priority", "high")]
    count = requests.get(sandbox.root_url + "__sandbox__/count", params=params, timeout=5)
    assert count.json() == {"count": len(sandbox.data.filter_tickets(params))}
    bad = requests.get(sandbox.root_url + "__sandbox__/count?status=bogus", timeout=5)
    assert bad.status_code == 400 and "status" in bad.json()


# -- The data set --


def test_the_data_set_is_determined_by_seed_and_anchor():
    one, two = SandboxData(seed=7, anchor=ANCHOR), SandboxData(seed=7, anchor=ANCHOR)
    other = SandboxData(seed=8, anchor=ANCHOR)
    assert json.dumps(one.tickets) == json.dumps(two.tickets)
    assert one.users == two.users and one.products == two.products
    assert json.dumps(one.tickets) != json.dumps(other.tickets)
    assert SandboxData(tickets=10).anchor.minute == 0  # defaults to the current hour


def test_the_data_set_looks_like_a_real_support_queue(sandbox):
    data = sandbox.data
    tickets = data.tickets
    comments = [c for t in tickets for c in t["comments"]]

    assert len(tickets) == 360 and len(set(ids_of(tickets))) == 360
    assert len([u for u in data.users if u["user_type"] == "dashboard"]) == 6
    assert len([u for u in data.users if u["user_type"] == "customer"]) == 80
    assert len(data.ticket_types) == 6 and len(data.products) == 15
    assert all(t["created_at"] < ANCHOR.strftime("%Y-%m-%dT%H:%M:%SZ") for t in tickets)
    assert all(1 <= len(t["comments"]) <= 8 for t in tickets)
    assert all(t["updated_at"] >= t["created_at"] for t in tickets)
    assert any(t["assignee"] is None for t in tickets)
    assert any(t["ticket_type"] is None for t in tickets)
    assert any(t["requester"] is None and t["from_email"] for t in tickets)
    assert {False, True} <= {c["is_public"] for c in comments}
    assert 0.08 < len([c for c in comments if c["attachments"]]) / len(comments) < 0.25
    assert sum(t["order"] is None for t in tickets) >= 2
    assert any(t["order"] == "" for t in tickets)
    assert all(re.fullmatch(r"\d{6}", t["order"]) for t in tickets if t["order"])
    # Still-open tickets are mostly recent.
    waiting = [t for t in tickets if t["status"] in ("new", "open", "pending")]
    assert len([t for t in waiting if t["created_at"] >= "2026-02-24"]) > len(waiting) / 2
    assert {t["status"] for t in tickets} >= {"new", "open", "pending", "solved", "closed"}


def test_every_user_has_a_realistic_name_and_an_email(sandbox):
    users = sandbox.data.users
    emails = [u["email"] for u in users]

    assert all(u["first_name"].strip() and u["last_name"].strip() for u in users)
    # Names, not placeholders: no digits, no "Customer 12" or "Agent 3".
    assert not [u for u in users if re.search(r"\d", _full_name(u))]
    assert len({_full_name(u) for u in users}) > len(users) * 0.8
    assert all(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) for email in emails)
    assert len(set(emails)) == len(emails)


def _published(schema):
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _odd_place(ticket, place):
    """The value at `place` (a dotted path) of a served ticket, and the published schema of
    that field."""
    value, schema = ticket, SPEC["components"]["schemas"]["Ticket"]
    for part in place.split("."):
        schema = _published(schema)
        if isinstance(value, list):
            value, schema = value[int(part)], schema["items"]
        else:
            value, schema = value[part], schema["properties"][part]
    return value, _published(schema)


def _fits(value, schema):
    """Whether `value` is one the published schema allows, for the kinds of field it marks odd."""
    if value is None:
        return bool(schema.get("nullable"))
    if "enum" in schema:
        return value in schema["enum"]
    if schema.get("format") == "uri":
        return bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value))
    return isinstance(value, str) if schema.get("type") == "string" else True


def test_deliberately_odd_places_name_seeded_special_tickets(api, sandbox):
    """Each place marked odd holds, in the ticket the sandbox serves, a value the published
    schema refuses, with a reason given for it."""
    for special, places in DELIBERATELY_ODD.items():
        ticket_id = sandbox.data.special_ticket_ids[special]
        served = get(api, sandbox, f"tickets/{ticket_id}/").json()
        for place, why in places.items():
            value, schema = _odd_place(served, place)
            assert not _fits(value, schema), f"{special}: {place} = {value!r} fits the spec"
            assert why.strip()


def test_hostile_and_unusual_content_is_on_the_first_two_pages(sandbox):
    first_pages = sandbox.data.tickets[: 2 * PAGE_SIZE]
    subjects = [t["subject"] for t in first_pages]
    bodies = [c["body"] or "" for t in first_pages for c in t["comments"]]
    files = [a for t in first_pages for c in t["comments"] for a in c["attachments"]]

    assert any("<script>alert(1)</script>" in s for s in subjects)
    assert any("<img src=x onerror=alert(1)>" in s for s in subjects)
    assert any("{{ request.user }}" in s and "{% debug %}" in s for s in subjects)
    assert any(len(s) > 300 for s in subjects)
    assert any("<script>" in b for b in bodies)
    assert any(a["file"] == "javascript:alert(1)" for a in files)
    assert any(a["file_name"] == '"><svg onload=alert(1)>.pdf' for a in files)
    assert any(a["file"].startswith("data:") for a in files)
    assert any(not a["file"].startswith(("http", "data:", "javascript:")) for a in files)
    assert any(c["body"] is None for t in first_pages for c in t["comments"])
    unusual = [t for t in first_pages if t["status"] not in FILTER_STATUSES]
    assert {t["status"] for t in unusual} >= {"on_hold"}
    assert any(t["channel"] == "sms" and t["priority"] is None for t in unusual)
    assert set(sandbox.data.hostile_ticket_ids) <= set(ids_of(first_pages))


def test_threads_carry_unicode_quotes_and_long_bodies(sandbox):
    bodies = [c["body"] or "" for t in sandbox.data.tickets for c in t["comments"]]
    names = [a["file_name"] for t in sandbox.data.tickets for c in t["comments"]
             for a in c["attachments"]]  # fmt: skip
    text = "\n".join(bodies)

    assert re.search(r"[\u0600-\u06ff]", text)  # Arabic
    assert re.search(r"[\u0590-\u05ff]", text)  # Hebrew
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text)  # Japanese / Chinese
    assert re.search(r"[\U0001f300-\U0001faff]", text)  # emoji
    assert re.search(r"^On \w{3}, \d{1,2} \w{3} \d{4} at \d{2}:\d{2}, .+ wrote:$", text, re.M)
    assert any(line.startswith("> ") for line in text.splitlines())
    assert any(b.count("\n\n") >= 3 for b in bodies)
    assert any(" " in n for n in names) and any(not n.isascii() for n in names)


def test_add_ticket_keeps_the_list_ordered_and_refuses_unknown_fields(sandbox):
    added = sandbox.data.add_ticket(status="open", tags=["vip"])
    assert sandbox.data.tickets[0] is added
    assert added["id"] > max(t["id"] for t in sandbox.data.tickets[1:])
    assert added["comments"] and added["comments"][0]["id"]
    vip = sandbox.data.tag_ids["vip"]
    assert ids_of(sandbox.data.filter_tickets({"id": added["id"], "tags": vip})) == [added["id"]]
    with pytest.raises(ValueError):
        sandbox.data.add_ticket(colour="blue")


# -- Command line --


def test_the_command_line_serves_on_the_given_port_until_terminated(tmp_path):
    port, log = free_port(), tmp_path / "sandbox.log"
    sandbox = SandboxProcess(
        "--tickets", "40", "--scopes", "tickets:read, users:read", token=TOKEN, port=port,
        log_path=log,
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKEN}", "X-29next-API-Version": "unstable"}
    try:
        response = requests.get(f"{sandbox.api}tickets/", headers=headers, timeout=5)
        assert response.status_code == 200
        assert len(response.json()["results"]) == 25
        assert (
            requests.get(f"{sandbox.api}products/", headers=headers, timeout=5).status_code == 403
        )
        settings = requests.get(f"http://127.0.0.1:{port}/__sandbox__/control", timeout=5)
        assert settings.json()["rate_limit"] == 4  # the real store's limit by default
    finally:
        assert sandbox.stop() == 0
    assert f"http://127.0.0.1:{port}/api/admin/" in log.read_text()


def test_a_request_counts_from_when_it_arrived_not_when_its_handler_ran():
    """On a machine whose cores the dashboard and a benchmark's load also use, a handler can
    run long after its request came in; the rate limit counts the arrival, as a store on its
    own machine would."""
    listening = socket.create_server(("127.0.0.1", 0))
    listening.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sender = socket.create_connection(listening.getsockname())
    connection, _ = listening.accept()
    with listening, sender, connection:
        sent = time.monotonic()
        sender.sendall(b"GET /api/admin/tickets/ HTTP/1.1\r\n\r\n")
        reads = StampedReads(connection)
        assert io.BufferedReader(reads).readline().startswith(b"GET ")
        # The handler gets to it 5 s later: both clocks have moved on.
        arrived = reads.take_stamp(
            clock=lambda: time.time() + 5, monotonic=lambda: time.monotonic() + 5
        )
        assert arrived is not None and sent - 0.5 < arrived < sent + 0.5
        assert reads.take_stamp() is None  # the next request is stamped afresh


def test_the_server_hands_each_request_its_arrival(api, sandbox, monkeypatch):
    handled = []
    handle = sandbox._handle_api
    monkeypatch.setattr(
        sandbox, "_handle_api", lambda request: handled.append(request) or handle(request)
    )
    for _ in range(2):  # the second on the kept-alive connection
        before = time.monotonic()
        assert get(api, sandbox, "tickettypes/").status_code == 200
        assert before <= handled[-1].arrived <= time.monotonic()


def test_an_earlier_arrival_admitted_late_is_held_to_every_second_that_holds_it():
    limiter = RateLimiter()
    assert limiter.admit("token", 2, 10.0) is None
    assert limiter.admit("token", 2, 9.5) is None  # arrived first, its handler ran second
    assert limiter.admit("token", 2, 10.6) is None  # its second holds 10.0 alone
    # Arrived at 9.8, admitted last: 9.5, 9.8 and 10.0 would be three in one second.
    assert limiter.admit("token", 2, 9.8) == 1
