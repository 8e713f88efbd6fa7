"""The benchmark's figures as tables, its targets as PASS/FAIL checks, and both as plain text for
the terminal and as Markdown for `var/bench/latest.md`, under a header that names the machine
and its load (other work on the same cores slows the dashboard, not the sleeping sandbox).

The same run also goes into `docs/benchmarks.md`, between two markers: the command, the date,
the machine and its cores, and the tables as the terminal shows them. What the page says
around the markers (what is measured, what the figures mean) is written by hand and kept."""

import contextlib
import os
import platform
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .plan import (
    CONCURRENT_SAME,
    COUNTING_FILTERS,
    COUNTING_PERSON_EVERY,
    COUNTING_SECONDS,
    DISTINCT_VIEWS,
    LATENCY_MS,
    MESSAGE_TARGET,
    PEOPLE,
    RATE_LIMIT,
    READING,
    SAMPLES,
    TARGET_COUNTING_MEDIAN,
    TARGET_COUNTING_WORST,
    TARGET_FIRST,
    TARGET_LOAD_MORE,
    TARGET_REPEAT,
    THREADS,
    WALL_LINKS,
    WALL_MAX_BEHIND,
    WALL_PEOPLE,
    WALL_REFRESH,
    WALL_SCREENS_PER_LINK,
    WALL_SECONDS,
)
from .scenarios import median_ms


@dataclass
class Table:
    title: str
    headers: list
    rows: list
    # One letter per column, "l" or "r"; by default a label column, then figures.
    align: str = ""

    def _align(self):
        return self.align or "l" + "r" * (len(self.headers) - 1)

    def text(self):
        cells = [self.headers, *self.rows]
        widths = [max(len(str(row[i])) for row in cells) for i in range(len(self.headers))]

        def line(row):
            parts = zip(row, widths, self._align(), strict=True)
            text = "  ".join(str(c).ljust(w) if a == "l" else str(c).rjust(w) for c, w, a in parts)
            return text.rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([self.title, "", line(self.headers), rule, *(line(r) for r in self.rows)])

    def markdown(self):
        def line(row):
            return "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"

        rule = "|" + "".join(" --- |" if a == "l" else " ---: |" for a in self._align())
        return "\n".join([f"### {self.title}", "", line(self.headers), rule, *map(line, self.rows)])


def measure_table(title, columns, measures):
    """One row per measure `(label, value_of(result), target)`, one column per
    `(name, result)`: the configurations side by side, or one result's values."""
    return Table(
        title,
        ["measure", *(name for name, _ in columns), "target"],
        [[label, *(value(r) for _, r in columns), target] for label, value, target in measures],
    )


@dataclass
class Check:
    target: str
    passed: bool
    detail: str

    @classmethod
    def across(cls, target, results, shown, passed):
        """One target held by every configuration; the detail shows each one's figure."""
        return cls(
            target,
            all(passed(r) for r in results),
            ", ".join(f"{r.name} {shown(r)}" for r in results),
        )

    def line(self):
        return f"{'PASS' if self.passed else 'FAIL'}  {self.target}: {self.detail}"


# --- The configurations side by side ---------------------------------------------------------


def _asked(upstream):
    """The calls people's views made (not the next pages fetched ahead)."""
    return upstream.calls - upstream.ahead


def _identical_calls(r):
    upstream = r.identical.upstream
    ahead = f" (+{upstream.ahead} ahead)" if upstream.ahead else ""
    return f"{_asked(upstream)}{ahead}"


def _direct_waits(r):
    return f"{max(r.direct_waits) * 1000:.1f}" if r.direct_waits else "-"


