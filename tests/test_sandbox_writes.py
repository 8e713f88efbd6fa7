"""The sandbox store's writes, over real HTTP: PATCH tickets/{id}/ and POST
tickets/{id}/comments/, validated field by field as the store's serializers do.

No Django here: run with `pytest tests/test_sandbox_writes.py -p no:django`.
"""

import copy
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

from tools.sandbox.server import SandboxServer

ANCHOR = datetime(2026, 3, 10, 12, tzinfo=UTC)
TOKEN = "sandbox-token"
SPEC = yaml.safe_load(
    (Path(__file__).parent / "contract" / "next-admin-api-unstable.yaml").read_text()
)
# The spec's Ticket, its comments and their attachments, as one JSON Schema.
TICKET_SCHEMA = jsonschema.Draft202012Validator(
    {"$ref": "#/components/schemas/Ticket", "components": SPEC["components"]}
)
TICKET_KEYS = set(SPEC["components"]["schemas"]["Ticket"]["properties"])
AGENT, OTHER_AGENT, CUSTOMER = 3, 5, 1040


@pytest.fixture(scope="module")
def sandbox():
    server = SandboxServer(port=0, token=TOKEN, tickets=60, anchor=ANCHOR)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def store_on_sandbox(sandbox):
    """Each test starts from the seeded store (replaces the Django-based fixture)."""
    sandbox.reset()
    yield sandbox
    sandbox.reset()


@pytest.fixture
def api():
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {TOKEN}", "X-29next-API-Version": "unstable"})
    yield session
    session.close()


@pytest.fixture
def ticket(sandbox):
    """A seeded ticket that fits the spec everywhere (no deliberately odd value)."""
    odd = set(sandbox.data.special_ticket_ids.values())
    return copy.deepcopy(
        next(t for t in sandbox.data.tickets if t["id"] not in odd and t["priority"] == "low")
    )


def patch(api, sandbox, ticket_id, body, **kwargs):
    return api.patch(f"{sandbox.base_url}tickets/{ticket_id}/", json=body, timeout=5, **kwargs)


def comment(api, sandbox, ticket_id, body):
    return api.post(f"{sandbox.base_url}tickets/{ticket_id}/comments/", json=body, timeout=5)


def fetched(api, sandbox, ticket_id):
    return api.get(f"{sandbox.base_url}tickets/{ticket_id}/", timeout=5).json()


def assert_a_ticket(body):
    assert set(body) == TICKET_KEYS
    errors = [error.message for error in TICKET_SCHEMA.iter_errors(body)]
    assert not errors, errors


# -- PATCH tickets/{id}/ --


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_a_change_answers_with_the_whole_ticket_as_it_now_is(api, sandbox, ticket, method):
    body = {
        "status": "pending",
        "priority": "high",
        "assignee": OTHER_AGENT,
        "tags": ["vip", "refund"],
        "ticket_type": 3,
        "subject": "  Parcel lost, refund agreed  ",
        "products": [101, 102],
        "comment": {"body": "Refund sent.", "author": OTHER_AGENT, "is_public": False},
    }
    response = api.request(
        method, f"{sandbox.base_url}tickets/{ticket['id']}/", json=body, timeout=5
    )

    assert response.status_code == 200
    changed = response.json()
    assert_a_ticket(changed)
    assert changed == fetched(api, sandbox, ticket["id"])
    assert (changed["status"], changed["priority"], changed["assignee"]) == (
        "pending", "high", OTHER_AGENT,
    )  # fmt: skip
    assert changed["tags"] == ["vip", "refund"]  # names in, names out
    assert (changed["ticket_type"], changed["products"]) == (3, [101, 102])
    assert changed["subject"] == "Parcel lost, refund agreed"  # trimmed, as DRF does
    assert changed["updated_at"] > ticket["updated_at"]
    assert changed["comments"][:-1] == ticket["comments"]
    note = changed["comments"][-1]
    assert note["id"] > max(c["id"] for t in sandbox.data.tickets for c in t["comments"][:-1])
    assert (note["body"], note["author"], note["is_public"]) == ("Refund sent.", OTHER_AGENT, False)
    assert note["created_at"] == changed["updated_at"] and note["attachments"] == []
    # What was not sent is as it was.
    for field in ("id", "created_at", "channel", "requester", "order", "from_email"):
        assert changed[field] == ticket[field]


