"""A change of many tickets at once, ticked on the list: the same status, priority or assignee
for each, one `PATCH tickets/{id}/` per ticket, in the background lane.

- `BulkForm` reads what the list's form posted: the ticked ids (at most `BULK_MAX`) and, for
  each of status, priority and assignee, a value or "no change".
- `start` keeps the bulk and one `BulkItem` per ticket, and once that is committed hands it
  to a thread of its own, so it goes on after the request that asked for it has ended.
- The thread (`run`) takes the tickets in order, each inside `budget.background()`: people's
  pages go first, and the store never sees more than the token's budget, whatever else is
  asking. For each ticket it reads the ticket as the store has it now (`changes.current`: the
  index when the store's webhooks keep it current, else one GET) and sends only the chosen
  fields that differ; a ticket that already has them all is "already so", and costs no write.
  The store's answer goes into the index and the caches it makes wrong are dropped, and the
  change is written to the audit trail with the bulk named, as for a single change.
- A refusal is kept with the store's own words. A 403 (a token without `tickets:write`) or a
  401 ends the whole bulk: every ticket left fails with its message and nothing more is sent.
  So do three failures of the store in a row: it is down, and the rest would only wait for it.
- `progress` is what the progress page shows. A bulk whose thread is gone (its process ended
  without the exit below) is settled by the next look at it, once nothing happened for
  `LOST_AFTER`: what was left is marked not changed, never sent again behind anyone's back.
"""

import atexit
import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from dashboard import budget, store
from dashboard.models import BulkChange, BulkItem
from dashboard.tickets.filter_fields import as_id
from dashboard.triage import changes

logger = logging.getLogger(__name__)

FIELDS = ("status", "priority", "assignee")
NO_CHANGE = ""
UNASSIGNED = "none"  # the assignee select's value for "Unassigned" ("" is "no change")

# Each store call waits this long for a background slot; a ticket whose calls found none for
# SLOT_PATIENCE in all (people kept the budget busy) is not changed, and says so.
SLOT_WAIT = 30.0
SLOT_PATIENCE = 120.0
# This many store failures in a row end a bulk: the store is down.
FAILURES_IN_A_ROW = 3
# A bulk with nothing done for this long has lost its thread (a ticket takes at most
# SLOT_PATIENCE plus two calls' deadlines).
LOST_AFTER = timedelta(minutes=5)

LOST = "Not changed: the dashboard stopped before this ticket. Tick it again to change it."
STOPPED = "Not changed: the dashboard restarted before this ticket. Tick it again to change it."
BUSY = (
    "Not changed: people kept the store's request budget busy for two minutes. "
    "Tick it again to change it."
)
NOT_TRIED = "Not tried: {why}"
BROKEN = "Not changed: the dashboard failed on this ticket (see its log)."


# --- The form ------------------------------------------------------------------------------


class TicketIds(forms.Field):
    """The ticked tickets: every `ids` value, each a ticket id, in the order ticked, once."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        values = value if isinstance(value, list | tuple) else [value] if value else []
        return list(dict.fromkeys(as_id(item, "ticket id") for item in values if str(item).strip()))

    def validate(self, value):
        if not value:
            raise forms.ValidationError("Tick at least one ticket to change.", code="required")
        most = settings.BULK_MAX
        if len(value) > most:
            raise forms.ValidationError(
                f"At most {most} tickets can be changed at once, and {len(value)} are ticked. "
                "Untick some, or change them in several goes.",
                code="too_many",
            )


def local_path(value) -> str:
    """Where the list was (to go back to): a path of this site, or ""."""
    value = str(value or "").strip()
    if value.startswith("/") and url_has_allowed_host_and_scheme(value, allowed_hosts=None):
        return value
    return ""


def status_label(value):
    return str(value).replace("_", " ").capitalize()


class BulkForm(forms.Form):
    ids = TicketIds(required=False)
    status = forms.ChoiceField(label="Status", required=False)
    priority = forms.ChoiceField(label="Priority", required=False)
    assignee = forms.ChoiceField(label="Assignee", required=False)
    back = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def __init__(self, *args, staff=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.staff = staff or {}
        no_change = [(NO_CHANGE, "No change")]
        self.fields["status"].choices = no_change + [(s, status_label(s)) for s in store.STATUSES]
        self.fields["priority"].choices = no_change + [
            (p, status_label(p)) for p in store.PRIORITIES
        ]
        agents = sorted(self.staff.values(), key=lambda agent: agent.name.casefold())
        self.fields["assignee"].choices = (
            no_change
            + [(UNASSIGNED, "Unassigned")]
            + [(str(agent.id), agent.name) for agent in agents]
        )

    def clean_back(self):
        return local_path(self.cleaned_data["back"])

    def clean(self):
        data = super().clean()
        if not self.errors and not self.changes():
            raise forms.ValidationError(
                "Choose a status, a priority or an assignee for the ticked tickets.",
                code="nothing",
            )
        return data

    def changes(self) -> dict:
        """The fields to set, as the store takes them: `{"status": "open", "assignee": None}`."""
        data = self.cleaned_data
        found = {name: data[name] for name in ("status", "priority") if data.get(name)}
        assignee = data.get("assignee")
        if assignee == UNASSIGNED:
            found["assignee"] = None
        elif assignee:
            found["assignee"] = int(assignee)
        return found

    def reasons(self) -> list[str]:
        """Every error in words, the fields' first: for the alert above the list."""
        found = []
        for name, errors in self.errors.items():
            label = "" if name in ("__all__", "ids") else f"{self.fields[name].label}: "
            found += [f"{label}{error}" for error in errors]
        return found


