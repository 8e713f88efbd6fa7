"""A store that lives: now and then a new ticket arrives and an open one changes, as a support
team and its customers would change it, each change pushed to the webhooks like any other.

About every `every` seconds one recent, unfinished ticket changes (its status moves on, its
priority or assignee changes, or the customer writes again), and about every `2 * every`
seconds a ticket arrives. The times vary by a fifth either way; the choices come from a
generator seeded from the store's seed, so a run can be repeated.
"""

import random
import threading
import time

from . import content
from .basics import fill
from .data import SandboxData
from .people import AGENT_IDS

# Where a ticket goes next, as a team works through its queue.
NEXT_STATUS = {
    "new": ("open",),
    "open": ("pending", "solved"),
    "pending": ("open", "solved"),
    "solved": ("closed", "open"),
}
# How far back to look for a ticket to change: the top of the queue is where the work is.
RECENT = 60


class Churn:
    def __init__(self, data: SandboxData, every: float, seed: int = 29):
        if every <= 0:
            raise ValueError("the churn interval must be more than 0 seconds")
        self.data = data
        self.every = every
        self.rng = random.Random(seed * 104729 + 3)

    def run(self, stopping: threading.Event) -> None:
        """Change and add tickets until `stopping` is set."""
        next_change = time.monotonic() + self._about(self.every)
        next_arrival = time.monotonic() + self._about(2 * self.every)
        while not stopping.wait(max(0.0, min(next_change, next_arrival) - time.monotonic())):
            now = time.monotonic()
            if now >= next_arrival:
                self.data.add_ticket()
                next_arrival = now + self._about(2 * self.every)
            if now >= next_change:
                self.change_one()
                next_change = now + self._about(self.every)

    def change_one(self) -> dict | None:
        """Change one recent ticket still being worked on; the changed ticket, or None."""
        candidates = [
            ticket for ticket in self.data.tickets[:RECENT] if ticket["status"] in NEXT_STATUS
        ]
        if not candidates:
            return None
        ticket = self.rng.choice(candidates)
        kind = self.rng.choices(
            ("status", "priority", "assignee", "customer"), weights=(35, 15, 20, 30)
        )[0]
        changes, comment = getattr(self, f"_{kind}")(ticket)
        return self.data.update_ticket(ticket["id"], changes, comment)

    def _status(self, ticket: dict) -> tuple[dict, None]:
        status = self.rng.choice(NEXT_STATUS[ticket["status"]])
        changes = {"status": status}
        if status == "open" and ticket["assignee"] is None:
            changes["assignee"] = self._agent()  # picked up by someone
        return changes, None

    def _priority(self, ticket: dict) -> tuple[dict, None]:
        others = [p for p in ("high", "medium", "low") if p != ticket["priority"]]
        return {"priority": self.rng.choice(others)}, None

    def _assignee(self, ticket: dict) -> tuple[dict, None]:
        others = [agent for agent in AGENT_IDS if agent != ticket["assignee"]]
        return {"assignee": self.rng.choice(others)}, None

    def _customer(self, ticket: dict) -> tuple[dict, dict]:
        """The customer writes again; a ticket waiting on them or solved opens again."""
        agent = self.data.user(ticket["assignee"]) if ticket["assignee"] else None
        body = fill(
            self.rng.choice(content.CUSTOMER_NUDGES + content.CUSTOMER_THANKS),
            {"agent_first": agent["first_name"] if agent else "there"},
        )
        comment = {
            "author": ticket["requester"],
            "body": body,
            "from_email": None if ticket["requester"] else ticket["from_email"],
            "is_public": True,
        }
        changes = {"status": "open"} if ticket["status"] in ("pending", "solved") else {}
        return changes, comment

    def _agent(self) -> int:
        return self.rng.choice(AGENT_IDS)

    def _about(self, seconds: float) -> float:
        return seconds * self.rng.uniform(0.8, 1.2)