def test_only_what_is_sent_changes_and_unknown_or_read_only_fields_are_ignored(
    api, sandbox, ticket
):
    response = patch(
        api, sandbox, ticket["id"],
        {"priority": "medium", "colour": "blue", "id": 1, "created_at": "2020-01-01T00:00:00Z",
         "updated_at": "2020-01-01T00:00:00Z", "channel": "api"},
    )  # fmt: skip

    assert response.status_code == 200
    changed = response.json()
    assert changed["priority"] == "medium"
    assert changed["id"] == ticket["id"] and changed["created_at"] == ticket["created_at"]
    assert changed["channel"] == ticket["channel"]  # not a field the update takes
    assert changed["updated_at"] > ticket["updated_at"]
    assert {k: v for k, v in changed.items() if k not in ("priority", "updated_at")} == {
        k: v for k, v in ticket.items() if k not in ("priority", "updated_at")
    }


def test_nulls_clear_what_may_be_empty(api, sandbox, ticket):
    response = patch(api, sandbox, ticket["id"], {"assignee": None, "ticket_type": None})
    assert response.status_code == 200
    assert response.json()["assignee"] is None and response.json()["ticket_type"] is None


def test_updated_at_moves_forward_with_every_change_even_within_a_second(api, sandbox, ticket):
    stamps = [ticket["updated_at"]]
    for status in ("open", "pending", "open", "solved"):
        stamps.append(patch(api, sandbox, ticket["id"], {"status": status}).json()["updated_at"])
    stamps.append(comment(api, sandbox, ticket["id"], {"body": "Thanks!"}).json()["updated_at"])

    assert stamps == sorted(set(stamps))  # strictly later each time


