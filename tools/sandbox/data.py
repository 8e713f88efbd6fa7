"""The sandbox store's data set: customers, agents, products, ticket types and tickets.

Everything is derived from `(seed, tickets, anchor)`, so two sandboxes built alike hold the
same store. Tickets lie before the anchor, denser towards it, with the still-open ones mostly
recent, like the queue of a real shop. Tickets added later (live arrivals, tests) are created
"now" and can be removed again with `remove_added_tickets`.
"""

import random
import threading
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from string import Formatter
from urllib.parse import quote

from . import content
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

MAX_AGE_DAYS = 182
CUSTOMER_COUNT = 80
AGENT_IDS = (3, 5, 8, 11, 14, 17)
FIRST_CUSTOMER_ID = 1040
FIRST_PRODUCT_ID = 101
FIRST_TICKET_ID = 1201
FIRST_COMMENT_ID = 40001
FIRST_ATTACHMENT_ID = 7001

# Fields of a Product that the Products List (ProductList) leaves out.
PRODUCT_DETAIL_FIELDS = ("description", "meta_description", "meta_title", "template")

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
# Edge cases are decided before their thread is written, so the thread fits their status.
SPECIAL_STATUSES = {
    "script": "new",
    "hostile_img": "new",
    "template": "open",
    "hostile_attachment": "open",
    "long_subject": "open",
    "on_hold_sms": "on_hold",
    "escalated_chat": "escalated",
}

TYPE_WEIGHTS = {
    "Shipping & delivery": 30,
    "Refund request": 18,
    "Product question": 15,
    "Subscription": 12,
    "Technical issue": 10,
    "Chargeback": 3,
    None: 12,
}
CHANNEL_WEIGHTS = {
    "email": 45,
    "customer_account": 25,
    "follow_up": 12,
    "dashboard": 10,
    "api": 8,
}
AGENT_WEIGHTS = (5, 4, 4, 3, 2, 1)
CUSTOMER_STEPS = ("opener", "nudge", "answer", "thanks")
AGENT_REPLIES = ("ask", "resolve", "closer")


