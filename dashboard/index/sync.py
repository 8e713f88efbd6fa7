"""Backfill and drift: the walk of every ticket that fills the ticket index, and corrects what
the webhooks missed.

When the index holds no whole walk of this store, or its last whole walk ended more than
`INDEX_RESYNC_HOURS` ago, one walk reads every ticket (`GET tickets/` with no filter, page by
page by the store's cursor) and writes each page into the index:

- **Behind people.** Its calls are in the budget's background lane: none while a person waits
  for a slot, never more than the background's share of the token's 4 calls a second, so no
  429. In a dashboard it runs in the process's background worker at the lowest priority,
  `PAGES_PER_STEP` pages at a time, so whatever a person has in front of them goes first.
- **Resumable.** Each page's tickets and the cursor after them are saved in one transaction
  (`IndexSync`), so a walk stopped anywhere (a restart, a deploy, Ctrl-C) goes on from its last
  saved page. A cursor the store no longer knows (404 "Invalid cursor") starts it again from
  the top; so does one left unfinished for longer than a walk is good for.
- **One at a time.** A step holds the budget's lock `LOCK`, shared by every process of every
  machine: a flock that dies with its holder, or on Redis a lock whose lease (`LEASE`) runs
  out if its holder dies. A step is short (`STEP_SECONDS` at most), far within the lease.
- **The newest state wins.** Each ticket is written with `rows.write_if_newer`, so a delivery
  that arrived meanwhile with a newer `updated_at` is kept; every ticket on the page is marked
  seen all the same (`indexed_at`).
- **Gone is gone.** When the last page is written, a ticket indexed before the walk began and
  not seen by it is no longer in the store: it is removed. `CLOCK_MARGIN` keeps a ticket a
  webhook wrote on a machine whose clock runs a little behind.
- **Another store.** When the index describes another store than the one the dashboard is
  pointed at (`freshness.store_name()`), it is emptied before the walk begins.

`nudge()` (the middleware) hands a step to the background worker, `run()` walks in the
foreground (`manage.py sync_tickets`). Faults (the store, the shared state, the database) end
a background step with a log line, and the walk is tried again later; they never reach a
person.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, transaction
from django.utils import timezone

from dashboard import budget, store
from dashboard.budget import worker
from dashboard.index import changes, freshness, rows
from dashboard.models import IndexedTicket, IndexSync

logger = logging.getLogger(__name__)

LOCK = "index-sync"
LEASE = 120.0  # seconds the walk's Redis lock outlives a holder that died
STEP_SECONDS = 30.0  # a step reads no page after this: it ends well within its lease
PAGES_PER_STEP = 2  # in a dashboard: about 0.7 s of the background thread, then it yields
SLOT_WAIT = 5.0  # seconds a background step waits for each slot before it tries again later
CHECK_EVERY = 30.0  # seconds between a process's looks at whether the walk is due
RETRY_SOON = 2.0  # seconds before a walk under way that gave way to other work goes on
FAILURE_PAUSE = 30.0  # after a fault, the first pause; it doubles with each fault after it
MOST_PAUSE = 900.0
CLOCK_MARGIN = timedelta(minutes=5)
RUN_PAGES = 10  # pages per step in the foreground, between which the lock is let go
RUN_SLOT_WAIT = 30.0
JOB = ("index-sync",)

# When a step may begin a walk, if none is under way.
IF_DUE, ALWAYS, NEVER = "if due", "always", "never"

# What ends a step without being a bug: the store, the shared state, the database.
FAULTS = (store.TicketsAPIError, budget.SharedStateError, DatabaseError)


@dataclass(frozen=True)
class Progress:
    """Where the walk stands after a step."""

    walking: bool  # a walk is under way: pages are left to read
    walked: int  # tickets the walk under way has read (the last whole walk's, when none is)
    expected: int | None  # tickets the last whole walk read: roughly how many there are
    finished_at: datetime | None  # when the last whole walk ended
    pages: int = 0  # pages this step read
    ended: bool = False  # this step read the walk's last page
    removed: int = 0  # tickets it then removed, gone from the store
    restarted: bool = False  # the store no longer knew the cursor: walked again from the top


def due(now: datetime | None = None) -> bool:
    """Whether the walk should go on: none has finished for this store, one is under way, or
    the last ended more than `INDEX_RESYNC_HOURS` ago."""
    sync = IndexSync.objects.filter(store=freshness.store_name()).first()
    return _due(sync, now or timezone.now())


def _due(sync: IndexSync | None, now: datetime) -> bool:
    if sync is None or sync.finished_at is None or sync.walk_started_at is not None:
        return True
    return now - sync.finished_at >= freshness.resync_after()


def current() -> Progress:
    """Where the walk stands, read without its lock."""
    sync = IndexSync.objects.filter(store=freshness.store_name()).first()
    return _progress(sync or IndexSync(store=freshness.store_name()))


def step(
    pages: int,
    begin: str = IF_DUE,
    restart: bool = False,
    lock_wait: float = 0.0,
    on_page: Callable[[int, int | None], object] | None = None,
) -> Progress | None:
    """Read up to `pages` pages of the walk (none past `STEP_SECONDS`) under its lock; None
    when another process holds the lock for more than `lock_wait` seconds.

    With no walk under way, `begin` says whether to begin one: `IF_DUE`, `ALWAYS` or `NEVER`;
    `restart` begins one from the top whatever the walk under way. Store calls are made in the
    caller's lane. `on_page(walked, expected)` hears each page once it is saved. Raises the
    store's, the shared state's and the database's errors; what was saved stays saved."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(budget.backend().lock(LOCK, timeout=lock_wait, ttl=LEASE))
        except budget.WaitTimeout:
            return None
        return _step(pages, begin, restart, on_page)