FIRST_MEASURES = (
    ("direct API call, median ms", lambda r: f"{median_ms(r.direct):.1f}", ""),
    ("  its wait for a slot in the dashboard's budget (not timed), longest ms", _direct_waits, ""),
    ("first view (cache miss), median ms", lambda r: f"{median_ms(r.first):.1f}", ""),
    ("repeat view (cache hit), median ms", lambda r: f"{median_ms(r.repeat):.1f}", ""),
    (
        "first view - direct, ms (the dashboard's own work)",
        lambda r: f"{median_ms(r.first) - median_ms(r.direct):.1f}",
        "",
    ),
    ("first view / direct", lambda r: f"{r.first_ratio:.2f}x", f"<= {TARGET_FIRST:.2f}x"),
    ("repeat view / direct", lambda r: f"{r.repeat_ratio:.2f}x", f"<= {TARGET_REPEAT:.2f}x"),
)
LOAD_MORE_MEASURES = (
    (
        f"load more after {READING:g} s of reading, median ms",
        lambda r: f"{median_ms(r.load_more):.1f}",
        "",
    ),
    (
        "load more / direct",
        lambda r: f"{r.load_more_ratio:.2f}x",
        f"<= {TARGET_LOAD_MORE:.2f}x",
    ),
)
CONCURRENT_MEASURES = (
    (
        f"{CONCURRENT_SAME} identical concurrent views: upstream calls",
        _identical_calls,
        "1",
    ),
    (
        f"{CONCURRENT_SAME} identical concurrent views: served / wall s",
        lambda r: f"{r.identical.ok}/{CONCURRENT_SAME} in {r.identical.seconds:.2f}",
        "",
    ),
    (
        f"{DISTINCT_VIEWS} distinct views, {PEOPLE} people: served",
        lambda r: f"{r.distinct.ok}/{DISTINCT_VIEWS}",
        f"{DISTINCT_VIEWS}/{DISTINCT_VIEWS}",
    ),
    ("  answered 503 busy", lambda r: r.distinct.busy, "0"),
    ("  throttled by the store (429)", lambda r: r.distinct.upstream.throttled, "0"),
    ("  peak upstream calls in any second", lambda r: r.distinct.upstream.peak, f"<= {RATE_LIMIT}"),
    (
        "  total wall time, s",
        lambda r: f"{r.distinct.seconds:.1f}",
        f"~ {DISTINCT_VIEWS / RATE_LIMIT:.0f}",
    ),
    ("  slowest view, s", lambda r: f"{r.distinct.slowest:.1f}", ""),
)


def _measured(results):
    """Which of the configurations' phases the run measured (the same in every one)."""
    first = results[0] if results else None
    return {
        "first": bool(first and first.first),
        "load_more": bool(first and first.load_more),
        "concurrent": bool(first and first.identical),
    }


def config_table(results):
    """The configurations side by side, for the phases the run measured (None: none)."""
    measured = _measured(results)
    measures = (
        (FIRST_MEASURES if measured["first"] else ())
        + (LOAD_MORE_MEASURES if measured["load_more"] else ())
        + (CONCURRENT_MEASURES if measured["concurrent"] else ())
    )
    if not measures:
        return None
    return measure_table(
        f"Dashboard vs direct API (sandbox: {LATENCY_MS} ms latency, {RATE_LIMIT} req/s limit)",
        [(r.name, r) for r in results],
        measures,
    )


# A first view's Server-Timing parts (`dashboard/timing.py`), in the order they happen.
FIRST_VIEW_PARTS = (
    ("request", "middleware, session and user: until the store is asked"),
    ("ask", "the store call's own checks (cache, lock, budget) until its request has gone"),
    ("form", "the filter form, checked while the store answers (a bookmark's page is asked first)"),
    ("frame", "form, sidebar and known total, rendered while the store answers"),
    ("store", "the store's answer, still awaited once the frame is done"),
    ("names", "names and the rows' context, once it answered"),
    ("rows", "rendering the results into the page"),
    ("response", "the response's way out through the middleware"),
    ("total", "the whole view, inside Django"),
)


def first_view_parts_table(results):
    """Where a first view's milliseconds go (its Server-Timing, median of the samples), beside
    the direct call's median and what the client measured: the rest is HTTP and gunicorn."""

    def part(name):
        return lambda r: f"{statistics.median(t.get(name, 0.0) for t in r.first_parts):.1f}"

    def outside(r):
        each = [s * 1000 - t.get("total", 0.0) for s, t in zip(r.first, r.first_parts, strict=True)]
        return f"{statistics.median(each):.1f}"

    measures = [(f"{name}: {what}", part(name), "") for name, what in FIRST_VIEW_PARTS]
    measures += [
        ("outside Django: gunicorn and HTTP, as the client timed it minus the total", outside, ""),
        ("first view as the client timed it", lambda r: f"{median_ms(r.first):.1f}", ""),
        ("direct API call", lambda r: f"{median_ms(r.direct):.1f}", ""),
    ]
    columns = [(r.name, r) for r in results if r.first_parts]
    if not columns:
        return None
    return measure_table("Where a first view's milliseconds go (medians, ms)", columns, measures)


def _distinct_served(r):
    d = r.distinct
    return (
        f"{d.ok}/{DISTINCT_VIEWS}"
        + (f" (busy {d.busy})" if d.busy else "")
        + (f" (other: {', '.join(d.other)})" if d.other else "")
    )


