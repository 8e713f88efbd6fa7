"""The wall board: what an unattended screen shows for one filter.

It stays inside the shared request budget (its rows come through the same cached, paced service
calls as everyone's), counts the filter's tickets by walking the cursor a few pages per refresh
(the same walk counts what the wall's pictures show: open tickets by age, tickets created per
day), marks the tickets that reached the board lately as new, and stands through outages by
showing its last good board, marked stale.
"""

import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from dashboard import pacing, state, store, wall_charts
from dashboard.filters import querystring

ROWS = 10  # what fits 1920x1080 in distance-reading type
COUNT_CAP = 500
COUNT_PAGES_PER_REFRESH = 4
COUNT_MAX_AGE = 60  # seconds a finished count is shown before the walk starts again
ROWS_MAX_AGE = 20  # with a refresh of at most 40 s, the board is never a minute behind
SNAPSHOT_TTL = 7 * 24 * 3600
NEW_SECONDS = 90  # how long a ticket is marked New after it first reached the board
ARRIVALS_TTL = 3600  # a board nobody looked at for an hour starts again from what it shows


@dataclass(frozen=True)
class WallOptions:
    """How a board looks: a display link's settings, or the defaults of the signed-in wall."""

    title: str = "Wall"
    sort: str = "newest"
    refresh: int = 30
    warn_hours: int = 4
    alert_hours: int = 24


@dataclass(frozen=True)
class Counts:
    by_status: tuple[tuple[str, int], ...]
    by_priority: tuple[tuple[str, int], ...]
    total: int
    complete: bool  # False while the walk is still counting
    capped: bool  # the filter holds more tickets than the walk counts
    oldest: tuple[store.Ticket, ...] = ()
    cap: int = COUNT_CAP
    # For the pictures: open tickets per age bar (wall_charts.AGE_BUCKETS), and (ISO day,
    # tickets created) for the last 14 days, both as of `measured_at`. `reached` is when the
    # oldest ticket counted was created, if the walk stopped short of the end (capped, or still
    # counting): what lies before it was not counted.
    ages: tuple[int, ...] = ()
    per_day: tuple[tuple[str, int], ...] = ()
    reached: datetime | None = None
    measured_at: datetime | None = None

    def shown(self, number):
        """A count as a wall shows it: exact when known, "≥ N" while counting or past the cap."""
        return str(number) if self.complete and not self.capped else f"≥ {number}"

    @property
    def total_label(self):
        if self.capped:
            return f"{self.cap}+ tickets"
        if self.complete:
            return f"{self.total} ticket{'' if self.total == 1 else 's'}"
        return f"at least {self.total}, counting"

    def backlog_bars(self):
        reach = None
        if self.reached is not None and self.measured_at is not None:
            reach = (self.measured_at - self.reached).total_seconds()
        return wall_charts.backlog_bars(self.ages, reach)

    def daily_bars(self, today):
        reached_day = timezone.localdate(self.reached) if self.reached else None
        per_day = wall_charts.per_day_from(self.per_day)
        return wall_charts.daily_bars(per_day, today, reached_day)


@dataclass(frozen=True)
class Snapshot:
    tickets: tuple[store.Ticket, ...]
    counts: Counts | None
    fetched_at: datetime
    # (ticket id, when it first reached this board, epoch seconds) for tickets new lately.
    arrived: tuple[tuple[int, float], ...] = ()
    # The newest creation time on the board, in the store's clock: a screen's own baseline.
    newest: datetime | None = None


@dataclass
class Board:
    query: store.TicketQuery
    snapshot: Snapshot | None
    stale_since: datetime | None = None
    problem: str = ""
    oldest_pending: bool = False  # "oldest first" asked, but the count has not finished

    @property
    def stale(self):
        return self.stale_since is not None

    def new_ids(self, since=None, now=None):
        """The tickets to mark New: those that first reached this board (on any screen) within
        `NEW_SECONDS`, and those created after `since`, the newest creation time this screen
        had shown (its own baseline, for when the shared state has forgotten the board)."""
        if self.snapshot is None:
            return frozenset()
        now = time.time() if now is None else now
        new = {ticket_id for ticket_id, at in self.snapshot.arrived if now - at < NEW_SECONDS}
        if since is not None:
            new.update(t.id for t in self.snapshot.tickets if t.created_at and t.created_at > since)
        return frozenset(new)


