"""A filter's tickets, counted by walking its cursor: the wall's counts by status and priority,
and the list's total.

The API answers a page at a time and says nothing of a total, so the count walks the cursor a
few pages per step, in the background lane. Its progress lives in the shared cache, keyed by
the store and the canonical filter, behind a lock shared by every process: every screen,
person and worker looking at one filter advances the same walk, so ten people on one filter
cost one walk. Meanwhile the count is "at least N, counting"; past `CAP` tickets the walk
stops and says "500+". A finished count is shown for `MAX_AGE` seconds, then walked again, the
last number shown meanwhile.

The same walk tallies what the wall's pictures show: open tickets by age, and tickets created
per day over the last two weeks.

The wall advances the walk as it builds a board (nobody waits at a wall). The list never waits
for it: its page shows what is known, and the page's small poller (`/count/`) has a step taken
by this process's background thread.

When the ticket index answers a filter (`dashboard.index.counts`), its counts are made there, in
the same shapes (`Counts.exactly`, `Counts.tallied`), and no walk runs.
"""

import functools
import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from dashboard import budget, store
from dashboard.budget import state, worker
from dashboard.tickets import ages
from dashboard.tickets.querystring import querystring

logger = logging.getLogger(__name__)

CAP = 500
PAGES_PER_STEP = 4
MAX_AGE = 60  # seconds a finished count is shown before the walk starts again
WALK_MAX_AGE = 300  # seconds after which a walk left unfinished starts again from the top
STATE_TTL = 7 * 24 * 3600
TAIL = 10  # the oldest tickets kept, for a wall sorted "oldest first"
LIST_STEP_WAIT = 2.0  # seconds a list's step waits for each background slot
FAILURE_PAUSE = 30  # seconds the list says nothing of a total after the store failed a step


@dataclass(frozen=True)
class Counts:
    by_status: tuple[tuple[str, int], ...]
    by_priority: tuple[tuple[str, int], ...]
    total: int
    complete: bool  # False while the walk is still counting
    capped: bool  # the filter holds more tickets than the walk counts
    oldest: tuple[store.Ticket, ...] = ()
    cap: int = CAP
    # For the wall's pictures: open tickets per age bar (ages.AGE_BUCKETS), and (ISO
    # day, tickets created) for the last 14 days, both as of `measured_at`. `reached` is when
    # the oldest ticket counted was created, if the walk stopped short of the end (capped, or
    # still counting): what lies before it was not counted.
    ages: tuple[int, ...] = ()
    per_day: tuple[tuple[str, int], ...] = ()
    reached: datetime | None = None
    measured_at: datetime | None = None
    # Read from the ticket index while no webhook keeps it live: what its numbers are as of
    # (its last walk of the store), shown beside them. None for a walk's counts, or a live index.
    shown_as_of: datetime | None = None

    def shown(self, number):
        """A count as a wall shows it: exact when known, "≥ N" while counting or past the cap."""
        return str(number) if self.complete and not self.capped else f"≥ {number}"

    @property
    def settled(self):
        """A number to read as it is: exact, or past the cap."""
        return self.complete or self.capped

    @property
    def label(self):
        """The total as the list says it: "of 500+", "of 12", "of at least 12, counting…"."""
        return count_label(self.total, self.complete, self.capped, self.cap)

    @property
    def total_label(self):
        """The total as the wall says it: "500+ tickets", "12 tickets"."""
        return count_label(self.total, self.complete, self.capped, self.cap, noun="ticket")

    @classmethod
    def exactly(cls, total, shown_as_of=None):
        """A total known without a walk: a list that fits on one page, or the ticket index."""
        return cls(
            by_status=(),
            by_priority=(),
            total=total,
            complete=True,
            capped=False,
            shown_as_of=shown_as_of,
        )

    @classmethod
    def tallied(cls, status, priority, ages, days, measured_at, oldest=(), shown_as_of=None):
        """Every ticket of a filter counted at once, with no walk (by the ticket index):
        `status` and `priority` are Counters, `ages` the open tickets per age bar as of
        `measured_at`, `days` {ISO day: tickets created} for the last 14 days."""
        return cls(
            by_status=_ordered(status, store.STATUSES),
            by_priority=_ordered(priority, store.PRIORITIES),
            total=sum(status.values()),
            complete=True,
            capped=False,
            oldest=tuple(oldest),
            ages=tuple(ages),
            per_day=tuple(sorted((day, n) for day, n in days.items() if n)),
            measured_at=measured_at,
            shown_as_of=shown_as_of,
        )


