"""The store's webhooks: registering the dashboard's receiver (`POST webhooks/`, scope
`webhooks:write`)."""

from collections.abc import Sequence
from dataclasses import dataclass

from dashboard.store import client, parse

SCOPE = "webhooks:write"


@dataclass(frozen=True)
class Webhook:
    """A webhook as the store registered it (its secret is never kept here)."""

    id: int
    name: str
    target: str
    events: tuple[str, ...]
    active: bool


def create_webhook(
    name: str, target: str, events: Sequence[str], secret: str, api_version: str
) -> Webhook:
    """Register a webhook that signs its deliveries with `secret` and describes tickets as
    `api_version` has them (the shape the receiver checks)."""
    body = {
        "name": name,
        "target": target,
        "events": list(events),
        "secret_key": secret,
        "api_version": api_version,
    }
    answer = client.send("POST", "webhooks/", body, scope=SCOPE)
    return Webhook(
        id=parse.integer(answer, "id"),
        name=parse.text(answer, "name"),
        target=parse.text(answer, "target"),
        events=tuple(str(event) for event in parse.items(answer, "events") if event),
        active=answer.get("active") is not False,
    )