def config_checks(results):
    """The targets of the phases the run measured."""
    measured = _measured(results)
    return (
        (_viewing_checks(results) if measured["first"] else [])
        + (_loading_checks(results) if measured["load_more"] else [])
        + (_concurrent_checks(results) if measured["concurrent"] else [])
    )


def _viewing_checks(results):
    return [
        Check.across(
            f"first view / direct <= {TARGET_FIRST:.2f}x",
            results,
            lambda r: f"{r.first_ratio:.2f}x",
            lambda r: r.first_ratio <= TARGET_FIRST,
        ),
        Check.across(
            f"repeat view / direct <= {TARGET_REPEAT:.2f}x",
            results,
            lambda r: f"{r.repeat_ratio:.2f}x",
            lambda r: r.repeat_ratio <= TARGET_REPEAT,
        ),
    ]


def _loading_checks(results):
    return [
        Check.across(
            f"load more after {READING:g} s of reading / direct <= {TARGET_LOAD_MORE:.2f}x",
            results,
            lambda r: f"{r.load_more_ratio:.2f}x",
            lambda r: r.load_more_ratio <= TARGET_LOAD_MORE,
        ),
    ]


def _concurrent_checks(results):
    return [
        Check.across(
            f"{CONCURRENT_SAME} identical concurrent views make 1 upstream call",
            results,
            _identical_calls,
            lambda r: _asked(r.identical.upstream) == 1 and r.identical.ok == CONCURRENT_SAME,
        ),
        Check.across(
            f"{DISTINCT_VIEWS} distinct views all served, none busy",
            results,
            _distinct_served,
            lambda r: r.distinct.ok == DISTINCT_VIEWS,
        ),
        Check.across(
            "no answer throttled by the store",
            results,
            lambda r: str(r.distinct.upstream.throttled),
            lambda r: r.distinct.upstream.throttled == 0,
        ),
        Check.across(
            f"peak upstream calls per sliding second <= {RATE_LIMIT}",
            results,
            lambda r: str(r.distinct.upstream.peak),
            lambda r: r.distinct.upstream.peak <= RATE_LIMIT,
        ),
    ]


# --- Store faults ----------------------------------------------------------------------------


def fault_table(rows):
    return Table(
        "Store faults (1 worker): time to an answer, then to a whole page once the fault ends",
        ["fault", "answer", "message", "answer s", "recovery s", "recovered"],
        [
            [
                r.mode,
                f"{r.answer.status} {r.answer.error_code}".strip(),
                r.answer_text,
                f"{r.answer.seconds:.2f}",
                f"{r.recovery:.2f}",
                f"{'yes' if r.recovered else 'NO'} ({r.attempts} view{'s' * (r.attempts > 1)})",
            ]
            for r in rows
        ],
        align="lllrrl",
    )


def fault_checks(rows):
    late = [f"{r.mode} {r.answer.seconds:.1f} s" for r in rows if not r.in_time]
    stuck = [r.mode for r in rows if not r.recovered]
    return [
        Check(
            f"every fault answered with a message within {MESSAGE_TARGET:g} s",
            not late,
            _slowest(rows, lambda r: r.answer.seconds)
            + (f"; late or silent: {', '.join(late)}" if late else ""),
        ),
        Check(
            "every fault recovered by itself",
            not stuck,
            _slowest(rows, lambda r: r.recovery)
            + (f"; not recovered: {', '.join(stuck)}" if stuck else ""),
        ),
    ]


def _slowest(rows, seconds):
    # Compared as printed, to a tenth of a second, so a tie names the first fault in the table.
    row = max(rows, key=lambda r: round(seconds(r), 1))
    return f"slowest {seconds(row):.1f} s ({row.mode})"


# --- Wall screens ----------------------------------------------------------------------------


def _refresh_seconds(w):
    board_seconds = [b.seconds for b in w.boards] or [0]
    return f"{statistics.median(board_seconds):.2f} / {max(board_seconds):.2f}"


