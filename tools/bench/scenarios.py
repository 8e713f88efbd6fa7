"""What is measured against one dashboard configuration, phase by phase.

Every phase starts from empty rate windows and zeroed sandbox stats, asks for queries nobody has
asked before (so "first view" is a cache miss), and reads what the store saw from the sandbox's
stats: calls, 429s and the busiest sliding second.
"""

import itertools
import queue
import re
import statistics
import time
from dataclasses import dataclass, field

from tools.sandbox.server import FAULT_MODES, peak_per_second

from .clients import DirectClient, View, crowd, describe, expect_page, in_threads, paced
from .plan import (
    CONCURRENT_SAME,
    DISTINCT_VIEWS,
    FIRST_PACE,
    MESSAGE_TARGET,
    PEOPLE,
    QUIET,
    QUIET_LIMIT,
    READING,
    RECOVERY_LIMIT,
    SAMPLES,
    SETTLE,
    THREADS,
)

# What `Bench.run` measures of each configuration: first and repeat views, "Load more" after
# reading, and identical and distinct views at once.
PHASES = ("first", "load_more", "concurrent")
# A customer looked up by id (`GET users/{id}/`).
LOOK_UP = re.compile(r"/users/\d+/")


def median_ms(seconds):
    return statistics.median(seconds) * 1000


def wait_quiet(sandbox):
    """Wait until the store has had no call for QUIET seconds (at most QUIET_LIMIT): the
    dashboard's background work (look-ups, next pages) is done or given up."""
    start = since = time.monotonic()
    calls = sandbox.stats()["calls"]
    while time.monotonic() - since < QUIET and time.monotonic() - start < QUIET_LIMIT:
        time.sleep(0.25)
        now = sandbox.stats()["calls"]
        if now != calls:
            calls, since = now, time.monotonic()


@dataclass
class Upstream:
    """What the store saw during one phase."""

    calls: int
    throttled: int
    peak: int  # the most calls in any sliding second
    ahead: int = 0  # of the calls, next pages the dashboard fetched before anyone asked

    @classmethod
    def seen_by(cls, sandbox):
        stats = sandbox.stats()
        ahead = sum(1 for r in stats["requests"] if "cursor=" in r)
        return cls(stats["calls"], stats["throttled"], peak_per_second(stats["arrivals"]), ahead)


@dataclass
class Batch:
    """Views asked together: what came back, how long the whole batch took, what the store saw."""

    outcomes: list  # a View each, or the exception that stopped a person
    seconds: float
    upstream: Upstream

    @property
    def answered(self):
        return [v for v in self.outcomes if isinstance(v, View) and v.status]

    @property
    def ok(self):
        return sum(1 for v in self.answered if v.ok)

    @property
    def busy(self):
        return sum(1 for v in self.answered if v.error_code == "busy")

    @property
    def other(self):
        """Whatever was neither a page of tickets nor "busy", in a word each."""
        return [
            describe(v)
            for v in self.outcomes
            if not (isinstance(v, View) and (v.ok or v.error_code == "busy"))
        ]

    @property
    def slowest(self):
        return max((v.seconds for v in self.answered), default=0.0)


@dataclass
class ConfigResult:
    name: str
    direct: list = field(default_factory=list)
    first: list = field(default_factory=list)
    repeat: list = field(default_factory=list)
    load_more: list = field(default_factory=list)
    identical: Batch | None = None
    distinct: Batch | None = None
    names: object = None  # a names.NamesResult, when the run measured names
    first_parts: list = field(default_factory=list)  # each first view's Server-Timing
    direct_waits: list = field(default_factory=list)  # seconds each waited for its slot
    backlog: object = None  # a backlog.BacklogResult, when the run measured it
    exports: object = None  # a many_exports.ExportsResult, when the run measured it
    views: object = None  # a many_views.ViewsResult, when the run measured it

    @property
    def first_ratio(self):
        return median_ms(self.first) / median_ms(self.direct)

    @property
    def repeat_ratio(self):
        return median_ms(self.repeat) / median_ms(self.direct)

    @property
    def load_more_ratio(self):
        return median_ms(self.load_more) / median_ms(self.direct)