def default_anchor() -> datetime:
    """The current UTC time rounded down to the hour."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def timestamp(moment: datetime) -> str:
    """API form of a datetime: ISO 8601 in UTC with a `Z`, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _ascii(text: str) -> str:
    """Letters for an email address: accents dropped, spaces and punctuation removed."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(char for char in plain.lower() if char.isalnum())


class _Blanks(dict):
    # Templates mention more than each context knows; a missing value reads as nothing.
    def __missing__(self, key):
        return ""


def _fill(template: str, values: dict) -> str:
    return template.format_map(_Blanks(values)).strip()


def _needs(template: str) -> set[str]:
    """The placeholders a template uses."""
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def _choose(rng: random.Random, pool: Sequence[str], values: dict) -> str:
    # Prefer lines whose placeholders this ticket can fill: no "order " without a number.
    usable = [line for line in pool if all(values.get(name) for name in _needs(line))]
    return rng.choice(usable or pool)


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
        self.products = _make_products(rng, self.anchor)
        self.agents = _make_agents(rng, self.anchor)
        self.customers, self._cultures = _make_customers(rng, self.anchor)
        self.users = sorted(
            self.agents + self.customers, key=lambda user: (user["date_joined"], user["id"])
        )[::-1]

        self._writer = _TicketWriter(self, rng)
        self.tickets: list[dict] = []
        self.special_ticket_ids: dict[str, int] = {}
        self._seed_tickets(tickets)
        self.hostile_ticket_ids = [
            self.special_ticket_ids[name]
            for name in HOSTILE_SLOTS
            if name in self.special_ticket_ids
        ]
        self._seeded_ids = {ticket["id"] for ticket in self.tickets}
        self._next_ids = {
            "ticket": max(self._seeded_ids, default=FIRST_TICKET_ID - 1) + 1,
            "comment": self._max_comment_id() + 1,
            "attachment": self._max_attachment_id() + 1,
        }
        # Live arrivals draw from their own generator so the seeded data never depends on them.
        self._arrivals = _TicketWriter(self, random.Random(seed * 7919 + 1))

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
        return ticket

    def remove_added_tickets(self) -> None:
        with self._lock:
            self.tickets[:] = [
                ticket for ticket in self.tickets if ticket["id"] in self._seeded_ids
            ]

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


class _TicketWriter:
    """Writes believable tickets: a scenario, a requester, an assignee and a thread."""

    def __init__(self, store: SandboxData, rng: random.Random):
        self.store = store
        self.rng = rng
        # Some customers write in often, most only once or twice.
        self.customer_weights = [rng.paretovariate(1.3) for _ in store.customers]
        self.type_ids = {item["name"]: item["id"] for item in store.ticket_types}

    def write(self, ticket_id, created, latest, status=None, special=None) -> dict:
        rng = self.rng
        kind = _pick(rng, TYPE_WEIGHTS)
        channel = _pick(rng, CHANNEL_WEIGHTS)
        requester = rng.choices(self.store.customers, weights=self.customer_weights)[0]
        if special == "bobby_tables":
            requester = self.store.customers[-1]
        from_email = None
        unknown_sender = channel == "email" and rng.random() < 0.3 and special != "bobby_tables"
        if unknown_sender or special == "hostile_img":
            channel, requester = "email", None
            from_email = rng.choice(content.UNKNOWN_SENDERS)

        age = latest - created
        status = status or SPECIAL_STATUSES.get(special) or self._status_for(age)
        products = self._products_for(kind)
        ticket = {
            "assignee": self._assignee_for(status),
            "channel": channel,
            "comments": [],
            "created_at": timestamp(created),
            "from_email": from_email,
            "id": ticket_id,
            "order": self._order_for(kind, created),
            "priority": self._priority_for(kind),
            "products": [product["id"] for product in products],
            "requester": requester["id"] if requester else None,
            "status": status,
            "subject": "",
            "tags": [],
            "ticket_type": self.type_ids.get(kind),
            "updated_at": timestamp(created),
        }
        context = self._context(ticket, requester, products)
        kind = self._write_opener(ticket, kind, requester, context)
        # Besides the untyped questions, agents forget to set a type now and then.
        ticket["ticket_type"] = self.type_ids.get(kind) if rng.random() > 0.08 else None
        ticket["tags"] = self._tags_for(kind, requester, from_email, ticket["subject"])
        self._write_thread(ticket, kind, created, latest, context)
        if special:
            _apply_special(ticket, special, self.store)
        ticket["updated_at"] = max(comment["created_at"] for comment in ticket["comments"])
        return ticket

    # -- Ticket fields --

    def _status_for(self, age: timedelta) -> str:
        hours = age.total_seconds() / 3600
        if hours < 6:
            weights = {"new": 55, "open": 30, "pending": 10, "solved": 5}
        elif hours < 48:
            weights = {"new": 25, "open": 35, "pending": 20, "solved": 20}
        elif hours < 14 * 24:
            weights = {"new": 5, "open": 20, "pending": 15, "solved": 40, "closed": 20}
        else:
            weights = {"open": 2, "pending": 2, "solved": 26, "closed": 70}
        return _pick(self.rng, weights)

    def _assignee_for(self, status: str) -> int | None:
        unassigned_chance = {"new": 0.6, "open": 0.15, "pending": 0.05}.get(status, 0)
        if self.rng.random() < unassigned_chance:
            return None
        return self.rng.choices(AGENT_IDS, weights=AGENT_WEIGHTS)[0]

    def _priority_for(self, kind: str | None) -> str:
        if kind == "Chargeback":
            weights = {"high": 70, "medium": 30}
        elif kind == "Technical issue":
            weights = {"high": 25, "medium": 55, "low": 20}
        else:
            weights = {"high": 15, "medium": 50, "low": 35}
        return _pick(self.rng, weights)

    def _products_for(self, kind: str | None) -> list[dict]:
        rng, products = self.rng, self.store.products
        if kind == "Subscription":
            return [rng.choice([item for item in products if item["enable_subscription"]])]
        if kind in ("Technical issue", None) and rng.random() < 0.7:
            return []
        count = 2 if kind in ("Shipping & delivery", "Refund request") and rng.random() < 0.3 else 1
        return rng.sample(products, count)

    def _order_for(self, kind: str | None, created: datetime) -> str:
        chance = {
            "Shipping & delivery": 1,
            "Refund request": 1,
            "Chargeback": 1,
            "Subscription": 0.6,
            "Technical issue": 0.2,
            "Product question": 0.15,
        }.get(kind, 0.1)
        return self._order_number(created) if self.rng.random() < chance else ""

    def _order_number(self, created: datetime) -> str:
        # Order numbers grow with time: about 14 orders a day, placed days before the ticket.
        days = (created - (self.store.anchor - timedelta(days=MAX_AGE_DAYS))).days
        return str(100060 + days * 14 - self.rng.randint(0, 60))

    def _tags_for(self, kind, requester, from_email, subject) -> list[str]:
        rng = self.rng
        tags = []
        if requester and "vip" in requester["tags"]:
            tags.append("vip")
        kind_tags = {
            "Refund request": ["refund"],
            "Subscription": ["subscription"],
            "Chargeback": ["chargeback-risk"],
        }.get(kind, [])
        tags.extend(kind_tags)
        if kind == "Shipping & delivery" and rng.random() < 0.6:
            tags.append("shipping-delay")
        if kind in ("Shipping & delivery", "Refund request") and rng.random() < 0.25:
            tags.append("damaged")
        if requester and requester["orders_count"] == 1:
            tags.append("first-order")
        wholesale_sender = from_email and any(
            word in from_email for word in ("wholesale", "retail", "boutique")
        )
        if wholesale_sender or "Wholesale" in subject:
            tags.append("wholesale")
        return tags

    # -- Thread --

    def _context(self, ticket: dict, requester: dict | None, products: list[dict]) -> dict:
        agent = self.store.user(ticket["assignee"]) if ticket["assignee"] else None
        colleagues = [agent_id for agent_id in AGENT_IDS if agent_id != ticket["assignee"]]
        other_agent = self.store.user(self.rng.choice(colleagues))
        return {
            "first_name": requester["first_name"] if requester else "",
            "order": ticket["order"] or "",
            "product": products[0]["title"] if products else "",
            "days": self.rng.randint(4, 12),
            "agent_first": agent["first_name"] if agent else "",
            "agent_other": other_agent["first_name"],
        }

    def _write_opener(self, ticket, kind, requester, context) -> str | None:
        """Subject and first message; returns the ticket type the message is about."""
        rng = self.rng
        culture = self.store.culture_of(requester["id"]) if requester else None
        native = content.NATIVE_OPENERS.get(culture, [])
        native_chance = 0.2 if culture in ("spanish", "german", "french") else 0.45
        if native and rng.random() < native_chance:
            kind, subject, body = rng.choice(native)
        else:
            subject, body = rng.choice(content.OPENERS[kind])
        # The customer's message decides what the ticket refers to, not the other way round.
        needs = _needs(subject) | _needs(body)
        if "order" in needs and not ticket["order"]:
            ticket["order"] = context["order"] = self._order_number(
                parse_timestamp(ticket["created_at"])
            )
        if "product" in needs and not ticket["products"]:
            product = rng.choice(self.store.products)
            ticket["products"], context["product"] = [product["id"]], product["title"]
        ticket["subject"] = _fill(subject, context)
        if ticket["channel"] == "follow_up":
            ticket["subject"] = "Re: " + ticket["subject"]
        context["opener"] = _fill(body, context)
        return kind

    def _write_thread(self, ticket, kind, created, latest, context) -> None:
        steps = self._steps_for(ticket["status"], ticket["assignee"] is not None)
        times = self._times_for(steps, created, latest)
        comments, used = [], set()
        last_reply = None
        for step, moment in zip(steps, times, strict=True):
            body = self._text(step, kind, context, used)
            comment = self._comment(step, body, ticket, context, moment, last_reply)
            if step in AGENT_REPLIES:
                last_reply = comment
            comments.append(comment)
        ticket["comments"] = comments

    def _steps_for(self, status: str, assigned: bool) -> list[str]:
        """The shape of a thread that has reached `status`."""
        rng = self.rng
        note = ["note"] if rng.random() < 0.35 else []
        if status == "new" or not assigned:
            return ["opener", "nudge"] if rng.random() < 0.25 else ["opener"]
        if status == "pending":
            # Pending: the last word is the agent's, waiting on the customer.
            options = [["opener", *note, "ask"], ["opener", "ask", "answer", *note, "resolve"]]
            return rng.choices(options, weights=[60, 40])[0]
        if status in ("solved", "closed"):
            options = [
                ["opener", *note, "resolve", "thanks"],
                ["opener", "ask", "answer", "resolve", "thanks", "closer"],
                ["opener", "resolve"],
                ["opener", "ask", "answer", "note", "resolve", "nudge", "resolve", "thanks"],
            ]
            return rng.choices(options, weights=[45, 30, 15, 10])[0]
        # Open (and statuses we do not know): the customer is waiting on the team.
        options = [
            ["opener", "nudge"],
            ["opener", *note, "ask", "answer"],
            ["opener", "ask", "answer", *note, "resolve", "nudge"],
        ]
        return rng.choices(options, weights=[20, 50, 30])[0]

    def _times_for(self, steps: list[str], created: datetime, latest: datetime) -> list[datetime]:
        hours = {
            "ask": (0.2, 20),
            "resolve": (0.2, 20),
            "note": (0.05, 2),
            "closer": (0.1, 6),
            "nudge": (12, 72),
        }
        gaps = [0.0] + [self.rng.uniform(*hours.get(step, (0.5, 40))) for step in steps[1:]]
        # A young ticket cannot have a week-long thread: squeeze it into the time it has had.
        room = (latest - created).total_seconds() / 3600 * 0.9
        scale = min(1.0, room / sum(gaps)) if sum(gaps) else 1.0
        times, elapsed = [], 0.0
        for gap in gaps:
            elapsed += gap * scale
            times.append(created + timedelta(seconds=int(elapsed * 3600)))
        return times

    def _text(self, step: str, kind: str | None, context: dict, used: set[str]) -> str:
        """The body of one comment; a thread never says the same thing twice."""
        if step == "opener":
            return context["opener"]
        conversation = content.CONVERSATIONS[kind]
        pools = {
            "nudge": content.CUSTOMER_NUDGES,
            "thanks": content.CUSTOMER_THANKS,
            "closer": content.AGENT_CLOSERS,
            "note": conversation["note"] + content.GENERAL_NOTES,
        }
        pool = pools.get(step) or conversation[step]
        values = context
        if step in AGENT_REPLIES:
            values = {**context, "first_name": context["first_name"] or "there"}
        line = _choose(self.rng, [line for line in pool if line not in used] or pool, values)
        used.add(line)
        if step in AGENT_REPLIES:
            line += content.SIGNATURE
        return _fill(line, values)

    def _comment(self, step, body, ticket, context, moment, last_reply) -> dict:
        rng = self.rng
        if step in CUSTOMER_STEPS:
            if ticket["channel"] == "email" and last_reply and rng.random() < 0.6:
                body = _quote_reply(body, last_reply, self.store)
            author, from_email = ticket["requester"], ticket["from_email"]
        elif step == "note":
            # Colleagues chip in on each other's tickets now and then.
            author = rng.choice(AGENT_IDS) if rng.random() < 0.3 else ticket["assignee"]
            from_email = None
        else:
            author, from_email = ticket["assignee"], None
        return {
            "attachments": self._attachments_for(step, moment, context),
            "author": author,
            "body": body,
            "created_at": timestamp(moment),
            "from_email": from_email,
            "id": None,
            "is_public": step != "note",
        }

    def _attachments_for(self, step: str, moment: datetime, context: dict) -> list[dict]:
        rng = self.rng
        chance = {"opener": 0.3, "answer": 0.3, "resolve": 0.08, "note": 0.05}.get(step, 0.02)
        if rng.random() >= chance:
            return []
        count = rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
        names = ["return label.pdf"] if step in AGENT_REPLIES else content.ATTACHMENT_NAMES
        return [
            _attachment(_fill(_choose(rng, names, context), context), moment, rng)
            for _ in range(count)
        ]


def _attachment(file_name: str, moment: datetime, rng: random.Random) -> dict:
    folder = f"{moment:%Y/%m}/{rng.getrandbits(48):012x}"
    return {
        "file": f"{content.ATTACHMENT_HOST}/{folder}/{quote(file_name)}",
        "file_name": file_name,
        "id": None,
    }


def _quote_reply(body: str, reply: dict, store: SandboxData) -> str:
    """The customer's answer above the agent's message, as mail clients quote it."""
    agent = store.user(reply["author"])
    sent = parse_timestamp(reply["created_at"])
    header = (
        f"On {sent:%a}, {sent.day} {sent:%b %Y} at {sent:%H:%M}, "
        f"{agent['first_name']} from {content.STORE_NAME} <{content.SUPPORT_EMAIL}> wrote:"
    )
    quoted = "\n".join(f"> {line}" if line else ">" for line in reply["body"].splitlines())
    return f"{body}\n\n{header}\n{quoted}"


def _apply_special(ticket: dict, special: str, store: SandboxData) -> None:
    """Turn a seeded ticket into one of the edge cases the dashboard must survive."""
    opener = ticket["comments"][0]
    if special == "script":
        ticket.update(subject=content.HOSTILE_SCRIPT_SUBJECT, priority="high")
        opener["body"] = content.HOSTILE_SCRIPT_BODY
    elif special == "template":
        ticket["subject"] = content.HOSTILE_TEMPLATE_SUBJECT
        opener["body"] = content.HOSTILE_TEMPLATE_BODY
    elif special == "hostile_img":
        ticket["subject"] = content.HOSTILE_IMG_SUBJECT
        opener["body"] = content.HOSTILE_IMG_BODY
    elif special == "hostile_attachment":
        ticket["subject"] = content.HOSTILE_ATTACHMENT_SUBJECT
        opener["body"] = content.HOSTILE_ATTACHMENT_BODY
        opener["attachments"] = [
            {"file": file, "file_name": name, "id": None}
            for file, name in content.HOSTILE_ATTACHMENTS
        ]
    elif special == "long_subject":
        ticket["subject"] = content.LONG_SUBJECT
        opener["body"] = content.LONG_SUBJECT_BODY
    elif special == "odd_attachments":
        # An email that was only pictures: no text, an old relative path and an inline image.
        opener["body"] = None
        opener["attachments"] = [
            {"file": content.RELATIVE_ATTACHMENT[0], "file_name": content.RELATIVE_ATTACHMENT[1]},
            {"file": content.DATA_URI_PNG, "file_name": "inline-image.png"},
        ]
        for attachment in opener["attachments"]:
            attachment["id"] = None
    elif special == "on_hold_sms":
        # Statuses and channels the docs do not list yet: the API evolves under the dashboard.
        ticket.update(channel="sms", priority=None)
    elif special == "escalated_chat":
        ticket.update(channel="chat", priority=None)
    elif special == "null_order":
        ticket["order"] = None


# -- People and catalogue --


def _make_agents(rng: random.Random, anchor: datetime) -> list[dict]:
    agents = []
    for user_id, (first, last) in zip(AGENT_IDS, content.AGENTS, strict=True):
        joined = anchor - timedelta(days=rng.randint(400, 1500))
        agents.append(
            _user(
                user_id=user_id,
                first=first,
                last=last,
                email=f"{first.lower()}.{last.lower()}@example-store.test",
                joined=joined,
                language="en",
                user_type="dashboard",
            )
        )
    return agents


def _make_customers(rng: random.Random, anchor: datetime) -> tuple[list[dict], dict[int, str]]:
    customers, cultures, emails = [], {}, set()
    user_id = FIRST_CUSTOMER_ID
    for index in range(CUSTOMER_COUNT):
        culture_name = _pick(rng, content.CULTURE_WEIGHTS)
        culture = content.CULTURES[culture_name]
        first, first_latin = _name(rng.choice(culture["first"]))
        last, last_latin = _name(rng.choice(culture["last"]))
        if index == CUSTOMER_COUNT - 1:
            culture_name, culture = "english", content.CULTURES["english"]
            (first, last), (first_latin, last_latin) = content.BOBBY_TABLES, ("bobby", "tables")
        email = _unique_email(rng, first_latin, last_latin, culture["domains"], emails)
        joined = anchor - timedelta(days=rng.randint(190, 1400), seconds=rng.randint(0, 86399))
        customer = _user(
            user_id=user_id,
            first=first,
            last=last,
            email=email,
            joined=joined,
            language=culture["language"],
            user_type="customer",
        )
        _describe_customer(customer, rng, culture, index)
        customers.append(customer)
        cultures[user_id] = culture_name
        user_id += rng.randint(1, 7)
    return customers, cultures


def _name(entry: str | tuple[str, str]) -> tuple[str, str]:
    return entry if isinstance(entry, tuple) else (entry, entry)


def _unique_email(rng, first: str, last: str, domains: list[str], taken: set[str]) -> str:
    local, domain = f"{_ascii(first)}.{_ascii(last)}", rng.choice(domains)
    # Namesakes exist; the second Emma Smith signs up as emmas42.
    while f"{local}@{domain}" in taken:
        local = f"{_ascii(first)}{_ascii(last)[:1]}{rng.randint(2, 99)}"
    taken.add(f"{local}@{domain}")
    return f"{local}@{domain}"


def _user(*, user_id, first, last, email, joined, language, user_type) -> dict:
    return {
        "accepts_marketing": False,
        "addresses": [],
        "date_joined": timestamp(joined),
        "email": email,
        "first_name": first,
        "id": user_id,
        "ip": None,
        "is_blocked": False,
        "language": language,
        "last_name": last,
        "metadata": {},
        "orders_count": 0,
        "phone_number": None,
        "subscriptions_count": 0,
        "tags": [],
        "total_spent": "0.00",
        "user_agent": None,
        "user_type": user_type,
    }


def _describe_customer(customer: dict, rng: random.Random, culture: dict, index: int) -> None:
    country, city, street = culture["country"]
    orders = rng.choices((1, 2, 3, 5, 8, 14), weights=(25, 25, 20, 15, 10, 5))[0]
    phone = f"+{rng.randint(30, 49)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}"
    customer.update(
        accepts_marketing=rng.random() < 0.55,
        addresses=[
            {
                "country": country,
                "first_name": customer["first_name"],
                "id": 5000 + index,
                "is_default_for_billing": True,
                "is_default_for_shipping": True,
                "last_name": customer["last_name"],
                "line1": f"{rng.randint(1, 180)} {street}",
                "line2": "",
                "line3": "",
                "line4": city,
                "notes": "",
                "phone_number": phone,
                "postcode": f"{rng.randint(10000, 99999)}",
                "state": "",
            }
        ],
        ip=f"198.51.100.{rng.randint(1, 254)}",
        is_blocked=index == 7,
        orders_count=orders,
        phone_number=phone if rng.random() < 0.7 else None,
        subscriptions_count=rng.choice((0, 0, 0, 1, 2)),
        tags=["vip"] if orders >= 8 or rng.random() < 0.05 else [],
        total_spent=f"{orders * rng.uniform(25, 140):.2f}",
        user_agent=rng.choice(
            (
                None,
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/122.0",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 Safari/17.3",
            )
        ),
    )


def product_listing(product: dict) -> dict:
    """A product as the Products List shows it (ProductList): without its detail fields."""
    return {key: value for key, value in product.items() if key not in PRODUCT_DETAIL_FIELDS}


def _make_products(rng: random.Random, anchor: datetime) -> list[dict]:
    return [
        _product(FIRST_PRODUCT_ID + index, title, slug, subscribable, rng, anchor)
        for index, (title, slug, subscribable) in enumerate(content.PRODUCTS)
    ]


def _product(product_id, title, slug, subscribable, rng, anchor) -> dict:
    created = timestamp(anchor - timedelta(days=rng.randint(300, 900)))
    updated = timestamp(anchor - timedelta(days=rng.randint(1, 120)))
    price = rng.choice((9.5, 14, 19.9, 24, 29, 34.5, 39, 49, 59))
    variant = {
        "allow_backorders": False,
        "date_created": created,
        "date_updated": updated,
        "id": product_id * 10 + 1,
        "images": "",
        "inventory_availability": rng.choice(("in_stock", "in_stock", "low_stock")),
        "metadata": {},
        "prices": [
            {
                "currency": "USD",
                "price": f"{price:.2f}",
                "retail": None,
                "subscription": f"{price * 0.9:.2f}" if subscribable else None,
                "subscription_suggested_downsell": None,
            }
        ],
        "product_id": product_id,
        "purchase_availability": "available",
        "requires_shipping": True,
        "sku": slug.upper().replace("-", "")[:12],
        "stockrecords": [
            {
                "id": product_id * 100,
                "location_id": 1,
                "low_stock_threshold": 10,
                "num_allocated": rng.randint(0, 20),
                "num_in_stock": rng.randint(0, 400),
            }
        ],
        "title": title,
        "track_stock": True,
        "unit_cost": f"{price * 0.3:.2f}",
        "upc": None,
        "variant_attribute_values": [],
    }
    return {
        "categories": [],
        "date_created": created,
        "date_updated": updated,
        "description": f"<p>{title}, from our own range.</p>",
        "enable_subscription": subscribable,
        "external_tax_code": None,
        "id": product_id,
        "images": [{"caption": "", "display_order": 0, "id": product_id * 10}],
        "interval": "month" if subscribable else None,
        "interval_counts": [1, 2, 3] if subscribable else None,
        "is_discountable": True,
        "is_public": True,
        "meta_description": None,
        "meta_title": None,
        "metadata": {},
        "ranking": 0,
        "rating": round(rng.uniform(3.6, 4.9), 1),
        "recommended_products": [],
        "slug": slug,
        "structure": "standalone",
        "template": None,
        "title": title,
        "url": f"https://example-store.test/catalogue/{slug}/",
        "variant_attributes": [],
        "variants": [variant],
    }