# --- Starting and running ------------------------------------------------------------------


_running: dict[int, threading.Thread] = {}
_running_lock = threading.Lock()
_stopping = threading.Event()


def start(user, ids, wanted: dict) -> BulkChange:
    """Keep the bulk change of `ids` to `wanted` and, once committed, start changing them."""
    with transaction.atomic():
        bulk = BulkChange.objects.create(user=user, changes=wanted)
        BulkItem.objects.bulk_create(BulkItem(bulk=bulk, ticket_id=ticket_id) for ticket_id in ids)
    transaction.on_commit(lambda: launch(bulk.pk))
    return bulk


def launch(bulk_id: int) -> None:
    """Run bulk `bulk_id` in a thread of its own (once per process)."""
    with _running_lock:
        if bulk_id in _running or _stopping.is_set():
            return
        thread = threading.Thread(
            target=_thread, args=(bulk_id,), name=f"bulk-{bulk_id}", daemon=True
        )
        _running[bulk_id] = thread
    thread.start()


def running(bulk_id: int) -> bool:
    with _running_lock:
        return bulk_id in _running


def _thread(bulk_id: int) -> None:
    try:
        run(bulk_id)
    except Exception:
        logger.exception("bulk change %s failed", bulk_id)
    finally:
        with _running_lock:
            _running.pop(bulk_id, None)
        connections.close_all()  # this thread's own connections


def run(bulk_id: int) -> None:
    """Change every ticket of bulk `bulk_id` still waiting, in order, then mark it finished."""
    close_old_connections()
    bulk = BulkChange.objects.select_related("user").get(pk=bulk_id)
    failures_in_a_row = 0
    for item_id, ticket_id in list(
        bulk.items.filter(state=BulkItem.PENDING).values_list("pk", "ticket_id")
    ):
        if _stopping.is_set():
            _fail_rest(bulk, STOPPED)
            break
        if not BulkItem.objects.filter(pk=item_id, state=BulkItem.PENDING).exists():
            continue  # settled meanwhile (see `settle_if_lost`)
        try:
            state, message = change_one(bulk, ticket_id)
        except (store.ScopeMissing, store.TokenRejected) as exc:
            # Every further write would be refused the same way: none is sent.
            _settle(item_id, BulkItem.FAILED, _refusal(exc))
            _fail_rest(bulk, _refusal(exc))
            break
        except (store.StoreUnavailable, store.BadResponse, budget.SharedStateError) as exc:
            failures_in_a_row += 1
            _settle(item_id, BulkItem.FAILED, _refusal(exc))
            if failures_in_a_row >= FAILURES_IN_A_ROW:
                why = f"the store failed {FAILURES_IN_A_ROW} times in a row ({_refusal(exc)})"
                _fail_rest(bulk, NOT_TRIED.format(why=why))
                break
            continue
        except store.TicketsAPIError as exc:  # refused, not found, rate limited, busy
            stopped = isinstance(exc, store.StoreBusy) and _stopping.is_set()
            state, message = BulkItem.FAILED, STOPPED if stopped else _refusal(exc)
        except Exception:
            logger.exception("bulk change %s: ticket %s", bulk_id, ticket_id)
            state, message = BulkItem.FAILED, BROKEN
        failures_in_a_row = 0
        _settle(item_id, state, message)
    _finish(bulk)


def change_one(bulk: BulkChange, ticket_id: int) -> tuple[str, str]:
    """One ticket of the bulk: `(state, message)`; the store's errors are raised."""
    wanted = bulk.changes
    now = _patiently(lambda: changes.current(ticket_id)[0])
    body = {
        name: value
        for name, value in wanted.items()
        if name in FIELDS and _same(value) != _same(now.get(name))
    }
    if not body:
        return BulkItem.UNCHANGED, ""
    _, answer = _patiently(lambda: store.update_ticket(ticket_id, body, background=True))
    changes.to_index(now, answer)
    fields = {name: [now.get(name), answer.get(name)] for name in body}
    changes.record(bulk.user, ticket_id, fields, bulk=bulk)
    return BulkItem.APPLIED, ""


def _patiently(call):
    """`call()` in the background lane, asked again while it finds no slot in the budget (it
    was not sent), up to SLOT_PATIENCE in all."""
    deadline = time.monotonic() + SLOT_PATIENCE
    while True:
        try:
            with budget.background(wait=SLOT_WAIT):
                return call()
        except store.StoreBusy:
            if time.monotonic() >= deadline or _stopping.is_set():
                raise


