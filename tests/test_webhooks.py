"""`POST /webhooks/next/`: the store's ticket deliveries, checked and applied to the ticket index
once, newest state winning, without a call to the store."""

import copy
import hashlib
import hmac
import json
import uuid

import pytest
from django.test import Client

from dashboard.models import IndexedComment, IndexedTicket, WebhookDelivery

SECRET = "whsec-test-7c1f0a9e"
URL = "/webhooks/next/"


@pytest.fixture
def webhooks_on(settings, db):
    settings.NEXT_WEBHOOK_SECRET = SECRET
    return Client()  # the store signs in to nothing


def ticket(**fields):
    """A Ticket as the spec's webhook sample has it, with a customer and an agent's reply."""
    data = {
        "id": 4242,
        "subject": "Where is my parcel?",
        "status": "open",
        "priority": "high",
        "channel": "email",
        "requester": 31,
        "assignee": 4,
        "ticket_type": 2,
        "from_email": "anna@example.test",
        "order": "100482",
        "products": [12, 40],
        "tags": ["Refunds", "VIP"],
        "created_at": "2026-12-01T09:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z",
        "comments": [
            {"id": 1, "author": 31, "from_email": None, "is_public": True,
             "body": "It never came.", "created_at": "2026-12-01T09:00:00Z",
             "attachments": []},
            {"id": 2, "author": 4, "from_email": None, "is_public": False,
             "body": "Checking with the carrier.", "created_at": "2026-12-01T10:00:00Z",
             "attachments": [{"file": None, "file_name": None, "id": None}]},
        ],
        "a_field_from_a_later_api": {"ignored": True},
    }  # fmt: skip
    data.update(fields)
    return data


def delivery(data=None, event_type="ticket.updated", event_id=None):
    return {
        "api_version": "unstable",
        "data": ticket() if data is None else data,
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "object": "ticket",
        "webhook": {"events": [event_type], "id": 1, "store": "example", "target": "x"},
    }


def sign(body, secret=SECRET):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client, payload, signature=None, raw=None, resign=False):
    """Deliver `payload` as the store would: compact JSON signed over its raw bytes, or (with
    `resign`) signed over the body as the store's Python sample re-serialises it."""
    body = raw if raw is not None else json.dumps(payload, separators=(",", ":")).encode()
    if signature is None:
        signed = json.dumps(json.loads(body)).encode() if resign else body
        signature = sign(signed)
    headers = {"X-29Next-Signature": signature} if signature else {}
    return client.post(URL, body, content_type="application/json", headers=headers)


@pytest.mark.parametrize("resign", [False, True], ids=["raw body", "re-serialised"])
def test_a_signed_delivery_is_indexed_without_its_words(webhooks_on, resign, sandbox):
    response = post(webhooks_on, delivery(), resign=resign)
    assert response.status_code == 200 and response.json() == {"outcome": "applied"}
    indexed = IndexedTicket.objects.get(pk=4242)
    assert (indexed.status, indexed.priority, indexed.channel) == ("open", "high", "email")
    assert (indexed.requester, indexed.assignee, indexed.ticket_type) == (31, 4, 2)
    assert indexed.tags == ["Refunds", "VIP"] and indexed.products == [12, 40]
    assert indexed.order_number == "100482" and indexed.from_email == "anna@example.test"
    comments = list(IndexedComment.objects.filter(ticket=indexed))
    assert [(c.comment_id, c.author, c.is_public) for c in comments] == [
        (1, 31, True),
        (2, 4, False),
    ]
    assert not any(hasattr(c, "body") for c in comments)  # the words stay in the store
    assert sandbox.stats()["calls"] == 0  # and the store was asked nothing


def test_refusals(webhooks_on):
    good = json.dumps(delivery()).encode()
    assert post(webhooks_on, None, raw=good, signature="").status_code == 401
    assert post(webhooks_on, None, raw=good, signature="0" * 64).status_code == 403
    assert post(webhooks_on, None, raw=good, signature=sign(good, "another")).status_code == 403
    not_json = b"{not json"
    assert post(webhooks_on, None, raw=not_json).status_code == 400
    for broken in (ticket(id="4242"), ticket(updated_at=None), ticket(tags="VIP"),
                   {k: v for k, v in ticket().items() if k != "created_at"}):  # fmt: skip
        assert post(webhooks_on, delivery(broken)).status_code == 400
    assert not IndexedTicket.objects.exists()
    assert webhooks_on.get(URL).status_code == 405