REFUSALS = {
    "unknown status": ({"status": "bogus"}, {"status": ['"bogus" is not a valid choice.']}),
    "status beyond the spec": (
        {"status": "on_hold"}, {"status": ['"on_hold" is not a valid choice.']},
    ),
    "status of another type": ({"status": 3}, {"status": ['"3" is not a valid choice.']}),
    "null priority": ({"priority": None}, {"priority": ["This field may not be null."]}),
    "unknown tag name": (
        {"tags": ["vip", "nope"]}, {"tags": ["Object with name=nope does not exist."]},
    ),
    "tag ids for names": ({"tags": [1]}, {"tags": ["Object with name=1 does not exist."]}),
    "tag case": ({"tags": ["VIP"]}, {"tags": ["Object with name=VIP does not exist."]}),
    "tags not a list": (
        {"tags": "vip"}, {"tags": ['Expected a list of items but got type "str".']},
    ),
    "unknown assignee": (
        {"assignee": 99}, {"assignee": ['Invalid pk "99" - object does not exist.']},
    ),
    "a customer as assignee": (
        {"assignee": CUSTOMER}, {"assignee": [f'Invalid pk "{CUSTOMER}" - object does not exist.']},
    ),
    "assignee of another type": (
        {"assignee": "Maya"}, {"assignee": ["Incorrect type. Expected pk value, received str."]},
    ),
    "assignee true": (
        {"assignee": True}, {"assignee": ["Incorrect type. Expected pk value, received bool."]},
    ),
    # The spec types ids as numbers and null as null: DRF's "7" and "" are not promised.
    "assignee's id as text": (
        {"assignee": str(OTHER_AGENT)},
        {"assignee": ["Incorrect type. Expected pk value, received str."]},
    ),
    "empty text for no ticket type": (
        {"ticket_type": ""}, {"ticket_type": ["Incorrect type. Expected pk value, received str."]},
    ),
    "product ids as text": (
        {"products": ["101"]}, {"products": ["Incorrect type. Expected pk value, received str."]},
    ),
    "subject a number": ({"subject": 42}, {"subject": ["Not a valid string."]}),
    "order number a number": ({"order": 100482}, {"order": ["Not a valid string."]}),
    "unknown ticket type": (
        {"ticket_type": 99}, {"ticket_type": ['Invalid pk "99" - object does not exist.']},
    ),
    "unknown product": (
        {"products": [101, 9999]}, {"products": ['Invalid pk "9999" - object does not exist.']},
    ),
    "blank subject": ({"subject": "   "}, {"subject": ["This field may not be blank."]}),
    "subject of another type": ({"subject": ["a"]}, {"subject": ["Not a valid string."]}),
    "bad email": ({"from_email": "anna@"}, {"from_email": ["Enter a valid email address."]}),
    "comment not an object": (
        {"comment": "hi"},
        {"comment": {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}},
    ),
    "comment without a body": ({"comment": {}}, {"comment": {"body": ["This field is required."]}}),
    "null comment": ({"comment": None}, {"comment": ["This field may not be null."]}),
    "comment by nobody known": (
        {"comment": {"body": "x", "author": 1}},
        {"comment": {"author": ['Invalid pk "1" - object does not exist.']}},
    ),
    "note marked internal in words": (
        {"comment": {"body": "x", "is_public": "no"}},
        {"comment": {"is_public": ["Must be a valid boolean."]}},
    ),
    "every error at once": (
        {"status": "x", "priority": "urgent", "tags": ["nope"]},
        {"status": ['"x" is not a valid choice.'], "priority": ['"urgent" is not a valid choice.'],
         "tags": ["Object with name=nope does not exist."]},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_change_names_each_field_and_changes_nothing(api, sandbox, ticket, case):
    body, errors = REFUSALS[case]
    response = patch(api, sandbox, ticket["id"], body)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == errors
    assert fetched(api, sandbox, ticket["id"]) == ticket


@pytest.mark.parametrize(
    "data, content_type, status, answer",
    [
        (b"{", "application/json", 400, "JSON parse error - Expecting property name enclosed in "
                                        "double quotes: line 1 column 2 (char 1)"),
        (b"status=open", "application/x-www-form-urlencoded", 415,
         'Unsupported media type "application/x-www-form-urlencoded" in request.'),
        (b'"open"', "application/json", 400, None),
    ],
)  # fmt: skip
def test_a_body_that_cannot_be_read_is_refused(api, sandbox, ticket, data, content_type, status,
                                               answer):  # fmt: skip
    response = api.patch(
        f"{sandbox.base_url}tickets/{ticket['id']}/",
        data=data,
        headers={"Content-Type": content_type},
        timeout=5,
    )
    assert response.status_code == status
    if answer:
        assert response.json() == {"detail": answer}
    else:
        assert response.json() == {
            "non_field_errors": ["Invalid data. Expected a dictionary, but got str."]
        }
    assert fetched(api, sandbox, ticket["id"]) == ticket


@pytest.mark.parametrize("path", ["tickets/999999/", "tickets/abc/", "tickets/999999/comments/"])
def test_a_write_to_an_unknown_ticket_is_a_404_before_its_body_is_read(api, sandbox, path):
    method = "POST" if path.endswith("comments/") else "PATCH"
    response = api.request(
        method, sandbox.base_url + path, data=b"{", headers={"Content-Type": "application/json"},
        timeout=5,
    )  # fmt: skip
    assert response.status_code == 404
    assert response.json() == {"detail": "No Ticket matches the given query."}


def test_writes_need_the_tickets_write_scope(api, sandbox, ticket):
    # Every other scope, the webhooks' writes included: tickets:write is the one that counts.
    sandbox.configure(scopes=["tickets:read", "users:read", "catalogue:read", "webhooks:write"])

    changed = patch(api, sandbox, ticket["id"], {"status": "solved"})
    replaced = api.put(f"{sandbox.base_url}tickets/{ticket['id']}/", json={}, timeout=5)
    commented = comment(api, sandbox, ticket["id"], {"body": "Hello"})
    noted = patch(api, sandbox, ticket["id"], {"comment": {"body": "Hello", "is_public": False}})
    unknown = patch(api, sandbox, 999999, {"status": "bogus"})
    unreadable = api.patch(
        f"{sandbox.base_url}tickets/{ticket['id']}/", data=b"{",
        headers={"Content-Type": "application/json"}, timeout=5,
    )  # fmt: skip

    forbidden = {"detail": "You do not have permission to perform this action."}
    # Permission comes before the look-up and the body, as in DRF.
    for response in (changed, replaced, commented, noted, unknown, unreadable):
        assert response.status_code == 403 and response.json() == forbidden
    assert fetched(api, sandbox, ticket["id"]) == ticket  # reading still works; nothing changed
    sandbox.configure(scopes=["tickets:write"])
    assert api.get(f"{sandbox.base_url}tickets/{ticket['id']}/", timeout=5).status_code == 403
    assert patch(api, sandbox, ticket["id"], {"status": "solved"}).status_code == 200


def test_writes_count_against_the_rate_limit(api, sandbox, ticket):
    sandbox.configure(rate_limit=4)
    statuses = [
        patch(api, sandbox, ticket["id"], {"priority": p}).status_code
        for p in ("high", "medium", "high", "medium", "low")
    ]
    assert statuses == [200, 200, 200, 200, 429]
    assert sandbox.data.ticket(ticket["id"])["priority"] == "medium"  # the fifth never applied


# -- POST tickets/{id}/comments/ --


def test_a_comment_is_added_and_the_whole_ticket_answered_with_200(api, sandbox, ticket):
    response = comment(api, sandbox, ticket["id"], {"body": "Any news?", "author": CUSTOMER})

    assert response.status_code == 200  # as the spec says, not 201
    changed = response.json()
    assert_a_ticket(changed)
    assert changed == fetched(api, sandbox, ticket["id"])
    added = changed["comments"][-1]
    assert (added["body"], added["author"], added["from_email"]) == ("Any news?", CUSTOMER, None)
    assert added["is_public"] is True  # the default: a note must say it is one
    assert len(changed["comments"]) == len(ticket["comments"]) + 1
    assert changed["status"] == ticket["status"]  # a comment changes only the thread


@pytest.mark.parametrize(
    "body, errors",
    [
        ({}, {"body": ["This field is required."]}),
        ({"body": None}, {"body": ["This field may not be null."]}),
        ({"body": " "}, {"body": ["This field may not be blank."]}),
        ({"body": "x", "is_public": "maybe"}, {"is_public": ["Must be a valid boolean."]}),
        ({"body": "x", "is_public": 0}, {"is_public": ["Must be a valid boolean."]}),
        ({"body": 404}, {"body": ["Not a valid string."]}),
        ({"body": "x", "author": str(AGENT)},
         {"author": ["Incorrect type. Expected pk value, received str."]}),
        ({"body": "x", "attachments": [7001]},
         {"attachments": ['Invalid pk "7001" - object does not exist.']}),
        ({"body": "x", "from_email": "not an address"},
         {"from_email": ["Enter a valid email address."]}),
        (["x"], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)  # fmt: skip
def test_a_refused_comment_adds_nothing(api, sandbox, ticket, body, errors):
    response = comment(api, sandbox, ticket["id"], body)
    assert response.status_code == 400
    assert response.json() == errors
    assert fetched(api, sandbox, ticket["id"]) == ticket


# -- The control API and reset --


def test_the_control_api_changes_a_ticket_and_reset_brings_the_seeded_one_back(
    api, sandbox, ticket
):
    control = f"{sandbox.root_url}__sandbox__/tickets/{ticket['id']}"
    response = requests.post(
        control, json={"status": "solved", "comment": {"body": "Done", "author": AGENT}}, timeout=5
    )
    assert response.status_code == 200
    assert fetched(api, sandbox, ticket["id"]) == response.json()
    assert response.json()["comments"][-1]["body"] == "Done"
    assert requests.post(control, json={"id": 5}, timeout=5).status_code == 400
    assert requests.post(control, json={"comment": {"colour": 1}}, timeout=5).status_code == 400
    missing = f"{sandbox.root_url}__sandbox__/tickets/999999"
    assert requests.post(missing, json={}, timeout=5).status_code == 404
    assert requests.get(control, timeout=5).status_code == 405

    patch(api, sandbox, ticket["id"], {"priority": "high"})
    requests.post(sandbox.root_url + "__sandbox__/reset", timeout=5)
    assert fetched(api, sandbox, ticket["id"]) == ticket
