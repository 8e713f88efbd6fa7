"""The sandbox store's webhooks: `/webhooks/` as the spec has it, and every ticket change
pushed, signed, to the webhooks that want it, retried, repeated and reordered as a real store
does; and, end to end, the dashboard's receiver taking those deliveries into its index."""

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime

import pytest
import requests

from dashboard.models import IndexedTicket
from tests.webhook_receiver import Receiver
from tools.processes import SandboxProcess
from tools.sandbox.deliveries import DeliveryPolicy
from tools.sandbox.server import SandboxServer

ANCHOR = datetime(2026, 3, 10, 12, tzinfo=UTC)
TOKEN = "sandbox-token"
SECRET = "whsec-sandbox-5d0c2b71"
# Quick to retry, and no repeats or hold-backs unless a test asks for them.
QUICK = DeliveryPolicy(
    retry_base=0.05, retry_cap=0.2, max_attempts=4, timeout=5, repeat_rate=0, hold_rate=0,
    hold_seconds=0.3,
)  # fmt: skip
WEBHOOK_KEYS = {"active", "api_version", "created_at", "events", "id", "name", "next_check_date",
                "secret_key", "target", "updated_at", "warning_count"}  # fmt: skip
NOWHERE = "http://127.0.0.1:9/"  # the discard port: nothing listens


@pytest.fixture(scope="module")
def store():
    server = SandboxServer(port=0, token=TOKEN, tickets=60, anchor=ANCHOR, delivery_policy=QUICK)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh(store):
    store.reset()
    yield
    store.reset()


@pytest.fixture
def api():
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {TOKEN}", "X-29next-API-Version": "unstable"})
    yield session
    session.close()


@pytest.fixture
def receiver():
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def hook(api, store, receiver):
    """A webhook for both ticket events, to the test's receiver, with the test's secret."""
    response = api.post(
        store.base_url + "webhooks/",
        json={"name": "Desk", "target": receiver.url, "secret_key": SECRET,
              "events": ["ticket.created", "ticket.updated"]},
        timeout=5,
    )  # fmt: skip
    assert response.status_code == 201
    return response.json()


def a_ticket(store):
    return store.data.tickets[3]


