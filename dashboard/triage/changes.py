"""One ticket's change, as a person asked for it on a form that showed the ticket as it was.

`apply` does, in order:

1. nothing at all when nothing changed: no call, no record;
2. checks the ticket as the store has it now, from the index when the store's webhooks keep it
   current, else with one GET. If it changed since the form was shown (its `updated_at`), it
   writes nothing and raises `Conflict`, which says what changed;
3. sends one `PATCH tickets/{id}/` of only the fields that changed, and the note as the nested
   `comment` (internal unless the person chose a public reply);
4. writes the store's answer into the index and drops the cached thread and pages it makes
   wrong, so the next view of the old list no longer shows the ticket there;
5. records who changed what from what to what (`TicketChange`), kept `AUDIT_DAYS` days.

A write the store refused, or never answered, raises the store's error: nothing is recorded,
and the page says the change was not made.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dashboard import budget, store
from dashboard.index import changes, freshness, query, rows
from dashboard.models import IndexedTicket, TicketChange

logger = logging.getLogger(__name__)

# How long a change waits for another change of the same ticket (a check and one write).
LOCK_WAIT = 15.0

# The fields a person changes from the dashboard, in the order pages list them.
FIELDS = ("status", "priority", "assignee", "tags")
LABELS = {"status": "Status", "priority": "Priority", "assignee": "Assignee", "tags": "Tags"}


@dataclass(frozen=True)
class Wanted:
    """What a person asked for, beside the ticket as their form showed it to them."""

    seen_at: datetime  # the ticket's `updated_at` on the form
    was: dict  # each field as the form showed it
    values: dict  # each field as the person left it
    note: str = ""
    public: bool = False

    def changed(self) -> dict:
        return {
            name: value
            for name, value in self.values.items()
            if _comparable(name, value) != _comparable(name, self.was.get(name))
        }

    def body(self) -> dict:
        """The PATCH: only what changed, and the note as its comment ({} when nothing did)."""
        body = {
            name: list(value) if name == "tags" else value for name, value in self.changed().items()
        }
        if self.note.strip():
            body["comment"] = {"body": self.note, "is_public": bool(self.public)}
        return body


@dataclass(frozen=True)
class Difference:
    """A field someone else changed since the form was shown."""

    name: str
    seen: object
    now: object

    @property
    def label(self) -> str:
        return LABELS[self.name]


@dataclass
class Conflict(Exception):
    """The ticket changed since the form was shown: nothing was written."""

    ticket_id: int
    now: dict  # the ticket as it is now, in the API's shape
    differences: list[Difference] = field(default_factory=list)
    new_comments: int = 0  # comments added since, when the store was asked (not the index)

    @property
    def updated_at(self) -> datetime | None:
        return _moment(self.now.get("updated_at"))


@dataclass(frozen=True)
class Done:
    ticket: store.Ticket  # as the store answered the write
    fields: dict  # {name: [from, to]}, as recorded
    note: str = ""  # "internal", "public" or "" (none)


def apply(user, ticket_id: int, wanted: Wanted, background: bool = False, bulk=None) -> Done | None:
    """Make the change `wanted` (see the module's notes); None when nothing changed."""
    body = wanted.body()
    if not body:
        return None
    try:
        # One change of a ticket at a time, across processes and machines: a colleague saving
        # the same ticket at the same moment waits, then finds it changed (409), instead of
        # both passing the check and the second overwriting the first.
        with budget.backend().lock(
            f"triage:{store.identity()}:{int(ticket_id)}", timeout=LOCK_WAIT
        ):
            return _apply(user, ticket_id, wanted, body, background, bulk)
    except budget.WaitTimeout as exc:
        raise store.StoreBusy() from exc
    except budget.SharedStateError as exc:
        raise store.SharedStateUnavailable() from exc


def _apply(user, ticket_id, wanted, body, background, bulk):
    now, comments_since = current(ticket_id, wanted.seen_at)
    if _moment(now.get("updated_at")) != wanted.seen_at:
        raise Conflict(
            ticket_id,
            now,
            [
                Difference(name, wanted.was.get(name), now.get(name))
                for name in FIELDS
                if _comparable(name, now.get(name)) != _comparable(name, wanted.was.get(name))
            ],
            comments_since,
        )
    ticket, raw = store.update_ticket(ticket_id, body, background=background)
    fields = {
        name: [_recorded(name, now.get(name)), _recorded(name, raw.get(name))]
        for name in body
        if name != "comment"
    }
    note = ("public" if wanted.public else "internal") if "comment" in body else ""
    to_index(now, raw)
    record(user, ticket_id, fields, note, bulk)
    return Done(ticket, fields, note)


def current(ticket_id: int, seen_at: datetime | None = None) -> tuple[dict, int]:
    """The ticket as the store has it now, in the API's shape, and how many comments were added
    after `seen_at` (0 when the index answered, which keeps no comment's words or count of
    its own to compare). The index answers while the store's webhooks keep it current and it
    holds the ticket as new as the form's; else the store is asked, once, past every cache."""
    if freshness.current().live:
        try:
            row = IndexedTicket.objects.filter(pk=ticket_id).first()
        except DatabaseError:
            row = None
        if row is not None and (seen_at is None or row.updated_at >= seen_at):
            return query.as_ticket(row), 0
    ticket, raw = store.current_ticket(ticket_id)
    added = 0
    if seen_at is not None:
        added = sum(1 for c in ticket.comments if c.created_at and c.created_at > seen_at)
    return raw, added


def to_index(before: dict | None, after: dict) -> None:
    """The store's answer to a write into the index, and what it makes wrong out of the caches
    (`before`: the ticket as it was, when known; a single change and a bulk change share it)."""
    created, updated = _moment(after.get("created_at")), _moment(after.get("updated_at"))
    if created is not None and updated is not None:
        try:
            with transaction.atomic():
                rows.write_if_newer(after, created, updated)
        except DatabaseError:
            # The change is made; the index catches up with its delivery or the next walk.
            logger.warning("could not write a changed ticket into the index")
    changes.ticket_changed(before, after)


def record(user, ticket_id: int, fields: dict, note: str = "", bulk=None) -> None:
    """One line of the audit trail: `fields` is `{name: [from, to]}`; `bulk`, the bulk change
    it was part of."""
    try:
        TicketChange.objects.create(
            ticket_id=ticket_id,
            user=user if getattr(user, "pk", None) else None,
            username=getattr(user, "username", "") or "",
            fields=fields,
            note=note,
            bulk=bulk,
        )
        forget_older_than(timezone.now() - timedelta(days=settings.AUDIT_DAYS))
    except DatabaseError:
        # The store has the change (the page says so); only its line in the trail is missing.
        logger.error("could not record a change to ticket %s in the audit trail", ticket_id)


def forget_older_than(moment: datetime) -> int:
    deleted, _ = TicketChange.objects.filter(at__lt=moment).delete()
    return deleted


def _comparable(name: str, value: object) -> object:
    if name == "tags":
        return frozenset(value or ())
    return value if value != "" else None


def _recorded(name: str, value: object) -> object:
    return sorted(value or ()) if name == "tags" else value


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) else None
