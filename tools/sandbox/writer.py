"""Believable tickets: a scenario, a requester, an assignee and a thread that fits the
ticket's status, and the seeded edge cases the dashboard must survive."""

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from . import content
from .basics import MAX_AGE_DAYS, choose, fill, parse_timestamp, pick, placeholders, timestamp
from .people import AGENT_IDS

if TYPE_CHECKING:
    from .data import SandboxData

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


class TicketWriter:
    """Writes believable tickets: a scenario, a requester, an assignee and a thread."""

    def __init__(self, store: "SandboxData", rng: random.Random):
        self.store = store
        self.rng = rng
        # Some customers write in often, most only once or twice.
        self.customer_weights = [rng.paretovariate(1.3) for _ in store.customers]
        self.type_ids = {item["name"]: item["id"] for item in store.ticket_types}

    def write(self, ticket_id, created, latest, status=None, special=None) -> dict:
        rng = self.rng
        kind = pick(rng, TYPE_WEIGHTS)
        channel = pick(rng, CHANNEL_WEIGHTS)
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
        return pick(self.rng, weights)

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
        return pick(self.rng, weights)

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
        needs = placeholders(subject) | placeholders(body)
        if "order" in needs and not ticket["order"]:
            ticket["order"] = context["order"] = self._order_number(
                parse_timestamp(ticket["created_at"])
            )
        if "product" in needs and not ticket["products"]:
            product = rng.choice(self.store.products)
            ticket["products"], context["product"] = [product["id"]], product["title"]
        ticket["subject"] = fill(subject, context)
        if ticket["channel"] == "follow_up":
            ticket["subject"] = "Re: " + ticket["subject"]
        context["opener"] = fill(body, context)
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
        line = choose(self.rng, [line for line in pool if line not in used] or pool, values)
        used.add(line)
        if step in AGENT_REPLIES:
            line += content.SIGNATURE
        return fill(line, values)

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
            _attachment(fill(choose(rng, names, context), context), moment, rng)
            for _ in range(count)
        ]


def _attachment(file_name: str, moment: datetime, rng: random.Random) -> dict:
    folder = f"{moment:%Y/%m}/{rng.getrandbits(48):012x}"
    return {
        "file": f"{content.ATTACHMENT_HOST}/{folder}/{quote(file_name)}",
        "file_name": file_name,
        "id": None,
    }


def _quote_reply(body: str, reply: dict, store: "SandboxData") -> str:
    """The customer's answer above the agent's message, as mail clients quote it."""
    agent = store.user(reply["author"])
    sent = parse_timestamp(reply["created_at"])
    header = (
        f"On {sent:%a}, {sent.day} {sent:%b %Y} at {sent:%H:%M}, "
        f"{agent['first_name']} from {content.STORE_NAME} <{content.SUPPORT_EMAIL}> wrote:"
    )
    quoted = "\n".join(f"> {line}" if line else ">" for line in reply["body"].splitlines())
    return f"{body}\n\n{header}\n{quoted}"


def _apply_special(ticket: dict, special: str, store: "SandboxData") -> None:
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