def build_board(query, sort="newest"):
    """The board for `query`: fresh when the store answers, else the last good one, stale."""
    key = _board_key(query)
    try:
        page = store.list_tickets(query, max_age=ROWS_MAX_AGE)
        counts = _advance_count(query, key)
        tickets = page.tickets[:ROWS]
        oldest_pending = False
        if sort == "oldest":
            if counts and counts.oldest and counts.complete:
                tickets = counts.oldest[:ROWS]
            else:
                oldest_pending = True
        snapshot = Snapshot(
            tickets=tickets,
            counts=counts,
            fetched_at=page.fetched_at,
            arrived=_note_arrivals(key, page.tickets),
            newest=max((t.created_at for t in page.tickets if t.created_at), default=None),
        )
        state.cache_set(f"wall:good:{key}:{sort}", snapshot, SNAPSHOT_TTL)
        state.cache_delete_many([f"wall:failing:{key}"])
        return Board(query=query, snapshot=snapshot, oldest_pending=oldest_pending)
    except (store.TicketsAPIError, state.SharedStateError) as exc:
        return _stale_board(query, key, sort, exc.message)


def _stale_board(query, key, sort, problem):
    """The last good board, marked stale. When the shared state itself has failed there is no
    last board to show: that raises `SharedStateError`, a 503 that a screen answers by keeping
    the board it already shows, marked stale."""
    now = datetime.now(UTC)
    state.cache_add(f"wall:failing:{key}", now, SNAPSHOT_TTL)
    failing_since = state.cache_get(f"wall:failing:{key}") or now
    snapshot = state.cache_get(f"wall:good:{key}:{sort}")
    return Board(query=query, snapshot=snapshot, stale_since=failing_since, problem=problem)


def _note_arrivals(key, tickets, now=None):
    """Which tickets reached this board lately, and when: shared by every screen showing it.

    A ticket has arrived when it is created after the newest one the board had seen before,
    both times in the store's clock. (Comparing with when a screen last refreshed mixed clocks
    and missed every ticket created while the board showed a page fetched a little earlier.)
    The first look at a board sets the baseline and marks nothing. Screens racing each other
    at worst note an arrival twice, a moment apart.
    """
    now = time.time() if now is None else now
    cache_key = f"wall:arrivals:{key}"
    known = state.cache_get(cache_key)
    dated = [t for t in tickets if t.created_at is not None]
    newest = max((t.created_at for t in dated), default=None)
    if known is None:
        known = {"newest": newest, "at_newest": set(), "arrived": {}, "since": now}
    else:
        for ticket in dated:
            if ticket.id not in known["arrived"] and _is_newer(ticket, known):
                known["arrived"][ticket.id] = now
    if newest is not None and (known["newest"] is None or newest >= known["newest"]):
        if newest != known["newest"]:
            known["at_newest"] = set()
        known["newest"] = newest
        known["at_newest"] |= {t.id for t in dated if t.created_at == newest}
    known["arrived"] = {i: at for i, at in known["arrived"].items() if now - at < NEW_SECONDS}
    state.cache_set(cache_key, known, ARRIVALS_TTL)
    return tuple(sorted(known["arrived"].items()))


def _is_newer(ticket, known):
    if known["newest"] is None:  # the board was empty: what was created since it was looked at
        return ticket.created_at.timestamp() > known["since"]
    if ticket.created_at == known["newest"]:  # the store's times are to the second
        return ticket.id not in known["at_newest"]
    return ticket.created_at > known["newest"]


def _advance_count(query, key):
    """Walk the filter's cursor a few pages further and return the counts known so far.

    The walk's progress lives in the shared cache, so every screen and worker showing this
    filter advances one walk; a screen that finds the walk busy shows what is known.
    """
    state_key = count_key(query)
    try:
        with pacing.backend().lock(f"wall-count:{key}", timeout=0):
            progress = state.cache_get(state_key) or {
                "walk": None,
                "result": None,
                "result_at": 0.0,
            }
            now = time.time()
            if progress["walk"] is not None and "ages" not in progress["walk"]:
                progress["walk"] = None  # begun before the pictures: its pages were not tallied
            if progress["walk"] is None and (
                progress["result"] is None or now - progress["result_at"] > COUNT_MAX_AGE
            ):
                progress["walk"] = _new_walk()
            if progress["walk"] is not None:
                try:
                    _walk(query, progress, now)
                except store.InvalidCursor:
                    progress["walk"] = None  # the list moved under the walk: count again
                except store.TicketsAPIError:
                    pass  # counting goes on at the next refresh; the rows are fresh
            state.cache_set(state_key, progress, SNAPSHOT_TTL)
    except pacing.WaitTimeout:
        progress = state.cache_get(state_key)
    if not progress:
        return None
    if progress["result"] is not None:
        return progress["result"]
    walk = progress["walk"]
    return _counts(walk, complete=False, capped=False) if walk else None