WALL_MEASURES = (
    (
        "board refreshes answered",
        lambda w: f"{len(w.boards) - w.failed}/{len(w.boards)}",
        "all",
    ),
    ("  stale boards", lambda w: w.stale, "0"),
    ("  median / slowest refresh, s", _refresh_seconds, ""),
    ("  most behind the store, s", lambda w: f"{w.most_behind:.0f}", f"<= {WALL_MAX_BEHIND:.0f}"),
    (
        "people's views listing tickets",
        lambda w: f"{w.people.ok}/{len(w.people.outcomes)}",
        "all",
    ),
    ("upstream calls (walls + people)", lambda w: w.people.upstream.calls, ""),
    (
        "  per second on average",
        lambda w: f"{w.people.upstream.calls / max(w.people.seconds, 1):.2f}",
        f"<= {RATE_LIMIT}",
    ),
    ("  peak in any second", lambda w: w.people.upstream.peak, f"<= {RATE_LIMIT}"),
    ("  throttled by the store (429)", lambda w: w.people.upstream.throttled, "0"),
)


def wall_table(name, result):
    return measure_table(
        f"Wall screens ({name}): {len(WALL_LINKS)} display links x {WALL_SCREENS_PER_LINK} "
        f"screens refreshing every {WALL_REFRESH} s, {WALL_PEOPLE} people browsing, "
        f"{WALL_SECONDS} s",
        [("value", result)],
        WALL_MEASURES,
    )


def wall_checks(result):
    upstream = result.people.upstream
    return [
        Check(
            "wall screens stay inside the budget",
            upstream.throttled == 0 and upstream.peak <= RATE_LIMIT,
            f"peak {upstream.peak}/s, {upstream.throttled} throttled, {upstream.calls} calls",
        ),
        Check(
            f"every board answered, none stale, none more than {WALL_MAX_BEHIND:.0f} s behind",
            result.failed == 0 and result.stale == 0 and result.most_behind <= WALL_MAX_BEHIND,
            f"{result.failed} failed, {result.stale} stale, most behind {result.most_behind:.0f} s",
        ),
    ]


# --- People's first views while walls start counting -----------------------------------------


def _boards_answered(c):
    return f"{sum(b.status == 200 for b in c.boards)}/{len(c.boards)}"


class FirstViews:
    """A phase's people's first views (its `views`, each a `View`), held against the direct
    call's median (its `direct_ms`): a base of the phase's result."""

    @property
    def answered(self):
        return [v for v in self.views if v.ok]

    @property
    def ratios(self):
        return sorted(v.seconds * 1000 / self.direct_ms for v in self.answered)


def first_view_measures(median_target, worst_target):
    """A phase's table rows for its people's first views (a `FirstViews` result)."""
    return (
        ("direct API call, median ms", lambda r: f"{r.direct_ms:.1f}", ""),
        ("people's first views listing tickets", lambda r: f"{len(r.answered)}/{len(r.views)}",
         "all"),
        ("  first view / direct, median", lambda r: ratio(r, statistics.median),
         f"<= {median_target:.2f}x"),
        ("  first view / direct, worst", lambda r: ratio(r, max), f"<= {worst_target:.2f}x"),
    )  # fmt: skip


def ratio(result, pick):
    """A phase's people's first views against its direct call, as `pick` (min, max) sees them."""
    return f"{pick(result.ratios):.2f}x" if result.ratios else "none"


def views_in_time(result, median_target, worst_target):
    """Every person's first view listed, at most `median_target` x a direct call at the median
    and `worst_target` x at worst."""
    ratios = result.ratios
    return (
        bool(ratios)
        and len(ratios) == len(result.views)
        and statistics.median(ratios) <= median_target
        and max(ratios) <= worst_target
    )


def first_views_said(result):
    """What a first views' check says: "median 1.06x, worst 1.10x, 19/19 listed"."""
    return (
        f"median {ratio(result, statistics.median)}, worst {ratio(result, max)}, "
        f"{len(result.ratios)}/{len(result.views)} listed"
    )


def first_views_title(title, median_target, worst_target):
    return f"{title}: median <= {median_target:.2f}x, worst <= {worst_target:.2f}x a direct call"


def first_views_across(title, results, phase, median_target, worst_target):
    """`views_in_time` as a check held by every configuration, of each one's `phase(r)`."""
    return Check.across(
        first_views_title(title, median_target, worst_target),
        results,
        lambda r: first_views_said(phase(r)),
        lambda r: views_in_time(phase(r), median_target, worst_target),
    )


def first_views_check(title, result, median_target, worst_target, whole=True):
    """`views_in_time` as a check; `whole` adds what else the phase must have got right."""
    return Check(
        first_views_title(title, median_target, worst_target),
        whole and views_in_time(result, median_target, worst_target),
        first_views_said(result),
    )