def _step(pages, begin, restart, on_page):
    now = timezone.now()
    sync = _this_store()
    walking = sync.walk_started_at is not None
    if walking and now - sync.walk_started_at > freshness.resync_after():
        # Left unfinished for longer than a walk is good for: its first pages are old news.
        restart = True
    if restart or (not walking and (begin == ALWAYS or (begin == IF_DUE and _due(sync, now)))):
        _begin(sync, now)
    elif not walking:
        return _progress(sync)
    read = removed = 0
    ended = restarted = False
    until = time.monotonic() + STEP_SECONDS
    while read < pages and time.monotonic() < until:
        try:
            page = store.all_tickets_page(sync.cursor)
        except store.InvalidCursor:
            logger.info("the store no longer knows the walk's cursor: walking from the top")
            _begin(sync, timezone.now())
            restarted = True
            continue
        if page.next_cursor is not None and page.next_cursor == sync.cursor:
            raise store.BadResponse("the ticket list's cursor does not move")
        read += 1
        removed = _write(sync, page)
        if on_page is not None:
            on_page(sync.walked if sync.walk_started_at else sync.finished_count, _expected(sync))
        if sync.walk_started_at is None:
            ended = True
            break
    return _progress(sync, pages=read, ended=ended, removed=removed, restarted=restarted)


def _expected(sync: IndexSync) -> int | None:
    return sync.finished_count if sync.finished_at is not None and sync.finished_count else None


def _progress(sync: IndexSync, **this_step) -> Progress:
    walking = sync.walk_started_at is not None
    return Progress(
        walking=walking,
        walked=sync.walked if walking else sync.finished_count,
        expected=_expected(sync),
        finished_at=sync.finished_at,
        **this_step,
    )


def _this_store() -> IndexSync:
    """The walk's state for the store the dashboard reads; the index emptied first when what
    it holds was walked from another store."""
    name = freshness.store_name()
    found = list(IndexSync.objects.all())
    mine = next((sync for sync in found if sync.store == name), None)
    others = [sync.pk for sync in found if sync is not mine]
    if others:
        with transaction.atomic():
            if mine is None:
                IndexedTicket.objects.all().delete()  # tags, products and comments with them
                logger.warning("ticket index emptied: it described another store")
            IndexSync.objects.filter(pk__in=others).delete()
        freshness.forget()
    return mine or IndexSync.objects.create(store=name)


