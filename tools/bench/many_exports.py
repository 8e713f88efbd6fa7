"""One person starting EXPORTS_ASKED CSV exports at once, while other people open new filters.

The first of issue 23's "one colleague" scenarios. Each download holds a server thread for as
long as the store's pages take, so one session asking for dozens at once could hold every
thread of every worker while everyone's pages waited. The dashboard now gives each download a
place in its shared state (every process, every machine): at most `EXPORTS_PER_PERSON` a person
and `EXPORTS_AT_ONCE` in all, and past those it answers 429 with a Retry-After and a message.

Measured in each configuration: the bench user asks for the whole list's CSV EXPORTS_ASKED
times at the same instant (threads released together, a connection each), and every answer is
read to its end: a file served whole, a refusal (429, with its Retry-After), a 5xx, or no
answer at all. From the same instant until the last download has ended, EXPORTS_PEOPLE other
people each open a new filter every EXPORTS_PERSON_EVERY seconds (at least EXPORTS_MIN_VIEWS
first views in all), each held against the configuration's direct call (its median, from the
first-view phase). From the sandbox: the calls, their peak in any second and its 429s.
"""

import queue
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

from .clients import in_threads
from .export import Download, download
from .plan import RATE_LIMIT
from .report import (
    Check,
    FirstViews,
    first_view_measures,
    first_views_across,
    measure_table,
)
from .scenarios import Upstream, median_ms, wait_quiet

EXPORTS_ASKED = 34
EXPORTS_PEOPLE = 2
EXPORTS_PERSON_EVERY = 2.0  # each person: together a new filter a second
EXPORTS_MIN_VIEWS = 10
EXPORTS_MAX_VIEWS = 40  # the pool of new queries is finite
TARGET_EXPORTS_MEDIAN = 1.25
TARGET_EXPORTS_WORST = 3.0


@dataclass
class ExportsResult(FirstViews):
    direct_ms: float
    expected_rows: int  # the whole list's tickets
    downloads: list = field(default_factory=list)  # an export.Download each
    seconds: float = 0.0  # from the go until the last download ended
    views: list = field(default_factory=list)  # people's first views meanwhile
    upstream: Upstream | None = None

    @property
    def served(self):
        return [d for d in self.downloads if d.status == 200]

    @property
    def whole(self):
        return [d for d in self.served if d.rows == self.expected_rows and not d.note]

    @property
    def refused(self):
        return [d for d in self.downloads if d.status == 429]

    @property
    def failed(self):
        """Answered 5xx: the server, not the limit, gave way."""
        return [d for d in self.downloads if d.status >= 500]

    @property
    def other(self):
        """No answer at all, or an answer that is none of the above."""
        return [d for d in self.downloads if d.status not in (200, 429) and d.status < 500]

    @property
    def sound(self):
        """Every export served whole or refused with a Retry-After; none failed."""
        return (
            len(self.whole) + sum(1 for d in self.refused if d.retry_after) == EXPORTS_ASKED
            and not self.failed
        )


def measure(bench, direct):
    """The exports and, meanwhile, people's first views (see the module)."""
    wait_quiet(bench.sandbox)
    bench.settle()
    result = ExportsResult(median_ms(direct), bench.sandbox.count(""))
    todo = queue.Queue()
    for qs in bench.pool.take(EXPORTS_MAX_VIEWS):
        todo.put(qs)
    running = [EXPORTS_ASKED]  # the downloads not ended yet
    lock, all_ended = threading.Lock(), threading.Event()
    url = f"{bench.url}/tickets.csv"
    with bench.crowd(EXPORTS_PEOPLE) as people:

        def browse(person):
            while not (all_ended.is_set() and len(result.views) >= EXPORTS_MIN_VIEWS):
                try:
                    qs = todo.get_nowait()
                except queue.Empty:
                    return
                view = person.try_view(qs)
                result.views.append(view)
                time.sleep(max(0.0, EXPORTS_PERSON_EVERY - view.seconds))

        def work(i):
            if i >= EXPORTS_ASKED:
                # Staggered: together the people open a new filter every
                # EXPORTS_PERSON_EVERY / EXPORTS_PEOPLE seconds.
                time.sleep((i - EXPORTS_ASKED) * EXPORTS_PERSON_EVERY / EXPORTS_PEOPLE)
                return browse(people[i - EXPORTS_ASKED])
            try:
                return download(url, bench.cookies)
            finally:
                with lock:
                    running[0] -= 1
                    if not running[0]:
                        all_ended.set()

        outcomes, _ = in_threads(EXPORTS_ASKED + EXPORTS_PEOPLE, work)
    result.downloads = [
        d if isinstance(d, Download) else Download(note=type(d).__name__)
        for d in outcomes[:EXPORTS_ASKED]
    ]
    # Each download is timed from the go to its last byte (or its refusal's).
    result.seconds = max(d.seconds for d in result.downloads)
    result.upstream = Upstream.seen_by(bench.sandbox)
    return result


# --- Report ------------------------------------------------------------------------------


def _slowest_served(e):
    return f"{max(d.seconds for d in e.served):.1f}" if e.served else "-"


MEASURES = (
    ("served, whole file", lambda e: f"{len(e.served)} ({len(e.whole)} whole)", ""),
    ("refused 429 (with Retry-After)",
     lambda e: f"{len(e.refused)} ({sum(1 for d in e.refused if d.retry_after)})", ""),
    ("answered 5xx", lambda e: len(e.failed), "0"),
    ("no answer, or another answer", lambda e: len(e.other), "0"),
    ("  slowest served file, s", _slowest_served, ""),
    ("  every download ended, s after the go", lambda e: f"{e.seconds:.1f}", ""),
    *first_view_measures(TARGET_EXPORTS_MEDIAN, TARGET_EXPORTS_WORST),
    ("upstream calls (exports + people)", lambda e: e.upstream.calls, ""),
    ("  peak in any second", lambda e: e.upstream.peak, f"<= {RATE_LIMIT}"),
    ("  throttled by the store (429)", lambda e: e.upstream.throttled, "0"),
)  # fmt: skip


def table(results):
    return measure_table(
        f"{EXPORTS_ASKED} CSV exports of the whole list at once from one person (the dashboard "
        f"allows {settings.EXPORTS_PER_PERSON} a person, {settings.EXPORTS_AT_ONCE} in all), "
        f"{EXPORTS_PEOPLE} people opening a new filter every {EXPORTS_PERSON_EVERY:g} s each",
        [(r.name, r.exports) for r in results],
        MEASURES,
    )


def checks(results):
    return [
        Check.across(
            f"{EXPORTS_ASKED} exports at once: each served whole or refused 429 with a "
            "Retry-After, none 5xx",
            results,
            lambda r: (
                f"{len(r.exports.whole)} whole, {len(r.exports.refused)} refused, "
                f"{len(r.exports.failed)} 5xx, {len(r.exports.other)} other"
            ),
            lambda r: r.exports.sound,
        ),
        first_views_across(
            f"first views during {EXPORTS_ASKED} exports",
            results,
            lambda r: r.exports,
            TARGET_EXPORTS_MEDIAN,
            TARGET_EXPORTS_WORST,
        ),
        Check.across(
            f"{EXPORTS_ASKED} exports and people stay inside the budget",
            results,
            lambda r: f"peak {r.exports.upstream.peak}/s, {r.exports.upstream.throttled} x 429",
            lambda r: r.exports.upstream.peak <= RATE_LIMIT and r.exports.upstream.throttled == 0,
        ),
    ]