def _same(value):
    return None if value == "" else value


def _refusal(exc: BaseException) -> str:
    """What a failed ticket says: the store's own words when it gave them."""
    if isinstance(exc, store.ScopeMissing):
        scope = exc.scope or store.WRITE_SCOPE
        return f"The store's token may not change tickets: it needs the {scope} scope."
    if isinstance(exc, store.WriteRefused) and exc.field_errors:
        parts = []
        for name, messages in exc.field_errors.items():
            words = " ".join(messages)
            parts.append(words if name == "__all__" else f"{_label(name)}: {words}")
        return " ".join(parts)
    if isinstance(exc, store.StoreBusy):
        return BUSY
    if isinstance(exc, store.StoreTimeout):
        return "The store took too long to answer: this ticket may have changed all the same."
    return getattr(exc, "message", "") or "The store could not answer."


def _label(name: str) -> str:
    return changes.LABELS.get(name, name.replace("_", " ").capitalize())


def _settle(item_id: int, state: str, message: str) -> None:
    try:
        BulkItem.objects.filter(pk=item_id, state=BulkItem.PENDING).update(
            state=state, message=message[:2000], done_at=timezone.now()
        )
    except DatabaseError:
        logger.error("could not record a bulk change's outcome for item %s", item_id)


def _fail_rest(bulk: BulkChange, message: str) -> None:
    try:
        bulk.items.filter(state=BulkItem.PENDING).update(
            state=BulkItem.FAILED, message=message[:2000], done_at=timezone.now()
        )
    except DatabaseError:
        logger.error("could not record the end of bulk change %s", bulk.pk)


def _finish(bulk: BulkChange) -> None:
    try:
        BulkChange.objects.filter(pk=bulk.pk, finished_at=None).update(finished_at=timezone.now())
    except DatabaseError:
        logger.error("could not mark bulk change %s finished", bulk.pk)


@atexit.register
def _stop() -> None:
    """At the process's exit each bulk ends at its next ticket, the rest marked not changed,
    rather than waiting `LOST_AFTER` for a look at it."""
    _stopping.set()
    with _running_lock:
        threads = list(_running.values())
    for thread in threads:
        thread.join(timeout=5.0)


# --- Progress ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    total: int
    applied: int
    unchanged: int
    failed: int
    finished: bool
    failures: list  # [(ticket_id, message)], in the order ticked
    settled: list  # once finished: the tickets changed or already so (the list unticks them)

    @property
    def done(self) -> int:
        return self.applied + self.unchanged + self.failed

    @property
    def summary(self) -> str:
        """What has been done so far, e.g. "7 of 12 changed, 1 failed"."""
        parts = [f"{self.applied} of {self.total} changed"]
        if self.unchanged:
            parts.append(f"{self.unchanged} already so")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return ", ".join(parts)


def progress(bulk: BulkChange) -> Progress:
    """Where `bulk` stands, in two queries (three once it is finished)."""
    counts = bulk.items.aggregate(
        total=Count("pk"),
        applied=Count("pk", filter=Q(state=BulkItem.APPLIED)),
        unchanged=Count("pk", filter=Q(state=BulkItem.UNCHANGED)),
        failed=Count("pk", filter=Q(state=BulkItem.FAILED)),
    )
    failures = list(
        bulk.items.filter(state=BulkItem.FAILED).order_by("pk").values_list("ticket_id", "message")
    )
    finished = bulk.finished_at is not None
    settled = []
    if finished:
        settled = list(
            bulk.items.filter(state__in=(BulkItem.APPLIED, BulkItem.UNCHANGED))
            .order_by("pk")
            .values_list("ticket_id", flat=True)
        )
    return Progress(**counts, finished=finished, failures=failures, settled=settled)


def settle_if_lost(bulk: BulkChange) -> None:
    """A bulk left unfinished with nothing done for `LOST_AFTER`, and not running here, lost
    its thread with its process: what is left is marked not changed, and the bulk finished."""
    if bulk.finished_at is not None or running(bulk.pk):
        return
    last = bulk.items.aggregate(last=Max("done_at"))["last"] or bulk.created_at
    if timezone.now() - last < LOST_AFTER:
        return
    logger.warning("bulk change %s lost its thread: the tickets left are not changed", bulk.pk)
    _fail_rest(bulk, LOST)
    _finish(bulk)
    bulk.refresh_from_db(fields=["finished_at"])


def describe(wanted: dict, staff=None) -> list[tuple[str, str]]:
    """`[(label, value)]` of a bulk's change, in words: `[("Status", "Open")]`."""
    return [(changes.LABELS[name], _words(name, wanted[name], staff or {})) for name in FIELDS
            if name in wanted]  # fmt: skip


def _words(name: str, value, staff) -> str:
    if name != "assignee":
        return status_label(value)
    if value is None:
        return "Unassigned"
    agent = staff.get(value)
    return agent.name if agent is not None else f"Agent #{value}"