def _begin(sync: IndexSync, now: datetime) -> None:
    sync.cursor, sync.walk_started_at, sync.walked = "", now, 0
    sync.save(update_fields=["cursor", "walk_started_at", "walked"])


def _write(sync: IndexSync, page: store.TicketPage) -> int:
    """Write a page's tickets and the walk's place after them in one transaction; at the
    walk's last page, end it. Returns how many tickets that removed."""
    now = timezone.now()
    removed = 0
    with transaction.atomic():
        dated = []
        for ticket in page.tickets:
            if ticket.created_at is None or ticket.updated_at is None:
                logger.warning("ticket %s left out of the index: it has no dates", ticket.id)
                continue
            dated.append((_as_delivered(ticket), ticket.created_at, ticket.updated_at))
        rows.write_many_if_newer(dated)
        # Seen by this walk, also where a delivery's newer state was kept: not gone.
        IndexedTicket.objects.filter(pk__in=[t.id for t in page.tickets]).update(indexed_at=now)
        sync.walked += len(page.tickets)
        if page.next_cursor:
            sync.cursor = page.next_cursor
            sync.save(update_fields=["cursor", "walked"])
            return 0
        removed = _end(sync, now)
    freshness.forget()
    changes.index_changed()  # open lists and walls read the index again
    logger.info("ticket index walk ended: %s tickets, %s removed", sync.finished_count, removed)
    return removed


def _end(sync: IndexSync, now: datetime) -> int:
    """Remove what the store no longer has, and record the whole walk."""
    started = sync.walk_started_at
    assert started is not None
    _, deleted = IndexedTicket.objects.filter(indexed_at__lt=started - CLOCK_MARGIN).delete()
    sync.finished_at, sync.finished_count = now, sync.walked
    sync.cursor, sync.walk_started_at, sync.walked = "", None, 0
    sync.save()
    return deleted.get(IndexedTicket._meta.label, 0)


def _as_delivered(ticket: store.Ticket) -> dict:
    """A ticket as a webhook delivery carries it, which is what `rows` writes."""
    return {
        "id": ticket.id,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "requester": ticket.requester,
        "assignee": ticket.assignee,
        "ticket_type": ticket.ticket_type,
        "tags": list(ticket.tags),
        "products": list(ticket.products),
        "order": ticket.order,
        "from_email": ticket.from_email,
        "subject": ticket.subject,
        "comments": [
            {
                "id": comment.id,
                "author": comment.author,
                "from_email": comment.from_email,
                "is_public": comment.is_public,
                "created_at": comment.created_at.isoformat() if comment.created_at else None,
            }
            for comment in ticket.comments
        ],
    }


def run(
    restart: bool = False,
    on_page: Callable[[int, int | None], object] | None = None,
    on_wait: Callable[[str], object] | None = None,
) -> Progress:
    """The walk to its end, in the foreground (`manage.py sync_tickets`): the walk under way
    goes on (or, with `restart`, starts again from the top), else a new one begins. Its calls
    are in the background lane, sharing the token's budget with every dashboard and leaving
    people their slots; between steps of `RUN_PAGES` pages it lets go of the lock, so a
    dashboard may take a step of the same walk. `on_wait(why)` hears each wait.

    Raises the store's, the shared state's and the database's errors, and lets Ctrl-C through:
    every page saved stays saved, and the next run goes on from there."""
    begin = ALWAYS
    while True:
        try:
            with budget.background(wait=RUN_SLOT_WAIT):
                done = step(RUN_PAGES, begin, restart, lock_wait=LEASE, on_page=on_page)
        except store.StoreBusy:
            # People kept the budget busy for a while; the walk (begun) waits its turn again.
            begin, restart = NEVER, False
            if on_wait is not None:
                on_wait("people are using the store's request budget")
            continue
        if done is None:
            if on_wait is not None:
                on_wait("another process holds the walk")
            continue
        begin, restart = NEVER, False
        if not done.walking:
            return done