@dataclass
class FaultRow:
    mode: str
    answer: View
    recovery: float
    attempts: int
    last: View

    @property
    def answer_text(self):
        if self.answer.ok:
            return "tickets listed"
        words = self.answer.message.split()
        return " ".join(words[:8]) + (" ..." if len(words) > 8 else "")

    @property
    def in_time(self):
        return self.answer.seconds <= MESSAGE_TARGET and (
            self.answer.ok or bool(self.answer.message)
        )

    @property
    def recovered(self):
        return self.last is not None and self.last.ok


class Bench:
    """The phases, run against one dashboard configuration."""

    def __init__(self, sandbox, dashboard_url, cookies, pool, workers, budget=None):
        self.sandbox = sandbox
        self.url = dashboard_url
        self.cookies = cookies
        self.pool = pool
        self.workers = workers
        # The dashboard's request budget (a `SharedBudget`), where the bench's own calls to the
        # store take their slots, so that they never push the store past its limit.
        self.budget = budget

    def direct(self):
        """A script's client of the store, sharing the dashboard's budget."""
        return DirectClient(self.sandbox, self.budget)

    def crowd(self, count):
        return crowd(self.url, self.cookies, count)

    def settle(self):
        """Empty both rate windows and zero the sandbox's stats before a phase."""
        time.sleep(SETTLE)
        self.sandbox.reset()

    def run(self, name, cold_names=None, phases=PHASES):
        """The `phases` in turn (every one unless told). `cold_names(bench)`, if given, runs
        right after the warm-up, while the dashboard knows hardly any customer's name (see
        `names.py`), and leaves every name known, so that no look-up runs beside the later
        phases."""
        self.warm_up()
        result = ConfigResult(name, names=cold_names(self) if cold_names else None)
        if "first" in phases:
            result.direct, result.first, result.repeat, result.first_parts = self.first_and_repeat()
            if self.budget is not None:  # the slots the direct calls waited for, not timed
                result.direct_waits = self.budget.waits[-len(result.direct) :]
        if "load_more" in phases:
            result.load_more = self.load_more()
        if "concurrent" in phases:
            result.identical, result.distinct = self.identical_views(), self.distinct_views()
        return result

    def warm_up(self):
        """Bring every worker and thread to its steady state before anything is timed.

        A worker's first request imports the views and compiles the templates; the first list
        view fetches the ticket types (cached 10 minutes); gthread starts its threads only
        when all running ones are busy, and each thread makes its own cache client (with
        Redis: its own connection pool and connection) on first use. All of that is paid once
        per process or thread, not per view, so it does not belong in "first view", which
        means the first view of a query. Rounds of concurrent views start every thread.

        The store lists one ticket a page meanwhile: each page shown has its requester's name
        looked up, and the warm-up should leave the customers unknown for the names phase.
        The sandbox's stats count from here, so that phase can see who was looked up.
        """
        self.sandbox.reset()
        self.sandbox.configure(page_size=1)
        shared = self.pool.one()
        size = 4 * THREADS * self.workers
        with self.crowd(size) as people:
            expect_page(people[0].view(shared), "warm-up view")
            for _ in range(2):
                results, _ = in_threads(size, lambda i: people[i].view(shared))
                for view in results:
                    if isinstance(view, Exception):
                        raise view
                    expect_page(view, "warm-up view")
            for qs in paced(self.pool.take(3)):
                expect_page(people[0].view(qs), "warm-up view")

    def first_and_repeat(self):
        """Direct calls and first views of the same queries, alternated and paced, then the
        same pages again: equal payloads, same moment, no waiting for the budget.

        Only once the dashboard's background work is done (the store quiet): a first view
        timed beside it could wait its turn in the budget. The direct calls take their slots
        in the dashboard's budget (`SharedBudget`), the wait not timed, so that the store never
        sees more than its limit from the two together: outside it, a direct call the
        dashboard did not know of made the store answer a first view 429 whenever the
        background lane was busy."""
        wait_quiet(self.sandbox)
        self.settle()
        queries = self.pool.take(SAMPLES)
        direct, first, repeat, parts = [], [], [], []
        client = self.direct()
        try:
            with self.crowd(1) as (person,):
                steps = [(kind, qs) for qs in queries for kind in ("direct", "first")]
                for kind, qs in paced(steps, FIRST_PACE):
                    if kind == "direct":
                        direct.append(client.call(qs))
                    else:
                        view = person.view(qs)
                        expect_page(view, "first view")
                        first.append(view.seconds)
                        parts.append(view.timing)
                for qs in queries:
                    repeat.append(self._page_seconds(person, qs, "repeat view"))
        finally:
            client.close()
        stats = self.sandbox.stats()
        if stats["throttled"]:
            raise RuntimeError(f"{stats['throttled']} timed calls were throttled")
        # Every direct call and first view reached the store once, and the dashboard may have
        # fetched each first view's next page; nothing else did (no ticket-type fetch, no
        # retry, no repeat view). A customer's name looked up meanwhile is the background
        # lane's work, in the budget beside the people's calls but not a first view's call:
        # a full run once stopped here in its second configuration on 4 such look-ups,
        # customers one worker had not found named.
        asked = [r for r in stats["requests"] if "cursor=" not in r and not LOOK_UP.search(r)]
        if len(asked) != 2 * SAMPLES:
            raise RuntimeError(f"unexpected upstream calls: {stats['paths']}")
        return direct, first, repeat, parts

    def load_more(self):
        """A person opens a list of several pages, reads for READING seconds, then asks for
        the next page: timed from the click to the rows."""
        self.settle()
        seconds = []
        with self.crowd(1) as (person,):
            for qs in self.pool.take(SAMPLES, at_least=30):
                first = person.view(qs)
                expect_page(first, "first page")
                time.sleep(READING)
                more = person.more(first)
                expect_page(more, "load more")
                seconds.append(more.seconds)
        return seconds

    @staticmethod
    def _page_seconds(person, qs, what):
        view = person.view(qs)
        expect_page(view, what)
        return view.seconds

    def identical_views(self):
        self.settle()
        qs = self.pool.one()
        with self.crowd(CONCURRENT_SAME) as people:
            views, seconds = in_threads(CONCURRENT_SAME, lambda i: people[i].view(qs))
        return Batch(views, seconds, Upstream.seen_by(self.sandbox))

    def distinct_views(self):
        self.settle()
        todo = queue.Queue()
        for qs in self.pool.take(DISTINCT_VIEWS):
            todo.put(qs)

        def work(person):
            views = []
            while True:
                try:
                    qs = todo.get_nowait()
                except queue.Empty:
                    return views
                views.append(person.try_view(qs))

        with self.crowd(PEOPLE) as people:
            per_person, seconds = in_threads(PEOPLE, lambda i: work(people[i]))
        views = [v for vs in per_person if isinstance(vs, list) for v in vs]
        views += [vs for vs in per_person if isinstance(vs, Exception)]
        return Batch(views, seconds, Upstream.seen_by(self.sandbox))

    def faults(self):
        """Each sandbox fault: how long until the person reads an answer, then how long until
        a fresh view is whole again once the fault is gone (nothing restarted or cleared)."""
        rows = []
        try:
            with self.crowd(1) as (person,):
                for mode in (m for m in FAULT_MODES if m != "none"):
                    self.settle()
                    self.sandbox.set_fault(mode)
                    answer = person.try_view(self.pool.one())
                    self.sandbox.set_fault("none")
                    recovery, attempts, last = self._recover(person)
                    rows.append(FaultRow(mode, answer, recovery, attempts, last))
        finally:
            self.sandbox.set_fault("none")
        return rows

    def _recover(self, person):
        """Fresh views, paced, until one lists tickets (or RECOVERY_LIMIT passes)."""
        start = time.perf_counter()
        attempts, last = 0, None
        for _ in paced(itertools.count()):
            attempts += 1
            last = person.try_view(self.pool.one())
            if last.ok or time.perf_counter() - start > RECOVERY_LIMIT:
                break
        return time.perf_counter() - start, attempts, last
