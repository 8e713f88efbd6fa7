"""The sandbox store's data set: customers, agents, products, ticket types and tickets.

Everything is derived from `(seed, tickets, anchor)`, so two sandboxes built alike hold the
same store. Tickets lie before the anchor, denser towards it, with the still-open ones mostly
recent, like the queue of a real shop. Tickets added later (live arrivals, tests) are created
"now"; tickets are changed by `update_ticket`, which replaces the ticket's dict rather than
changing it, so an answer being written never sees half a change. `reset` brings back the
seeded tickets as they were. Every change is told to the `subscribe`d listeners, as the
store's webhooks are.
"""

import copy
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from . import content
from .basics import MAX_AGE_DAYS, default_anchor, parse_timestamp, timestamp
from .filters import (
    Params,
    normalise_params,
    parse_product_query,
    parse_ticket_query,
    parse_user_query,
    product_matches,
    ticket_matches,
    user_matches,
    values_of,
)
from .people import make_agents, make_customers, make_products
from .writer import TicketWriter

FIRST_TICKET_ID = 1201
FIRST_COMMENT_ID = 40001
FIRST_ATTACHMENT_ID = 7001

TICKET_FIELDS = (
    "assignee",
    "channel",
    "comments",
    "created_at",
    "from_email",
    "id",
    "order",
    "priority",
    "products",
    "requester",
    "status",
    "subject",
    "tags",
    "ticket_type",
    "updated_at",
)

# What `update_ticket` may change (the store gives ids and times), and what a comment may say.
CHANGEABLE_FIELDS = tuple(
    name for name in TICKET_FIELDS if name not in ("comments", "created_at", "id", "updated_at")
)
COMMENT_FIELDS = ("attachments", "author", "body", "from_email", "is_public")

# Told of each change: ("ticket.created" or "ticket.updated", the ticket as it is now).
Listener = Callable[[str, dict], None]

# Seeded tickets that exercise the dashboard's defences, by position in the default list
# (0 = newest), so they sit on the first two pages whatever the seed.
SPECIAL_SLOTS = {
    1: "script",
    4: "template",
    7: "on_hold_sms",
    11: "hostile_attachment",
    16: "long_subject",
    20: "odd_attachments",
    27: "hostile_img",
    33: "bobby_tables",
    40: "escalated_chat",
    45: "null_order",
}
# Where a special ticket breaks the published schema on purpose, and why a real store sends
# such a value all the same: {special name: {field path in the ticket: why}}. The contract
# test accepts a schema error at these places only, and expects every one of them to occur.
DELIBERATELY_ODD = {
    "on_hold_sms": {
        "status": "Stores add statuses (on hold) before the published enum lists them.",
        "channel": "Stores add channels (SMS) before the published enum lists them.",
        "priority": "Tickets from newer channels arrive without a priority, as null.",
    },
    "escalated_chat": {
        "status": "Stores add statuses (escalated) before the published enum lists them.",
        "channel": "Stores add channels (chat) before the published enum lists them.",
        "priority": "Tickets from newer channels arrive without a priority, as null.",
    },
    "null_order": {
        "order": "A ticket whose order was deleted has order null, though typed as a string.",
    },
    "old_null_order": {
        "order": "Tickets from before orders were linked carry order null, not an empty string.",
    },
    "odd_attachments": {
        "comments.0.attachments.0.file": (
            "Attachments imported from an older helpdesk keep a relative path, not a URI."
        ),
    },
}
HOSTILE_SLOTS = ("script", "template", "hostile_attachment", "long_subject", "hostile_img")


