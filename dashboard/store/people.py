"""People: the store's support agents by name (needs the `users:read` scope)."""

import logging
from dataclasses import dataclass

from dashboard.store import client, parse
from dashboard.store.errors import BadResponse, TicketNotFound, TokenRejected

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Person:
    id: int
    name: str


def staff(fetch=True):
    """The store's support agents, `{id: Person}`, so threads and walls show names, not numbers.

    Reading users needs the `users:read` scope; a token without it still gets every page, with
    agent ids instead of names.
    """
    return client.reference("users/", [("user_type", "dashboard")], _all_staff, fetch)


def _all_staff():
    try:
        # A support team, not a customer base: a few pages at most.
        items = list(client.every_result("users/", [("user_type", "dashboard")], max_pages=20))
    except (TokenRejected, TicketNotFound, BadResponse) as exc:
        logger.info("agent names unavailable (%s): showing agent ids", exc.code)
        return {}
    people = {}
    for item in items:
        name = " ".join(
            str(item.get(part) or "").strip() for part in ("first_name", "last_name")
        ).strip()
        people[parse.integer(item, "id")] = Person(
            id=parse.integer(item, "id"), name=name or str(item.get("email") or "")
        )
    return people