# -- In a dashboard: a step at a time in the background worker --------------------------------

_lock = threading.Lock()
_next_look = 0.0  # time.monotonic() before which `nudge` does nothing
_failures = 0


def nudge() -> None:
    """Hand a step of the walk to this process's background worker, at most once every
    `CHECK_EVERY` seconds and not while a fault's pause lasts. Called on every request: it
    costs a clock read, and reads nothing (whether the walk is due is read in the worker)."""
    global _next_look
    if not settings.INDEX_BACKFILL:
        return
    now = time.monotonic()
    with _lock:
        if now < _next_look:
            return
        _next_look = now + CHECK_EVERY
    worker.submit(JOB, _background_step, worker.Priority.INDEX)


def _background_step() -> None:
    """One step of the walk if it is due and nobody else is taking one; the next step is
    handed to the worker again, behind whatever waits there."""
    close_old_connections()
    try:
        with budget.background(wait=SLOT_WAIT):
            progress = step(PAGES_PER_STEP, IF_DUE)
    except store.StoreBusy:
        logger.debug("ticket index walk waits: people kept the budget busy")
        _look_again_soon()
        return
    except FAULTS as exc:
        _failed(exc)
        return
    finally:
        connections.close_all()  # this thread's: the worker may sleep for hours
    _succeeded()
    going_on = progress is not None and progress.walking
    if going_on and not worker.submit(JOB, _background_step, worker.Priority.INDEX):
        _look_again_soon()  # the queue is full of people's work: the next request asks


def _look_again_soon() -> None:
    """Let the next request's nudge hand the walk on again after `RETRY_SOON` seconds, not
    `CHECK_EVERY`: a walk under way that gave way to people goes on once they are served.
    When no request comes by then (the people served, nobody else looking), this process
    nudges itself: a walk must not wait for a visitor to go on."""
    global _next_look
    with _lock:
        _next_look = min(_next_look, time.monotonic() + RETRY_SOON)
    timer = threading.Timer(RETRY_SOON + 0.1, nudge)
    timer.daemon = True
    timer.start()


def _failed(exc: Exception) -> None:
    global _failures, _next_look
    with _lock:
        _failures += 1
        pause = min(FAILURE_PAUSE * 2 ** (_failures - 1), MOST_PAUSE)
        _next_look = max(_next_look, time.monotonic() + pause)
    logger.warning("ticket index walk paused: %s; trying again in %d s", describe(exc), pause)


def _succeeded() -> None:
    global _failures
    with _lock:
        _failures = 0


def forget() -> None:
    """Look at once on the next nudge, with no fault remembered (tests)."""
    global _next_look, _failures
    with _lock:
        _next_look, _failures = 0.0, 0


def describe(exc: BaseException) -> str:
    """What stopped the walk, in words fit for a log line and an operator (never the token)."""
    if isinstance(exc, store.ScopeMissing):
        return f"the store's token may not read tickets: it needs the {exc.scope} scope"
    if isinstance(exc, store.TokenRejected):
        return "the store rejected the API token (check NEXT_API_TOKEN)"
    if isinstance(exc, budget.SharedStateError | store.SharedStateUnavailable):
        return "the dashboard's shared state (Redis, or the state directory) is unavailable"
    if isinstance(exc, DatabaseError):
        return f"the dashboard's database is unavailable ({type(exc).__name__})"
    if isinstance(exc, store.StoreTimeout):
        return "the store took too long to answer"
    if isinstance(exc, store.StoreUnavailable):
        return "the store is unavailable"
    if isinstance(exc, store.StoreBusy):
        return "people kept the store's request budget busy"
    if isinstance(exc, store.RateLimited):
        return "the store is rate limiting the dashboard"
    if isinstance(exc, store.BadResponse):
        return "the store sent an answer the dashboard cannot read"
    if isinstance(exc, store.TicketsAPIError):
        return exc.message.rstrip(".")
    return type(exc).__name__
