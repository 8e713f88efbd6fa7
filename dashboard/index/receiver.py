"""The store's ticket webhooks, received: each delivery is checked (size, signature, JSON, the
spec's Ticket schema) and applied to the ticket index once, newest state winning.

The store signs a delivery with the hex HMAC-SHA256 of its payload, keyed with the webhook's
secret; its own sample signs the body as Python re-serialises it (`json.dumps(json.loads(body))`)
and other integrations see the raw bytes signed, so either is accepted, each compared in
constant time. Deliveries repeat (the same `event_id`), arrive late and out of order: a repeat
is applied once, and a ticket older than the one indexed (`data.updated_at`) changes nothing.
Nothing here calls the store: a delivery is answered from the database alone. Once applied,
the cached answers it makes wrong are dropped and open lists told (`changes`).
"""

import contextlib
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

import jsonschema
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dashboard.index import changes, query, rows
from dashboard.models import IndexedTicket, WebhookDelivery

logger = logging.getLogger(__name__)

MAX_BYTES = 1024 * 1024
# How long a delivery's event_id is kept to recognise a repeat: the store retries a delivery
# for several days, so a month covers every retry with room to spare.
DELIVERIES_KEPT = timedelta(days=30)
EVENTS = frozenset({"ticket.created", "ticket.updated"})
SCHEMA = Path(__file__).with_name("ticket.schema.json")


@dataclass(frozen=True)
class Answer:
    status: int
    outcome: str  # said in the answer's body and the log: applied, repeat, older, ignored...


def signed(body: bytes, signature: str, secret: str) -> bool:
    """Whether `signature` is the HMAC of the raw body, or of the body re-serialised."""
    key, given = secret.encode(), signature.strip().lower()
    payloads = [body]
    with contextlib.suppress(ValueError):
        payloads.append(json.dumps(json.loads(body)).encode())
    matched = False
    for payload in payloads:  # every form compared, so the time says nothing of which matched
        expected = hmac.new(key, payload, hashlib.sha256).hexdigest()
        matched |= hmac.compare_digest(expected, given)
    return matched


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft202012Validator(schema)


def receive(body: bytes) -> Answer:
    """Apply a delivery whose signature was checked. Unknown fields are ignored."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return Answer(400, "not JSON")
    if not isinstance(envelope, dict):
        return Answer(400, "not a delivery")
    if envelope.get("event_type") not in EVENTS:
        return Answer(200, "ignored")  # anything but 200 would have the store retry it
    ticket, event_id = envelope.get("data"), envelope.get("event_id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 64:
        return Answer(400, "no event_id")
    error = jsonschema.exceptions.best_match(_validator().iter_errors(ticket))
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "data"
        logger.warning("webhook refused: %s at %s", error.validator, where)
        return Answer(400, f"not a Ticket ({where})")
    return _apply(envelope["event_type"], event_id, ticket)


def _apply(event_type: str, event_id: str, ticket: dict) -> Answer:
    updated_at = parse_datetime(ticket["updated_at"])
    created_at = parse_datetime(ticket["created_at"])
    if updated_at is None or created_at is None:
        return Answer(400, "not a Ticket (dates)")
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                event_id=event_id, event_type=event_type, ticket_id=ticket["id"]
            )
            held = IndexedTicket.objects.select_for_update().filter(pk=ticket["id"]).first()
            before = query.as_ticket(held) if held is not None else None
            if not rows.write_if_newer(ticket, created_at, updated_at):
                return Answer(200, "older")  # a late delivery: the index holds a newer state
    except IntegrityError:
        return Answer(200, "repeat")  # this event_id was applied already
    changes.ticket_changed(before, ticket)  # committed: what it makes wrong goes
    forget_deliveries(timezone.now() - DELIVERIES_KEPT)
    return Answer(200, "applied")


def forget_deliveries(before) -> int:
    """Drop the event ids received before `before`: no retry of theirs can come any more."""
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=before).delete()
    return deleted