def count_label(total, complete, capped, cap, noun=""):
    """A count in words, the same wherever one is shown (the list's total, the views' sidebar,
    the wall): "500+" past the cap, the number once complete, "at least 12, counting" while
    the walk goes on, "counting…" before it counted anything. `noun` follows a number."""
    if capped:
        return f"{cap}+" + (f" {noun}s" if noun else "")
    if complete:
        return f"{total}" + (f" {noun}{'' if total == 1 else 's'}" if noun else "")
    if total is None:
        return "counting…"
    return f"at least {total}, counting"


# A count refreshed about once a minute is stale once its refresh is a minute late: its last
# value is still shown, and said to be stale, rather than nothing.
STALE_AFTER = MAX_AGE + 60


@dataclass(frozen=True)
class Total:
    """What the list can say of a filter's total: what is known, whether more is coming, and
    when the last finished count was made (epoch seconds; None before the first)."""

    counts: Counts | None
    counting: bool
    as_of: float | None = None
    indexed: bool = False  # read from the ticket index: exact, nothing walked
    # Why this total is walked though the ticket index answers other filters' ("" otherwise).
    walk_note: str = ""

    def stale(self, now=None):
        """The last finished count is shown, but it is older than a count should be (the
        store failed the walk since, or the budget had no room for it)."""
        now = time.time() if now is None else now
        return self.as_of is not None and now - self.as_of > STALE_AFTER


def advance(query):
    """Walk `query`'s cursor a step further and return the counts known so far (None when
    nothing is). Store calls are made in the caller's lane. A step already under way elsewhere
    is not waited for: its progress is shown."""
    key = _key(query)
    try:
        with budget.backend().lock(f"count:{key}", timeout=0):
            progress = _read(key) or _fresh_progress()
            _step(query, progress, time.time())
            state.cache_set(_state_key(key), progress, STATE_TTL)
    except budget.WaitTimeout:
        progress = _read(key)
    return _known(progress)


def total(query, start=True):
    """The list's total for `query`, asking the store nothing; None when it is better left
    unsaid (nothing counted to the end while the store fails the count, or the shared state is
    unavailable). With `start`, a count that is due takes its next step in this process's
    background thread."""
    return totals([query], start)[0]


def totals(queries, start=True):
    """`total()` of each of `queries`, in one read of the shared state (one round trip to
    Redis however many: a sidebar of views costs one)."""
    keys = [_key(query) for query in queries]
    try:
        found = state.cache_get_many([_state_key(key) for key in dict.fromkeys(keys)])
    except state.SharedStateError:
        return [None] * len(queries)
    return [
        _total(query, key, _well_formed(found.get(_state_key(key))), start)
        for query, key in zip(queries, keys, strict=True)
    ]


def state_keys(queries):
    """Where `totals()` reads what is known of `queries`' counts: for a page to read them with
    its other reads (`state.read_together`)."""
    return [_state_key(_key(query)) for query in queries]


def _total(query, key, progress, start):
    now = time.time()
    failing = bool(progress) and now - (progress["failed_at"] or 0) < FAILURE_PAUSE
    if failing and (progress["result"] is None):
        return None  # nothing counted to the end yet: better unsaid than half a count
    if failing:
        # The store failed the walk lately: the last count stays, and tells its age.
        return Total(progress["result"], counting=False, as_of=progress["result_at"])
    counting = progress is None or progress["walk"] is not None or _result_due(progress, now)
    if counting and start:
        job = functools.partial(_list_step, query)
        worker.submit(("count", key), job, worker.Priority.COUNT)
    as_of = progress["result_at"] if progress and progress["result"] is not None else None
    return Total(_known(progress), counting, as_of)


def _list_step(query):
    try:
        with budget.background(wait=LIST_STEP_WAIT):
            advance(query)
    except state.SharedStateError as exc:
        logger.debug("count not advanced (%s)", exc)


def _fresh_progress():
    return {"walk": None, "result": None, "result_at": 0.0, "failed_at": None}


def _read(key):
    """The progress kept for `key`, or None when there is none or it is not of this layout."""
    return _well_formed(state.cache_get(_state_key(key)))


def _well_formed(progress):
    """`progress` when it is of this layout, else None (a release that forgot to change
    PROGRESS_LAYOUT left it): counted afresh rather than misread."""
    if progress is None:
        return None
    try:
        walk, result = progress["walk"], progress["result"]
        well_formed = (
            progress.keys() == _fresh_progress().keys()
            and (walk is None or walk.keys() >= _WALK_KEYS)
            and (result is None or isinstance(result, Counts))
        )
    except (TypeError, KeyError, AttributeError):
        well_formed = False
    if not well_formed:
        logger.warning("count progress of another layout ignored: counting afresh")
        return None
    return progress


def _result_due(progress, now):
    return progress["result"] is None or now - progress["result_at"] > MAX_AGE