def change(api, store, ticket_id, **fields):
    response = api.patch(f"{store.base_url}tickets/{ticket_id}/", json=fields, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def signature(body, secret=SECRET):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def settled(store):
    assert store.deliveries.wait_idle(10), store.deliveries.stats()
    return store.deliveries.stats()


# -- /webhooks/ --


def test_webhooks_are_created_listed_changed_and_deleted(api, store):
    url = store.base_url + "webhooks/"
    given = api.post(url, json={"events": ["ticket.updated"], "target": "https://desk.example.test/in",
                                "secret_key": "mine"}, timeout=5)  # fmt: skip
    made = api.post(url, json={"events": ["order.created", "ticket.created"],
                               "target": "http://127.0.0.1:9/hooks/"}, timeout=5)  # fmt: skip

    assert given.status_code == made.status_code == 201
    first, second = given.json(), made.json()
    assert set(first) == set(second) == WEBHOOK_KEYS
    assert first["secret_key"] == "mine"
    assert len(second["secret_key"]) >= 32  # none given: the store made one, and says it
    assert (first["active"], first["api_version"], first["warning_count"]) == (True, "unstable", 0)
    assert first["next_check_date"] is None and first["name"] is None
    listed = api.get(url, timeout=5).json()
    assert listed == {"next": None, "previous": None, "results": [first, second]}
    assert api.get(f"{url}{second['id']}/", timeout=5).json() == second

    changed = api.patch(f"{url}{first['id']}/", json={"active": False, "name": "Off"}, timeout=5)
    assert changed.status_code == 200
    assert changed.json() == {**first, "active": False, "name": "Off",
                              "updated_at": changed.json()["updated_at"]}  # fmt: skip
    assert api.get(url, params={"active": "false"}, timeout=5).json()["results"] == [changed.json()]
    assert [h["id"] for h in api.get(url, params={"name": "Off"}, timeout=5).json()["results"]] == [
        first["id"]
    ]
    deleted = api.delete(f"{url}{first['id']}/", timeout=5)
    assert deleted.status_code == 204 and deleted.content == b""
    assert "Content-Type" not in deleted.headers
    assert api.get(f"{url}{first['id']}/", timeout=5).status_code == 404
    assert api.delete(f"{url}{first['id']}/", timeout=5).status_code == 404
    assert api.put(f"{url}{second['id']}/", json={}, timeout=5).headers["Allow"] == (
        "GET, PATCH, DELETE, HEAD, OPTIONS"
    )


@pytest.mark.parametrize(
    "body, errors",
    [
        ({}, {"events": ["This field is required."], "target": ["This field is required."]}),
        ({"events": [], "target": NOWHERE},
         {"events": ["This selection may not be empty."]}),
        ({"events": ["ticket.deleted"], "target": NOWHERE},
         {"events": ['"ticket.deleted" is not a valid choice.']}),
        ({"events": "ticket.created", "target": NOWHERE},
         {"events": ['Expected a list of items but got type "str".']}),
        ({"events": ["ticket.created"], "target": "desk.example.test/in"},
         {"target": ["Enter a valid URL."]}),
        ({"events": ["ticket.created"], "target": "https://x.test/" + "a" * 250},
         {"target": ["Ensure this field has no more than 255 characters."]}),
        ({"events": ["ticket.created"], "target": NOWHERE, "api_version": "2023-02-10"},
         {"api_version": ['"2023-02-10" is not a valid choice.']}),
        ({"events": ["ticket.created"], "target": NOWHERE, "active": "maybe"},
         {"active": ["Must be a valid boolean."]}),
        ({"events": ["ticket.created"], "target": NOWHERE, "active": 1},
         {"active": ["Must be a valid boolean."]}),
        ({"events": ["ticket.created"], "target": NOWHERE, "name": 7, "secret_key": 12345},
         {"name": ["Not a valid string."], "secret_key": ["Not a valid string."]}),
    ],
)  # fmt: skip
def test_a_refused_webhook_is_not_registered(api, store, body, errors):
    response = api.post(store.base_url + "webhooks/", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json() == errors
    assert api.get(store.base_url + "webhooks/", timeout=5).json()["results"] == []


def test_the_webhooks_list_filters_are_validated(api, store, hook):
    url = store.base_url + "webhooks/"
    ticket_created = 21  # its place in the store's list of events, which the spec numbers
    assert api.get(url, params={"events": ticket_created}, timeout=5).json()["results"] == [hook]
    assert api.get(url, params={"events": 11}, timeout=5).json()["results"] == []  # order.created
    bad = api.get(url, params={"events": "ticket.created", "active": "yes"}, timeout=5)
    assert bad.status_code == 400
    assert set(bad.json()) == {"events", "active"}


def test_webhooks_need_their_scopes(api, store, hook):
    url = store.base_url + "webhooks/"
    store.configure(scopes=["tickets:read", "webhooks:read"])
    assert api.get(url, timeout=5).status_code == 200
    for response in (
        api.post(url, json={"events": ["ticket.created"], "target": NOWHERE}, timeout=5),
        api.patch(f"{url}{hook['id']}/", json={"active": False}, timeout=5),
        api.delete(f"{url}{hook['id']}/", timeout=5),
    ):  # fmt: skip
        assert response.status_code == 403
    store.configure(scopes=["tickets:read", "webhooks:write"])
    assert api.get(url, timeout=5).status_code == 403
    assert api.get(f"{url}{hook['id']}/", timeout=5).status_code == 403
    assert store.webhooks.get(hook["id"]) == hook  # nothing changed


# -- Deliveries --


def test_a_change_is_pushed_signed_with_the_ticket_as_the_api_returns_it(
    api, store, receiver, hook
):
    ticket = a_ticket(store)
    changed = change(api, store, ticket["id"], status="pending", tags=["vip"])

    (delivery,) = receiver.wait_for(1)
    assert delivery.path == "/hooks/tickets/"
    assert delivery.headers["content-type"] == "application/json"
    sent = delivery.payload
    assert sent == {
        "api_version": "unstable",
        "data": changed,
        "event_id": sent["event_id"],
        "event_type": "ticket.updated",
        "object": "ticket",
        "webhook": {"events": ["ticket.created", "ticket.updated"], "id": hook["id"],
                    "store": "sandbox", "target": receiver.url},
    }  # fmt: skip
    assert sent["data"] == api.get(f"{store.base_url}tickets/{ticket['id']}/", timeout=5).json()
    assert uuid.UUID(sent["event_id"]).version == 4
    # The signature holds over the body as sent and as the store's Python sample rewrites it.
    given = delivery.headers["x-29next-signature"]
    assert given == signature(delivery.body)
    assert given == signature(json.dumps(json.loads(delivery.body)).encode())
    assert given != signature(delivery.body, "another secret")
    assert settled(store)["delivered"] == 1


def test_arrivals_comments_and_control_changes_are_pushed_too(api, store, receiver, hook):
    ticket = a_ticket(store)
    control = store.root_url + "__sandbox__/tickets"
    added = requests.post(control, json={"subject": "New"}, timeout=5)
    commented = api.post(
        f"{store.base_url}tickets/{ticket['id']}/comments/", json={"body": "Any news?"}, timeout=5
    )
    controlled = requests.post(f"{control}/{ticket['id']}", json={"priority": "high"}, timeout=5)

    deliveries = [d.payload for d in receiver.wait_for(3)]
    assert [(d["event_type"], d["data"]) for d in deliveries] == [
        ("ticket.created", added.json()),
        ("ticket.updated", commented.json()),
        ("ticket.updated", controlled.json()),
    ]
    assert deliveries[1]["data"]["comments"][-1]["body"] == "Any news?"
    assert len({d["event_id"] for d in deliveries}) == 3


def test_every_write_moves_updated_at_on_and_its_delivery_carries_it(api, store, receiver, hook):
    ticket = a_ticket(store)
    url = f"{store.base_url}tickets/{ticket['id']}/"
    answers = [
        api.patch(url, json={"priority": "high"}, timeout=5),
        api.post(url + "comments/", json={"body": "Any news?"}, timeout=5),
        api.patch(url, json={"comment": {"body": "Chased.", "is_public": False}}, timeout=5),
        api.put(url, json={"status": "pending"}, timeout=5),
        api.patch(url, json={}, timeout=5),  # nothing changed, and still a write
    ]
    assert [answer.status_code for answer in answers] == [200] * 5

    stamps = [ticket["updated_at"], *(answer.json()["updated_at"] for answer in answers)]
    assert stamps == sorted(set(stamps))  # strictly later each time, within a second too
    deliveries = [d.payload for d in receiver.wait_for(5)]
    assert [d["event_type"] for d in deliveries] == ["ticket.updated"] * 5
    assert [d["data"]["updated_at"] for d in deliveries] == stamps[1:]


def test_only_active_webhooks_wanting_the_event_get_it(api, store, receiver, hook):
    url = store.base_url + "webhooks/"
    created_only = api.post(url, json={"events": ["ticket.created"], "target": receiver.url},
                            timeout=5).json()  # fmt: skip
    api.post(url, json={"events": ["ticket.updated"], "target": receiver.url, "active": False},
             timeout=5)  # fmt: skip
    change(api, store, a_ticket(store)["id"], priority="high")
    store.data.add_ticket()

    settled(store)
    sent = [(d.payload["webhook"]["id"], d.payload["event_type"]) for d in receiver.received]
    assert sorted(sent) == sorted(
        [(hook["id"], "ticket.updated"), (hook["id"], "ticket.created"),
         (created_only["id"], "ticket.created")]
    )  # fmt: skip
    # Each webhook signs with its own secret.
    theirs = next(d for d in receiver.received if d.payload["webhook"]["id"] == created_only["id"])
    secret = created_only["secret_key"]
    assert theirs.headers["x-29next-signature"] == signature(theirs.body, secret)


def test_a_refused_change_pushes_nothing(api, store, receiver, hook):
    response = api.patch(f"{store.base_url}tickets/{a_ticket(store)['id']}/",
                         json={"status": "bogus"}, timeout=5)  # fmt: skip
    assert response.status_code == 400
    assert settled(store)["queued"] == 0 and receiver.received == []


def test_a_slow_receiver_never_holds_up_the_api(api, store, receiver, hook):
    receiver.hold()
    ticket = a_ticket(store)
    for status in ("open", "pending", "solved"):
        # Answered while the first delivery is still waiting for the receiver.
        change(api, store, ticket["id"], status=status)
    assert store.deliveries.stats()["pending"] == 3
    assert not store.deliveries.wait_idle(0.2)
    receiver.release()

    statuses = [d.payload["data"]["status"] for d in receiver.wait_for(3)]
    assert statuses == ["open", "pending", "solved"]  # one at a time, in order
    assert settled(store)["delivered"] == 3


def test_a_failed_delivery_is_retried_with_the_same_event_and_signature(api, store, receiver, hook):
    receiver.answer(500, 503)
    change(api, store, a_ticket(store)["id"], priority="high")

    first, second, third = receiver.wait_for(3)
    assert [d.answered for d in (first, second, third)] == [500, 503, 200]
    assert first.body == second.body == third.body
    assert first.headers["x-29next-signature"] == third.headers["x-29next-signature"]
    stats = settled(store)
    assert (stats["sent"], stats["failed"], stats["retried"], stats["delivered"]) == (3, 2, 2, 1)
    assert [entry["attempt"] for entry in store.deliveries.log()] == [1, 2, 3]


def test_a_delivery_no_one_takes_is_given_up_after_its_last_try(api, store, hook):
    api.patch(f"{store.base_url}webhooks/{hook['id']}/", json={"target": NOWHERE}, timeout=5)
    change(api, store, a_ticket(store)["id"], priority="high")

    stats = settled(store)
    assert (stats["sent"], stats["failed"], stats["given_up"], stats["delivered"]) == (4, 4, 1, 0)
    assert all(entry["status"] is None and entry["error"] for entry in store.deliveries.log())
    assert store.webhooks.get(hook["id"])["warning_count"] == 1
    assert store.webhooks.get(hook["id"])["active"]  # only a 410 turns it off


def test_410_disables_the_webhook(api, store, receiver, hook):
    receiver.answer(410)
    ticket = a_ticket(store)
    change(api, store, ticket["id"], priority="high")
    receiver.wait_for(1)
    settled(store)

    shown = api.get(f"{store.base_url}webhooks/{hook['id']}/", timeout=5).json()
    assert shown["active"] is False
    change(api, store, ticket["id"], priority="low")
    stats = settled(store)
    assert (stats["sent"], stats["disabled"], stats["retried"]) == (1, 1, 0)
    assert len(receiver.received) == 1  # nothing more for a disabled webhook


def test_a_repeat_keeps_its_event_id_body_and_signature(api, store, receiver, hook):
    store.deliveries.configure(repeat_rate=1.0)
    change(api, store, a_ticket(store)["id"], priority="high")

    first, again = receiver.wait_for(2)
    assert first.payload["event_id"] == again.payload["event_id"]
    assert first.body == again.body
    assert first.headers["x-29next-signature"] == again.headers["x-29next-signature"]
    stats = settled(store)
    assert (stats["delivered"], stats["repeated"]) == (2, 1)  # repeated once, not forever


def test_a_delivery_held_back_arrives_after_a_later_one(api, store, receiver, hook):
    ticket = a_ticket(store)
    store.deliveries.configure(hold_rate=1.0)
    older = change(api, store, ticket["id"], status="pending")
    store.deliveries.configure(hold_rate=0.0)
    newer = change(api, store, ticket["id"], status="solved")

    arrived = [d.payload["data"] for d in receiver.wait_for(2)]
    assert arrived == [newer, older]
    assert arrived[0]["updated_at"] > arrived[1]["updated_at"]  # how a receiver tells them apart
    assert settled(store)["held_back"] == 1


def test_quirks_come_from_a_seeded_generator(receiver):
    def quirks(seed):
        policy = DeliveryPolicy(retry_base=0.05, repeat_rate=0.3, hold_rate=0.3,
                                hold_seconds=0.05, seed=seed)  # fmt: skip
        with SandboxServer(port=0, tickets=20, anchor=ANCHOR, delivery_policy=policy,
                           webhook_url=receiver.url, webhook_secret=SECRET) as server:  # fmt: skip
            for status in ("open", "pending", "solved", "closed") * 3:
                server.data.update_ticket(server.data.tickets[0]["id"], {"status": status})
            assert server.deliveries.wait_idle(10)
            stats = server.deliveries.stats()
            return stats["repeated"], stats["held_back"]

    assert quirks(7) == quirks(7)
    assert sum(quirks(7)) > 0


def test_the_control_api_shows_deliveries_and_waits_for_them(api, store, receiver, hook):
    receiver.hold()
    change(api, store, a_ticket(store)["id"], priority="high")
    wait = store.root_url + "__sandbox__/deliveries/wait"
    busy = requests.post(wait, json={"timeout": 0.1}, timeout=5)
    assert busy.status_code == 504 and busy.json()["stats"]["pending"] == 1
    receiver.release()

    done = requests.post(wait, json={"timeout": 10}, timeout=15)
    assert done.status_code == 200 and done.json()["idle"] is True
    shown = requests.get(store.root_url + "__sandbox__/deliveries", timeout=5).json()
    assert shown["stats"]["delivered"] == 1 and shown["stats"]["pending"] == 0
    (entry,) = shown["log"]
    assert (entry["status"], entry["event_type"], entry["webhook"]) == (
        200, "ticket.updated", hook["id"],
    )  # fmt: skip
    assert SECRET not in json.dumps(shown)
    changed = requests.post(store.root_url + "__sandbox__/deliveries", json={"max_attempts": 2},
                            timeout=5)  # fmt: skip
    assert changed.json()["max_attempts"] == 2
    refused = requests.post(store.root_url + "__sandbox__/deliveries", json={"hold_rate": 2},
                            timeout=5)  # fmt: skip
    assert refused.status_code == 400
    requests.post(store.root_url + "__sandbox__/reset", timeout=5)
    assert store.deliveries.policy()["max_attempts"] == QUICK.max_attempts
    assert store.webhooks.listing() == []  # a webhook made through the API goes on reset


def test_the_command_line_registers_a_webhook_and_churns(tmp_path, receiver):
    log = tmp_path / "sandbox.log"
    sandbox = SandboxProcess(
        "--tickets", "40", "--webhook-url", receiver.url, "--webhook-secret", SECRET,
        "--churn", "--churn-every", "0.2", "--webhook-quirks", "0", log_path=log,
    )  # fmt: skip
    try:
        deliveries = receiver.wait_for(6, timeout=20)
        hooks = requests.get(
            sandbox.api + "webhooks/",
            headers={"Authorization": f"Bearer {TOKEN}", "X-29next-API-Version": "unstable"},
            timeout=5,
        ).json()["results"]
        # A reset keeps the webhook given on the command line.
        requests.post(sandbox.root + "/__sandbox__/reset", timeout=5)
        after_reset = requests.get(sandbox.root + "/__sandbox__/", timeout=5).json()["webhooks"]
    finally:
        assert sandbox.stop() == 0

    assert [(h["target"], h["events"]) for h in hooks] == [
        (receiver.url, ["ticket.created", "ticket.updated"])
    ]
    assert after_reset == [receiver.url]
    assert {d.payload["event_type"] for d in deliveries} == {"ticket.created", "ticket.updated"}
    assert all(d.headers["x-29next-signature"] == signature(d.body) for d in deliveries)
    changed = [d.payload["data"] for d in deliveries if d.payload["event_type"] == "ticket.updated"]
    assert all(t["updated_at"] > t["created_at"] for t in changed)
    assert SECRET not in log.read_text()
    assert receiver.url in log.read_text()


# -- End to end: the dashboard's receiver --


def test_the_dashboard_takes_the_sandbox_deliveries_into_its_index(live_server, settings):
    settings.NEXT_WEBHOOK_SECRET = SECRET
    target = f"{live_server.url}/webhooks/next/"
    policy = DeliveryPolicy(retry_base=0.05, retry_cap=0.2, max_attempts=5, repeat_rate=0.5,
                            hold_rate=0.5, hold_seconds=0.2)  # fmt: skip
    with SandboxServer(port=0, tickets=60, anchor=ANCHOR, delivery_policy=policy,
                       webhook_url=target, webhook_secret=SECRET) as sandbox:  # fmt: skip
        odd = set(sandbox.data.special_ticket_ids.values())
        ticket = next(t for t in sandbox.data.tickets if t["id"] not in odd)
        for status in ("open", "pending", "solved"):
            sandbox.data.update_ticket(ticket["id"], {"status": status})
        final = sandbox.data.update_ticket(ticket["id"], {"assignee": 8}, {"body": "Done."})
        arrived = sandbox.data.add_ticket(subject="Just arrived")

        # The receiver answers once a delivery is committed: when none is left to send, every
        # one is in the index (and the database is read only once the server is done with it).
        assert sandbox.deliveries.wait_idle(15), sandbox.deliveries.stats()
        stats = sandbox.deliveries.stats()

    indexed = IndexedTicket.objects.get(pk=ticket["id"])
    # Repeats and late arrivals change nothing: the newest state is what is indexed.
    assert (indexed.status, indexed.assignee) == ("solved", 8)
    assert indexed.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ") == final["updated_at"]
    assert indexed.comments.count() == len(final["comments"])
    assert IndexedTicket.objects.get(pk=arrived["id"]).subject == "Just arrived"
    # Every delivery, repeats included, was answered 200: signed as the receiver expects.
    assert stats["failed"] == 0 and stats["delivered"] == stats["queued"] + stats["repeated"]