def test_over_a_mebibyte_is_refused_before_it_is_read(webhooks_on):
    huge = delivery(ticket(subject="x" * (1024 * 1024)))
    response = post(webhooks_on, huge)
    assert response.status_code == 413
    assert not IndexedTicket.objects.exists()


def test_an_event_it_does_not_use_is_answered_200_and_ignored(webhooks_on):
    response = post(webhooks_on, delivery(event_type="order.created", data={"id": 1}))
    assert response.status_code == 200 and response.json() == {"outcome": "ignored"}
    assert not WebhookDelivery.objects.exists()


def test_a_repeated_delivery_is_applied_once(webhooks_on):
    first = delivery()
    assert post(webhooks_on, first).json() == {"outcome": "applied"}
    IndexedTicket.objects.filter(pk=4242).update(status="solved")  # changed since, elsewhere
    again = post(webhooks_on, first)
    assert again.status_code == 200 and again.json() == {"outcome": "repeat"}
    assert IndexedTicket.objects.get(pk=4242).status == "solved"


def test_a_late_delivery_of_an_older_state_changes_nothing(webhooks_on):
    newer = ticket(status="solved", updated_at="2026-12-01T12:00:00Z")
    older = ticket(status="open", updated_at="2026-12-01T11:00:00Z", comments=[])
    assert post(webhooks_on, delivery(newer)).json() == {"outcome": "applied"}
    late = post(webhooks_on, delivery(older))
    assert late.status_code == 200 and late.json() == {"outcome": "older"}
    indexed = IndexedTicket.objects.get(pk=4242)
    assert indexed.status == "solved" and indexed.comments.count() == 2


def test_a_newer_state_replaces_the_ticket_and_its_comments(webhooks_on):
    post(webhooks_on, delivery(event_type="ticket.created"))
    reply = {"id": 3, "author": 31, "from_email": None, "is_public": True,
             "created_at": "2026-12-01T13:00:00Z", "attachments": []}  # fmt: skip
    later = copy.deepcopy(ticket(updated_at="2026-12-01T13:00:00Z", status="new"))
    later["comments"].append(reply)
    assert post(webhooks_on, delivery(later)).json() == {"outcome": "applied"}
    indexed = IndexedTicket.objects.get(pk=4242)
    assert indexed.status == "new"
    assert [c.comment_id for c in indexed.comments.all()] == [1, 2, 3]


def test_a_ticket_without_an_order_priority_or_subject_is_indexed(webhooks_on):
    # Stores send these as null; refusing them would have the store retry until it gives up.
    bare = ticket(order=None, priority=None, subject=None)
    assert post(webhooks_on, delivery(bare)).json() == {"outcome": "applied"}
    indexed = IndexedTicket.objects.get(pk=4242)
    assert (indexed.order_number, indexed.priority, indexed.subject) == ("", "", "")


def test_without_a_secret_there_is_no_receiver(client, settings, db):
    settings.NEXT_WEBHOOK_SECRET = ""
    body = json.dumps(delivery()).encode()
    response = client.post(URL, body, content_type="application/json",
                           headers={"X-29Next-Signature": sign(body)})  # fmt: skip
    assert response.status_code == 404


def test_the_index_is_purged_on_demand_and_old_delivery_ids_by_themselves(webhooks_on):
    from datetime import timedelta
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    post(webhooks_on, delivery())
    old = WebhookDelivery.objects.create(event_id="old", event_type="ticket.updated", ticket_id=1)
    WebhookDelivery.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - timedelta(days=31)
    )
    post(webhooks_on, delivery(ticket(updated_at="2026-12-02T10:00:00Z")))
    assert not WebhookDelivery.objects.filter(pk="old").exists()  # no retry can come now
    assert WebhookDelivery.objects.count() == 2

    out = StringIO()
    call_command("purge_index", stdout=out)
    assert "1 tickets, 2 comment records, 2 delivery ids" in out.getvalue()
    assert not IndexedTicket.objects.exists() and not IndexedComment.objects.exists()