def _step(query, progress, now):
    walk = progress["walk"]
    if walk and now - walk["started"] > WALK_MAX_AGE:
        # Left unfinished long ago (everyone went away), its pages are not today's list.
        progress["walk"] = None
    if progress["walk"] is None and _result_due(progress, now):
        progress["walk"] = _new_walk(now)
    if progress["walk"] is None:
        return
    try:
        _walk(query, progress, now)
    except store.InvalidCursor:
        progress["walk"] = None  # the list moved under the walk: count again
    except (store.StoreBusy, budget.WaitTimeout):
        pass  # the budget is busy: the walk goes on at the next step
    except store.TicketsAPIError:
        progress["failed_at"] = now  # the walk goes on at the next step all the same
    else:
        progress["failed_at"] = None


def _new_walk(now):
    return {
        "cursor": "",
        "status": Counter(),
        "priority": Counter(),
        "seen": 0,
        "tail": [],
        "started": now,
        "ages": [0] * len(ages.AGE_BUCKETS),  # open tickets per backlog bar
        "days": Counter(),  # tickets created per ISO day, within the last 14 days
        "oldest_at": None,  # the oldest creation time counted so far
        "measured_at": None,  # when the latest page was counted: the ages' "now"
    }


_WALK_KEYS = frozenset(_new_walk(0.0))


def _walk(query, progress, now):
    walk = progress["walk"]
    for _ in range(PAGES_PER_STEP):
        # From the cache when anyone fetched it (the list's pages, the next page fetched ahead).
        page = store.page_in_turn(query.with_cursor(walk["cursor"]))
        _tally(walk, page.tickets, datetime.now(UTC))
        walk["seen"] += len(page.tickets)
        walk["tail"] = (walk["tail"] + list(page.tickets))[-TAIL:]
        walk["cursor"] = page.next_cursor
        capped = bool(page.next_cursor) and walk["seen"] >= CAP
        walk["cap"] = CAP
        if not page.next_cursor or capped:
            progress["result"] = _counts(walk, complete=True, capped=capped)
            progress["result_at"] = now
            progress["walk"] = None
            return


def _tally(walk, tickets, at):
    """Count one page of the walk: statuses, priorities, and what the pictures show."""
    first_day = timezone.localdate(at) - timedelta(days=ages.DAYS - 1)
    for ticket in tickets:
        walk["status"][ticket.status or "none"] += 1
        walk["priority"][ticket.priority or "none"] += 1
        created = ticket.created_at
        if created is None:
            continue
        oldest = walk["oldest_at"]
        walk["oldest_at"] = created if oldest is None else min(oldest, created)
        if ticket.status not in store.RESOLVED:
            walk["ages"][ages.age_bucket(ages.age_seconds(ticket, at))] += 1
        day = timezone.localdate(created)
        if day >= first_day:
            walk["days"][day.isoformat()] += 1
    walk["measured_at"] = at


def _known(progress):
    if not progress:
        return None
    if progress["result"] is not None:
        return progress["result"]
    walk = progress["walk"]
    return _counts(walk, complete=False, capped=False) if walk else None


def _ordered(counted, known):
    """(value, count) pairs: the API's values in their order, then any other, sorted."""
    values = [v for v in known if counted[v]] + sorted(v for v in counted if v not in known)
    return tuple((value, counted[value]) for value in values)


def _counts(walk, complete, capped):
    walk_at = walk.get("measured_at") or datetime.now(UTC)
    return Counts(
        by_status=_ordered(walk["status"], store.STATUSES),
        by_priority=_ordered(walk["priority"], store.PRIORITIES),
        total=walk["seen"],
        complete=complete,
        capped=capped,
        oldest=tuple(reversed(walk["tail"])),
        cap=walk.get("cap", CAP),
        ages=tuple(walk.get("ages", ())),
        per_day=tuple(sorted(walk.get("days", {}).items())),
        # Short of the end, nothing older than the oldest ticket counted is known; before the
        # first page, nothing at all.
        reached=None if complete and not capped else walk.get("oldest_at") or walk_at,
        measured_at=walk_at,
    )


def state_key(query):
    """Where the walk of `query` keeps its progress in the shared cache."""
    return _state_key(_key(query))


# The layout of a walk's progress (`_fresh_progress`, `_new_walk`): change it with them. The key
# also carries the shape of the finished counts and of the store's tickets it holds.
PROGRESS_LAYOUT = 2
_SHAPE = state.fingerprint(Counts)


def _state_key(key):
    return state.schema_key("count", f"{PROGRESS_LAYOUT}.{_SHAPE}.{store.schema()}", key)


def _key(query):
    # The store and token are part of the key, as for every cached answer: another store's
    # count must never show here. The cursor is not: a walk counts the whole filter.
    text = f"{store.identity()} {querystring(query.filters)}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]
