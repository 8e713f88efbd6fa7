"""The store's webhooks: registered through `/webhooks/` (or ahead of time, by the command
line), each with the events it wants, a target and a signing secret.

A webhook is the spec's Webhook object. `envelope` and `sign` are what the store sends for
an event: the JSON envelope, written with `json.dumps`' default separators so that the body
and the body as the store's Python sample re-serialises it (`json.dumps(json.loads(body))`)
are the same bytes, and the hex HMAC-SHA256 of it keyed with the webhook's secret.
"""

import copy
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from datetime import UTC, datetime

from .basics import timestamp
from .fields import boolean, char, choice, multiple_choice, url, validate
from .filters import Params, parse_webhook_query

# Every event the store's webhook docs list; the sandbox only ever sends the ticket ones.
EVENTS = (
    "app.uninstalled",
    "cart.abandoned",
    "customer.created",
    "customer.updated",
    "dispute.created",
    "dispute.updated",
    "gateway.created",
    "gateway.updated",
    "fulfillment.created",
    "fulfillment.updated",
    "order.created",
    "order.updated",
    "product.created",
    "product.deleted",
    "product.updated",
    "transaction.created",
    "transaction.updated",
    "subscription.created",
    "subscription.updated",
    "store.updated",
    "ticket.created",
    "ticket.updated",
)
TICKET_EVENTS = ("ticket.created", "ticket.updated")
# The sandbox serves one shape of data, so its webhooks speak that version only.
API_VERSIONS = ("unstable",)
STORE = "sandbox"  # the store's identifier in each envelope, its subdomain on a real store
SIGNATURE_HEADER = "X-29Next-Signature"


def webhook_fields() -> dict:
    return {
        "active": boolean(),
        "api_version": choice(API_VERSIONS, allow_null=True),
        "events": multiple_choice(EVENTS, allow_empty=False),
        "name": char(allow_null=True, allow_blank=True, max_length=255),
        "secret_key": char(allow_null=True, max_length=255),
        "target": url(max_length=255),
    }


class WebhookRegistry:
    """The store's webhooks by id. Those `preset` at start-up come back as they were on
    `reset`; those made through the API go."""

    def __init__(self):
        self._lock = threading.Lock()
        self._presets: list[dict] = []
        self._hooks: dict[int, dict] = {}
        self._next_id = 1

    def preset(self, target: str, secret_key: str, events=TICKET_EVENTS, name=None) -> dict:
        values = validate(
            {"target": target, "secret_key": secret_key, "events": list(events), "name": name},
            webhook_fields(),
        )
        hook = self._add(values)
        with self._lock:
            self._presets.append(copy.deepcopy(hook))
        return hook

    def create(self, payload: object) -> dict:
        """A new webhook from a Webhook body; `fields.Invalid` if refused. Without a `secret_key`,
        the store makes one, and answers with it."""
        return self._add(validate(payload, webhook_fields(), required=("events", "target")))

    def update(self, hook_id: int, payload: object) -> dict | None:
        values = validate(payload, webhook_fields())
        with self._lock:
            hook = self._hooks.get(hook_id)
            if hook is None:
                return None
            hook.update(_filled(values, creating=False))
            hook["updated_at"] = _now()
            return copy.deepcopy(hook)

    def delete(self, hook_id: int) -> bool:
        with self._lock:
            return self._hooks.pop(hook_id, None) is not None

    def get(self, hook_id: int | None) -> dict | None:
        with self._lock:
            hook = self._hooks.get(hook_id) if hook_id is not None else None
            return copy.deepcopy(hook) if hook else None

    def listing(self, params: Params | None = None) -> list[dict]:
        """Webhooks by id matching the Webhooks List filters; `FilterError` if invalid."""
        query = parse_webhook_query(params, EVENTS)
        with self._lock:
            hooks = [copy.deepcopy(hook) for _, hook in sorted(self._hooks.items())]
        return [hook for hook in hooks if query.matches(hook)]

    def subscribed(self, event_type: str) -> list[dict]:
        """The active webhooks that want `event_type`."""
        with self._lock:
            return [
                copy.deepcopy(hook)
                for _, hook in sorted(self._hooks.items())
                if hook["active"] and event_type in hook["events"]
            ]

    def is_active(self, hook_id: int) -> bool:
        with self._lock:
            hook = self._hooks.get(hook_id)
            return bool(hook and hook["active"])

    def disable(self, hook_id: int) -> None:
        """What a 410 from the target does."""
        self._change(hook_id, active=False)

    def warn(self, hook_id: int) -> None:
        """A delivery given up on after its last retry."""
        with self._lock:
            if hook_id in self._hooks:
                self._hooks[hook_id]["warning_count"] += 1

    def reset(self) -> None:
        with self._lock:
            self._hooks = {hook["id"]: copy.deepcopy(hook) for hook in self._presets}
            self._next_id = max(self._hooks, default=0) + 1

    def _add(self, values: dict) -> dict:
        moment = _now()
        with self._lock:
            hook = {
                "active": True,
                "created_at": moment,
                "id": self._next_id,
                "name": None,
                "next_check_date": None,
                "updated_at": moment,
                "warning_count": 0,
                **_filled(values, creating=True),
            }
            self._hooks[hook["id"]] = dict(sorted(hook.items()))
            self._next_id += 1
            return copy.deepcopy(self._hooks[hook["id"]])

    def _change(self, hook_id: int, **changes) -> None:
        with self._lock:
            if hook_id in self._hooks:
                self._hooks[hook_id].update(changes, updated_at=_now())


def _filled(values: dict, creating: bool) -> dict:
    """`values` with the store's defaults: the API version, and a secret the store makes
    when none is given (a null secret given in a change makes a new one)."""
    filled = dict(values)
    if creating or "api_version" in filled:
        filled["api_version"] = filled.get("api_version") or API_VERSIONS[0]
    if filled.get("secret_key") is None and (creating or "secret_key" in filled):
        filled["secret_key"] = secrets.token_urlsafe(32)
    return filled


def _now() -> str:
    return timestamp(datetime.now(UTC))


def envelope(hook: dict, event_type: str, ticket: dict) -> dict:
    """What the store POSTs for `event_type` on `ticket` to the webhook `hook`."""
    return {
        "api_version": hook["api_version"],
        "data": ticket,
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "object": "ticket",
        "webhook": {
            "events": list(hook["events"]),
            "id": hook["id"],
            "store": STORE,
            "target": hook["target"],
        },
    }


def body_of(payload: dict) -> bytes:
    # Default separators and ASCII escapes: json.dumps(json.loads(body)) gives the same bytes.
    return json.dumps(payload).encode()


def sign(body: bytes, secret_key: str) -> str:
    return hmac.new(secret_key.encode(), body, hashlib.sha256).hexdigest()