class SandboxData:
    """The in-memory store behind the sandbox API."""

    def __init__(self, seed: int = 29, tickets: int = 360, anchor: datetime | None = None):
        self.seed = seed
        self.anchor = parse_timestamp(anchor) if anchor else default_anchor()
        self._lock = threading.RLock()
        rng = random.Random(seed)

        self.ticket_types = [
            {"id": index, "name": name} for index, name in enumerate(content.TICKET_TYPES, 1)
        ]
        self.tags = dict(enumerate(content.TAGS, 1))  # tag id -> tag name
        self.tag_ids = {name: tag_id for tag_id, name in self.tags.items()}
        # A small shop: no catalogue categories, no offer ranges and no gift cards.
        self.categories: dict[int, str] = {}
        self.ranges: dict[int, str] = {}
        self.gift_card_ids: set[int] = set()
        self.products = make_products(rng, self.anchor)
        self.agents = make_agents(rng, self.anchor)
        self.customers, self._cultures = make_customers(rng, self.anchor)
        self.users = sorted(
            self.agents + self.customers, key=lambda user: (user["date_joined"], user["id"])
        )[::-1]

        self._writer = TicketWriter(self, rng)
        self.tickets: list[dict] = []
        self.special_ticket_ids: dict[str, int] = {}
        self._seed_tickets(tickets)
        self.hostile_ticket_ids = [
            self.special_ticket_ids[name]
            for name in HOSTILE_SLOTS
            if name in self.special_ticket_ids
        ]
        self._seeded = list(self.tickets)  # never changed in place: see update_ticket
        self._seeded_ids = {ticket["id"] for ticket in self.tickets}
        self._listeners: list[Listener] = []
        self._next_ids = {
            "ticket": max(self._seeded_ids, default=FIRST_TICKET_ID - 1) + 1,
            "comment": self._max_comment_id() + 1,
            "attachment": self._max_attachment_id() + 1,
        }
        # Live arrivals draw from their own generator so the seeded data never depends on them.
        self._arrivals = TicketWriter(self, random.Random(seed * 7919 + 1))

    # -- Lookups --

    def ticket(self, ticket_id: int | None) -> dict | None:
        with self._lock:
            return next((ticket for ticket in self.tickets if ticket["id"] == ticket_id), None)

    def user(self, user_id: int | None) -> dict | None:
        return next((user for user in self.users if user["id"] == user_id), None)

    def product(self, product_id: int | None) -> dict | None:
        return next((item for item in self.products if item["id"] == product_id), None)

    def ticket_type(self, type_id: int | None) -> dict | None:
        return next((item for item in self.ticket_types if item["id"] == type_id), None)

    def filter_tickets(self, params: Params | None = None) -> list[dict]:
        """Tickets matching Tickets List parameters, newest first, as the API lists them.

        Raises `filters.FilterError` for invalid values, as the API answers 400.
        """
        query = parse_ticket_query(params, self.tags)
        emails = {user["id"]: user["email"] for user in self.users}
        with self._lock:
            tickets = list(self.tickets)
        return [ticket for ticket in tickets if ticket_matches(ticket, query, emails)]

    def filter_users(self, params: Params | None = None) -> list[dict]:
        """Users matching Users List parameters, newest first; `FilterError` if invalid."""
        query = parse_user_query(params)
        return [user for user in self.users if user_matches(user, query)]

    def filter_products(self, params: Params | None = None) -> list[dict]:
        """Products matching Products List parameters, by id; `FilterError` if invalid."""
        query = parse_product_query(params, self.categories, self.ranges)
        return [
            product
            for product in self.products
            if product_matches(product, query, is_gift_card=product["id"] in self.gift_card_ids)
        ]

    def filter_ticket_types(self, params: Params | None = None) -> list[dict]:
        names = [name.lower() for name in values_of(normalise_params(params), "name")]
        return [
            item for item in self.ticket_types if not names or item["name"].lower() == names[-1]
        ]

    # -- Changes --

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(event_type, ticket)` after each change, in the order of changes."""
        self._listeners.append(listener)

    def add_ticket(self, **overrides) -> dict:
        """A new ticket created now (or at `created_at`), listed in its place.

        Any Ticket field except `id` may be overridden; comments given without ids get them.
        """
        # Ids are the store's to give, as on the real API.
        refused = (set(overrides) - set(TICKET_FIELDS)) | ({"id"} & set(overrides))
        if refused:
            raise ValueError(f"Cannot set ticket field(s): {', '.join(sorted(refused))}")
        with self._lock:
            created = parse_timestamp(overrides.get("created_at") or datetime.now(UTC))
            ticket = self._arrivals.write(self._take_id("ticket"), created, created, "new")
            # A ticket that has just arrived holds only the customer's first message.
            ticket["comments"] = ticket["comments"][:1]
            ticket.update(overrides)
            ticket["created_at"] = timestamp(created)
            ticket["comments"] = [
                self._complete_comment(item, created) for item in ticket["comments"]
            ]
            if "updated_at" not in overrides:
                ticket["updated_at"] = max(
                    [ticket["created_at"], *(item["created_at"] for item in ticket["comments"])]
                )
            self._insert(ticket)
            self._announce("ticket.created", ticket)
        return ticket

    def update_ticket(self, ticket_id: int, changes: dict, comment: dict | None = None):
        """The ticket with `changes` made and `comment` (its fields but `id` and `created_at`)
        added, its `updated_at` now and always later than before; None if there is no such
        ticket. Values are taken as given: the API validates them first (`writes.py`).
        """
        refused = set(changes) - set(CHANGEABLE_FIELDS)
        if refused:
            raise ValueError(f"Cannot change ticket field(s): {', '.join(sorted(refused))}")
        refused = set(comment or {}) - set(COMMENT_FIELDS)
        if refused:
            raise ValueError(f"Cannot set comment field(s): {', '.join(sorted(refused))}")
        with self._lock:
            position = next(
                (index for index, item in enumerate(self.tickets) if item["id"] == ticket_id),
                None,
            )
            if position is None:
                return None
            ticket = copy.deepcopy(self.tickets[position])
            ticket.update(copy.deepcopy(changes))
            # Each change is later than the last, even within a second, so a receiver can
            # always tell the newer state by `updated_at` alone.
            moment = max(
                datetime.now(UTC).replace(microsecond=0),
                parse_timestamp(ticket["updated_at"]) + timedelta(seconds=1),
            )
            if comment is not None:
                written = {**copy.deepcopy(comment), "created_at": timestamp(moment), "id": None}
                ticket["comments"].append(self._complete_comment(written, moment))
            ticket["updated_at"] = timestamp(moment)
            self.tickets[position] = ticket
            self._announce("ticket.updated", ticket)
        return ticket

    def reset(self) -> None:
        """Only the seeded tickets, as they were seeded."""
        with self._lock:
            self.tickets[:] = self._seeded

    def _announce(self, event_type: str, ticket: dict) -> None:
        # Under the lock, so listeners hear of changes in the order they were made.
        for listener in self._listeners:
            listener(event_type, ticket)

    # -- Building --

    def _seed_tickets(self, count: int) -> None:
        rng = self._writer.rng
        latest = self.anchor
        # Ages skewed towards the anchor: a store gets more tickets as it grows, and the
        # dashboard's first pages should look like a busy, current queue.
        ages = sorted(
            timedelta(seconds=int(300 + MAX_AGE_DAYS * 86400 * rng.random() ** 1.7))
            for _ in range(count)
        )
        created_times = [latest - age for age in reversed(ages)]  # oldest first
        ticket_id = FIRST_TICKET_ID
        newest_index = count - 1
        for index, created in enumerate(created_times):
            slot = SPECIAL_SLOTS.get(newest_index - index)
            ticket = self._writer.write(ticket_id, created, latest, special=slot)
            if slot:
                self.special_ticket_ids[slot] = ticket_id
            self.tickets.append(ticket)
            # Deleted and spam tickets leave gaps in the ids, as they do in a real store.
            ticket_id += 1 if rng.random() < 0.9 else rng.randint(2, 4)
        if count > 90:
            self.tickets[count // 3]["order"] = None
            self.special_ticket_ids["old_null_order"] = self.tickets[count // 3]["id"]
        self.tickets.sort(key=lambda ticket: (ticket["created_at"], ticket["id"]), reverse=True)
        self._number_comments()

    def _number_comments(self) -> None:
        # Ids follow creation time across the whole store, as database ids do.
        comments = [
            (comment["created_at"], ticket["id"], position, comment)
            for ticket in self.tickets
            for position, comment in enumerate(ticket["comments"])
        ]
        attachment_id = FIRST_ATTACHMENT_ID
        for comment_id, (*_, comment) in enumerate(sorted(comments, key=lambda row: row[:3])):
            comment["id"] = FIRST_COMMENT_ID + comment_id
            for attachment in comment["attachments"]:
                attachment["id"] = attachment_id
                attachment_id += 1

    def _complete_comment(self, comment: dict, created: datetime) -> dict:
        complete = {
            "attachments": [],
            "author": None,
            "body": "",
            "created_at": timestamp(created),
            "from_email": None,
            "is_public": True,
            **comment,
        }
        complete["created_at"] = timestamp(parse_timestamp(complete["created_at"]))
        if complete.get("id") is None:
            complete["id"] = self._take_id("comment")
        for attachment in complete["attachments"]:
            if attachment.get("id") is None:
                attachment["id"] = self._take_id("attachment")
        return dict(sorted(complete.items()))

    def _take_id(self, kind: str) -> int:
        value = self._next_ids[kind]
        self._next_ids[kind] += 1
        return value

    def _insert(self, ticket: dict) -> None:
        key = (ticket["created_at"], ticket["id"])
        position = next(
            (
                index
                for index, other in enumerate(self.tickets)
                if (other["created_at"], other["id"]) < key
            ),
            len(self.tickets),
        )
        self.tickets.insert(position, ticket)

    def _max_comment_id(self) -> int:
        ids = [comment["id"] for ticket in self.tickets for comment in ticket["comments"]]
        return max(ids, default=FIRST_COMMENT_ID - 1)

    def _max_attachment_id(self) -> int:
        ids = [
            attachment["id"]
            for ticket in self.tickets
            for comment in ticket["comments"]
            for attachment in comment["attachments"]
        ]
        return max(ids, default=FIRST_ATTACHMENT_ID - 1)

    def culture_of(self, user_id: int | None) -> str | None:
        return self._cultures.get(user_id)