def _new_walk():
    return {
        "cursor": "",
        "status": Counter(),
        "priority": Counter(),
        "seen": 0,
        "tail": [],
        "ages": [0] * len(wall_charts.AGE_BUCKETS),  # open tickets per backlog bar
        "days": Counter(),  # tickets created per ISO day, within the last 14 days
        "oldest_at": None,  # the oldest creation time counted so far
        "measured_at": None,  # when the latest page was counted: the ages' "now"
    }


def _walk(query, progress, now):
    walk = progress["walk"]
    for _ in range(COUNT_PAGES_PER_REFRESH):
        page = store.list_tickets(query.with_cursor(walk["cursor"]))
        _tally(walk, page.tickets, datetime.now(UTC))
        walk["seen"] += len(page.tickets)
        walk["tail"] = (walk["tail"] + list(page.tickets))[-ROWS:]
        walk["cursor"] = page.next_cursor
        capped = bool(page.next_cursor) and walk["seen"] >= COUNT_CAP
        walk["cap"] = COUNT_CAP
        if not page.next_cursor or capped:
            progress["result"] = _counts(walk, complete=True, capped=capped)
            progress["result_at"] = now
            progress["walk"] = None
            return


def _tally(walk, tickets, at):
    """Count one page of the walk: statuses, priorities, and what the pictures show."""
    first_day = timezone.localdate(at) - timedelta(days=wall_charts.DAYS - 1)
    for ticket in tickets:
        walk["status"][ticket.status or "none"] += 1
        walk["priority"][ticket.priority or "none"] += 1
        created = ticket.created_at
        if created is None:
            continue
        oldest = walk["oldest_at"]
        walk["oldest_at"] = created if oldest is None else min(oldest, created)
        if ticket.status not in RESOLVED:
            walk["ages"][wall_charts.age_bucket((at - created).total_seconds())] += 1
        day = timezone.localdate(created)
        if day >= first_day:
            walk["days"][day.isoformat()] += 1
    walk["measured_at"] = at


def _counts(walk, complete, capped):
    walk_at = walk["measured_at"] or datetime.now(UTC)
    known_status = [s for s in store.STATUSES if walk["status"][s]]
    other_status = sorted(s for s in walk["status"] if s not in store.STATUSES)
    known_priority = [p for p in store.PRIORITIES if walk["priority"][p]]
    other_priority = sorted(p for p in walk["priority"] if p not in store.PRIORITIES)
    return Counts(
        by_status=tuple((s, walk["status"][s]) for s in known_status + other_status),
        by_priority=tuple((p, walk["priority"][p]) for p in known_priority + other_priority),
        total=walk["seen"],
        complete=complete,
        capped=capped,
        oldest=tuple(reversed(walk["tail"])),
        cap=walk.get("cap", COUNT_CAP),
        ages=tuple(walk["ages"]),
        per_day=tuple(sorted(walk["days"].items())),
        # Short of the end, nothing older than the oldest ticket counted is known; before the
        # first page, nothing at all.
        reached=None if complete and not capped else walk["oldest_at"] or walk_at,
        measured_at=walk_at,
    )


def rotation(filters_count, rotate_seconds, now=None):
    """Which of a link's filters is on screen now: decided by the clock on the server, so every
    screen agrees and nothing in the kiosk browser has to change."""
    now = time.time() if now is None else now
    return int(now // rotate_seconds) % filters_count


def mask_email(email):
    """anna.k@example.com -> an•••@example.com: enough to tell people apart, not to copy."""
    if not email or "@" not in email:
        return email or ""
    local, _, domain = email.partition("@")
    return f"{local[:2]}•••@{domain}"


RESOLVED = {"solved", "closed"}


def age_class(ticket, warn_hours, alert_hours, now=None):
    """How long a ticket has waited, for its colour: resolved tickets wait for nobody."""
    created_at = ticket.created_at
    if ticket.status in RESOLVED:
        return "age-resolved"
    if created_at is None:
        return "age-unknown"
    age = (now or datetime.now(UTC)) - created_at
    if age >= timedelta(hours=alert_hours):
        return "age-alert"
    if age >= timedelta(hours=warn_hours):
        return "age-warn"
    return "age-ok"


def count_key(query):
    """Where the count walk of `query` keeps its progress in the shared cache."""
    return f"wall:count:{_board_key(query)}"


def _board_key(query):
    # The store and token are part of the key, as for every cached answer: another store's
    # board or count must never show here.
    text = f"{store.identity()} {querystring(query)}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]
