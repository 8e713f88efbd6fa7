"""The wall board: what an unattended screen shows for one filter.

It stays inside the shared request budget (its rows come through the same cached, paced service
calls as everyone's), counts the filter's tickets by walking the cursor a few pages per refresh
(`dashboard.tickets.counts`, the walk the list's total shares, which also tallies what the
wall's pictures show: open tickets by age, tickets created per day) unless the ticket index
answers them (read by the view, `dashboard.index.counts`), marks the tickets that reached the
board lately as new, and stands through outages by showing its last good board, marked stale.
"""

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from dashboard import store
from dashboard.budget import state
from dashboard.tickets import ages, counts
from dashboard.tickets.counts import Counts
from dashboard.tickets.querystring import querystring

ROWS = 10  # what fits 1920x1080 in distance-reading type
ROWS_MAX_AGE = 20  # with a refresh of at most 40 s, the board is never a minute behind
SNAPSHOT_TTL = 7 * 24 * 3600
NEW_SECONDS = 90  # how long a ticket is marked New after it first reached the board
ARRIVALS_TTL = 3600  # a board nobody looked at for an hour starts again from what it shows


@dataclass(frozen=True)
class WallOptions:
    """How a board looks: a display link's settings, or the defaults of the signed-in wall."""

    title: str = "Wall"
    sort: str = "newest"  # "newest", "oldest" or "waiting" (longest waiting on the team first)
    refresh: int = 30
    warn_hours: int = 4
    alert_hours: int = 24


@dataclass(frozen=True)
class Snapshot:
    tickets: tuple[store.Ticket, ...]
    counts: Counts | None
    fetched_at: datetime
    # (ticket id, when it first reached this board, epoch seconds) for tickets new lately.
    arrived: tuple[tuple[int, float], ...] = ()
    # The newest creation time on the board, in the store's clock: a screen's own baseline.
    newest: datetime | None = None
    # What waits on the team, read from the index with the counts (`attention.Wall`), or None.
    attention: object = None
    more: int | None = None  # tickets of the board's list not shown, when known exactly


@dataclass
class Board:
    query: store.TicketQuery
    snapshot: Snapshot | None
    stale_since: datetime | None = None
    problem: str = ""
    oldest_pending: bool = False  # "oldest first" asked, but the count has not finished
    waiting_pending: bool = False  # "longest waiting first" asked, but the index does not answer

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


def build_board(query, sort="newest", indexed=None, attention=None):
    """The board for `query`: fresh when the store answers, else the last good one, stale.
    `indexed`: its counts read from the ticket index (with the oldest tickets, for "oldest"
    first), when it answers them; then no walk is advanced. `attention`: what waits on the
    team, read from the index in the same snapshot as `indexed` (its rows, longest waiting
    first, are the board's for "waiting")."""
    key = _board_key(query)
    try:
        page = store.list_tickets(query, max_age=ROWS_MAX_AGE)
        counted = indexed if indexed is not None else counts.advance(query)
        tickets = page.tickets[:ROWS]
        oldest_pending = waiting_pending = False
        more = counted.total - len(tickets) if counted and counted.complete else None
        if sort == "oldest":
            if counted and counted.oldest and counted.complete:
                tickets = counted.oldest[:ROWS]
            else:
                oldest_pending = True
        elif sort == "waiting":
            if attention is not None:
                tickets = attention.rows[:ROWS]
                more = attention.waiting - len(tickets)
            else:
                waiting_pending = True
        snapshot = Snapshot(
            tickets=tickets,
            counts=counted,
            fetched_at=page.fetched_at,
            arrived=_note_arrivals(key, page.tickets),
            newest=max((t.created_at for t in page.tickets if t.created_at), default=None),
            attention=attention,
            more=max(more, 0) if more is not None else None,
        )
        state.cache_set(_snapshot_key(key, sort), snapshot, SNAPSHOT_TTL)
        state.cache_delete_many([_failing_key(key)])
        return Board(
            query=query,
            snapshot=snapshot,
            oldest_pending=oldest_pending,
            waiting_pending=waiting_pending,
        )
    except (store.TicketsAPIError, state.SharedStateError) as exc:
        return _stale_board(query, key, sort, exc.message)


def _stale_board(query, key, sort, problem):
    """The last good board, marked stale. When the shared state itself has failed there is no
    last board to show: that raises `SharedStateError`, a 503 that a screen answers by keeping
    the board it already shows, marked stale."""
    now = datetime.now(UTC)
    state.cache_add(_failing_key(key), now, SNAPSHOT_TTL)
    failing_since = state.cache_get(_failing_key(key)) or now
    snapshot = state.cache_get(_snapshot_key(key, sort))
    if not isinstance(snapshot, Snapshot):  # none yet, or another release's: no board to show
        snapshot = None
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
    cache_key = state.schema_key("wall-arrivals", ARRIVALS_LAYOUT, key)
    known = state.cache_get(cache_key)
    if not isinstance(known, dict) or known.keys() != ARRIVALS_FIELDS:
        known = None  # none yet, or of another layout: this look sets the baseline
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


AGE_CLASSES = {"overdue": "age-alert", "ageing": "age-warn", "ok": "age-ok"}


def age_class(ticket, warn_hours, alert_hours, now=None):
    """How long a ticket has waited, for its colour: resolved tickets wait for nobody."""
    if ticket.status in store.RESOLVED:
        return "age-resolved"
    seconds = ages.age_seconds(ticket, now)
    if seconds is None:
        return "age-unknown"
    return AGE_CLASSES[ages.standing(seconds, warn_hours * 3600, alert_hours * 3600)]


# The layouts of what a board keeps in the shared state, carried in their keys: a snapshot (with
# the shape of the store's tickets in it), and the arrivals noted for New.
SNAPSHOT_LAYOUT = 2
ARRIVALS_LAYOUT = 1
ARRIVALS_FIELDS = frozenset({"newest", "at_newest", "arrived", "since"})


def _snapshot_key(key, sort):
    shape = f"{SNAPSHOT_LAYOUT}.{state.fingerprint(Snapshot, counts.Counts)}.{store.schema()}"
    return state.schema_key("wall-board", shape, key, sort)


def _failing_key(key):
    return state.schema_key("wall-failing", 1, key)


def _board_key(query):
    # The store and token are part of the key, as for every cached answer: another store's
    # board must never show here.
    text = f"{store.identity()} {querystring(query)}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]