COUNTING_MEASURES = (
    *first_view_measures(TARGET_COUNTING_MEDIAN, TARGET_COUNTING_WORST),
    ("board refreshes answered", _boards_answered, "all"),
    ("upstream calls (walls + people)", lambda c: c.upstream.calls, ""),
    ("  peak in any second", lambda c: c.upstream.peak, f"<= {RATE_LIMIT}"),
    ("  throttled by the store (429)", lambda c: c.upstream.throttled, "0"),
)  # fmt: skip


def counting_table(name, result):
    return measure_table(
        f"People while walls start counting ({name}): {len(COUNTING_FILTERS)} new display links "
        f"with a screen each, a new filter every {COUNTING_PERSON_EVERY:g} s, "
        f"{COUNTING_SECONDS} s",
        [("value", result)],
        COUNTING_MEASURES,
    )


def counting_checks(result):
    upstream = result.upstream
    return [
        first_views_check(
            "first views while walls count", result, TARGET_COUNTING_MEDIAN, TARGET_COUNTING_WORST
        ),
        Check(
            "walls counting and people stay inside the budget",
            upstream.throttled == 0 and upstream.peak <= RATE_LIMIT,
            f"peak {upstream.peak}/s, {upstream.throttled} throttled, {upstream.calls} calls",
        ),
    ]


def throttled_check(throttled, calls):
    """The store never answered 429, in any phase of the run (its stats are added up across
    the resets between phases, and across the stores of the phases with an environment of
    their own)."""
    return Check(
        "the store answered no call 429 across the run",
        throttled == 0,
        f"{throttled} x 429 in {calls} calls",
    )


# --- The whole report ------------------------------------------------------------------------


def header(load_before, load_after, now=None):
    now = now or datetime.now(UTC)
    return (
        f"`make bench`, {now:%Y-%m-%d %H:%M} UTC, on {machine()}. "
        f"Medians of {SAMPLES} queries; gunicorn gthread, {THREADS} threads per worker. "
        # Other work on the same cores slows the dashboard's CPU-bound part and not the
        # sleeping sandbox: the load average tells a reader whether to trust the ratios.
        f"Load average before / after: {load_before:.2f} / {load_after:.2f}."
    )


def machine():
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import django
    import gunicorn

    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}), Python "
        f"{platform.python_version()}, Django {django.get_version()}, gunicorn "
        f"{gunicorn.__version__}, {platform.system()} {platform.release()}"
    )


def verdict_of(checks):
    missed = [c for c in checks if not c.passed]
    return (
        "All targets met."
        if not missed
        else f"MISSED {len(missed)} target(s): " + "; ".join(c.target for c in missed)
    )


def body(tables, checks):
    """The tables, the checks and the verdict, as plain text."""
    return "\n\n".join(
        [*(t.text() for t in tables), "\n".join(c.line() for c in checks), verdict_of(checks)]
    )


def render(tables, checks, header, footer):
    """The report as plain text and as Markdown."""
    verdict = verdict_of(checks)
    text = "\n\n".join([header, body(tables, checks), footer])
    md = "\n\n".join(
        [
            f"# Benchmark\n\n{header}",
            *(t.markdown() for t in tables),
            "\n".join(f"- {c.line()}" for c in checks),
            f"**{verdict}**",
            footer,
        ]
    )
    return text, md


# --- docs/benchmarks.md ----------------------------------------------------------------------

DOCS_START = "<!-- From here to the end marker, `make bench` writes this page: edit around it. -->"
DOCS_END = "<!-- End of what `make bench` writes. -->"


def docs_block(header, tables, checks, seconds):
    """The run as `docs/benchmarks.md` shows it: the command, the date, the machine with its
    cores and load, how long the run took, and the tables and checks as the terminal shows
    them."""
    return "\n".join(
        [
            DOCS_START,
            "",
            "## The latest run",
            "",
            f"{header} The whole run took {seconds:.0f} s.",
            "",
            "```text",
            body(tables, checks),
            "```",
            "",
            DOCS_END,
        ]
    )


def write_docs(path, block):
    """Put `block` into the page at `path` in place of the run it holds, keeping what is
    written around the markers. A page without them gets the block at its end; a missing page
    is started with a heading."""
    path = Path(path)
    try:
        page = path.read_text()
    except FileNotFoundError:
        page = "# Benchmarks\n"
    start, end = page.find(DOCS_START), page.find(DOCS_END)
    if start >= 0 and end > start:
        page = page[:start] + block + page[end + len(DOCS_END) :]
    else:
        page = page.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
