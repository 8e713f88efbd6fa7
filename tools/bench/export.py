"""An export of EXPORT_ROWS tickets, and a person's first views while it streams.

"Download CSV" walks every page of a filter in the background lane. This phase measures what
an export of EXPORT_ROWS tickets costs (the time to its last byte, and the store calls it
spends of the token's budget) and holds a person's first views of new filters, made while the
export streams, against a direct API call: the lanes must keep them within
TARGET_EXPORT_MEDIAN of it.

The store is topped up to EXPORT_ROWS tickets through the sandbox's control API, and the file
is the unfiltered list, so it holds exactly that many rows; the sandbox is reset afterwards.

`DJANGO_DEBUG=1 .venv/bin/python -m tools.bench.export` runs this phase alone against one
gunicorn worker (about a minute), as a smoke test of the phase without the whole benchmark.
"""

import csv
import io
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import requests
from django.conf import settings

from tools.sandbox.server import peak_per_second

from .clients import in_threads
from .plan import RATE_LIMIT, VIEW_TIMEOUT
from .report import Check, FirstViews, first_view_measures, first_views_check, measure_table
from .scenarios import Upstream, median_ms

EXPORT_ROWS = 500
EXPORT_TIMEOUT = 120  # seconds for the whole file: 20 pages at 3 a second take about 7
EXPORT_PERSON_EVERY = 1.0
EXPORT_MAX_VIEWS = 20  # more than fit in the export's time; the pool of queries is finite
TARGET_EXPORT_MEDIAN = 1.25
TARGET_EXPORT_WORST = 3.0


@dataclass
class Download:
    """The export as the person who asked for it got it."""

    status: int = 0
    first_byte: float = 0.0  # seconds from the click to the first bytes of the file
    seconds: float = 0.0  # to the last byte
    rows: int = 0
    note: str = ""  # the file's closing line when it stopped early, or the request's error
    retry_after: str = ""  # the answer's Retry-After, when it refused


@dataclass
class ExportResult(FirstViews):
    direct_ms: float
    download: Download
    expected_rows: int
    pages: int  # the store calls the export made
    views: list = field(default_factory=list)
    upstream: Upstream | None = None

    @property
    def whole(self):
        d = self.download
        return d.status == 200 and d.rows == self.expected_rows and not d.note


def top_up(sandbox, rows):
    """Add tickets through the control API until the store holds `rows`; returns how many it
    holds (more, if it already did)."""
    held = sandbox.count("")
    with requests.Session() as session:
        for _ in range(max(0, rows - held)):
            answer = session.post(f"{sandbox.root}/__sandbox__/tickets", json={}, timeout=5)
            answer.raise_for_status()
    return sandbox.count("")


def download(url, cookies):
    """The whole file, read as a browser saves it, and what it holds."""
    result = Download()
    start = time.perf_counter()
    body = io.BytesIO()
    try:
        with requests.get(url, cookies=cookies, stream=True, timeout=VIEW_TIMEOUT) as response:
            result.status = response.status_code
            result.retry_after = response.headers.get("Retry-After", "")
            for chunk in response.iter_content(chunk_size=None):
                if not result.first_byte:
                    result.first_byte = time.perf_counter() - start
                body.write(chunk)
                if time.perf_counter() - start > EXPORT_TIMEOUT:
                    result.note = f"not finished in {EXPORT_TIMEOUT} s"
                    break
    except requests.RequestException as exc:
        result.note = type(exc).__name__
    result.seconds = time.perf_counter() - start
    rows = list(csv.reader(io.StringIO(body.getvalue().decode("utf-8", "replace"))))
    if result.status == 200 and rows and rows[0][:1] == ["id"]:
        data = rows[1:]
        if data and data[-1][0].startswith("#"):
            result.note = result.note or data.pop()[0]
        result.rows = len(data)
    elif not result.note:
        result.note = f"HTTP {result.status}, not a CSV file"
    return result


def _export_pages(stats):
    """The Tickets List calls with no filter: the export's (people's views all filter)."""
    return sum(
        1
        for target in stats["requests"]
        if "/tickets/" in target
        and {name for name, _ in parse_qsl(urlsplit(target).query)} <= {"cursor"}
    )


def measure_export(bench, direct):
    """The export, and meanwhile a person opening a new filter every EXPORT_PERSON_EVERY s."""
    bench.settle()
    expected = top_up(bench.sandbox, EXPORT_ROWS)
    queries = bench.pool.take(EXPORT_MAX_VIEWS)
    finished = threading.Event()
    result = ExportResult(median_ms(direct), Download(), expected, 0)
    try:
        with bench.crowd(1) as (person,):

            def start(i):
                if i == 0:
                    try:
                        result.download = download(f"{bench.url}/tickets.csv", bench.cookies)
                    finally:
                        finished.set()
                    return
                time.sleep(0.3)  # the export has asked for its first page by now
                for qs in queries:
                    if finished.is_set():
                        return
                    view = person.try_view(qs)
                    result.views.append(view)
                    time.sleep(max(0.0, EXPORT_PERSON_EVERY - view.seconds))

            in_threads(2, start)
        stats = bench.sandbox.stats()
        result.pages = _export_pages(stats)
        result.upstream = Upstream(
            stats["calls"], stats["throttled"], peak_per_second(stats["arrivals"])
        )
    finally:
        bench.sandbox.reset()  # the added tickets go
        # The dashboard still holds the topped-up list's pages, as it may for their lifetime
        # (the short one: the configurations hear no deliveries): a phase after this one would
        # be served tickets the store no longer has (the 34 exports' files held 500 rows where
        # the store had 360, and counted as not whole).
        time.sleep(settings.STORE_CACHE_TTL)
    return result


# --- Report ------------------------------------------------------------------------------


def _file(r):
    d = r.download
    return f"{d.rows}/{r.expected_rows} rows" + (" (whole)" if r.whole else f" ({d.note})")


MEASURES = (
    ("export answered", lambda r: f"HTTP {r.download.status}, {_file(r)}", "whole"),
    ("  first bytes of the file, s", lambda r: f"{r.download.first_byte:.2f}", ""),
    ("  the whole file, s", lambda r: f"{r.download.seconds:.1f}", ""),
    ("  store calls for the export", lambda r: r.pages, ""),
    ("  rows per store call", lambda r: f"{r.download.rows / max(r.pages, 1):.0f}", ""),
    ("  store calls per second", lambda r: f"{r.pages / max(r.download.seconds, 0.001):.2f}",
     "< 4"),
    *first_view_measures(TARGET_EXPORT_MEDIAN, TARGET_EXPORT_WORST),
    ("upstream calls (export + people)", lambda r: r.upstream.calls, ""),
    ("  peak in any second", lambda r: r.upstream.peak, f"<= {RATE_LIMIT}"),
    ("  throttled by the store (429)", lambda r: r.upstream.throttled, "0"),
)  # fmt: skip


def export_table(name, result):
    return measure_table(
        f'An export of {EXPORT_ROWS} tickets ({name}): "Download CSV" of the whole list, a '
        f"person opening a new filter every {EXPORT_PERSON_EVERY:g} s while it streams",
        [("value", result)],
        MEASURES,
    )


def export_checks(result):
    upstream = result.upstream
    d = result.download
    return [
        Check(
            f"an export of {EXPORT_ROWS} tickets is whole, inside the budget",
            result.whole and upstream.throttled == 0 and upstream.peak <= RATE_LIMIT,
            f"{_file(result)} in {d.seconds:.1f} s, {result.pages} store calls, "
            f"peak {upstream.peak}/s, {upstream.throttled} throttled",
        ),
        first_views_check(
            "first views during an export", result, TARGET_EXPORT_MEDIAN, TARGET_EXPORT_WORST
        ),
    ]


# --- This phase alone --------------------------------------------------------------------


def smoke(write=print):
    """The export phase alone, on one gunicorn worker: the sandbox, the database and a
    warm-up as `make bench` makes them, and direct calls to compare with (without the first
    views beside them)."""
    import contextlib
    import secrets
    import tempfile
    from pathlib import Path

    from tools.processes import Gunicorn

    from . import run
    from .clients import CountedSandbox, QueryPool, SharedBudget, paced, sign_in
    from .plan import FIRST_PACE, LATENCY_MS, SAMPLES, THREADS
    from .scenarios import Bench

    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-export-")))
        sandbox = stack.enter_context(
            CountedSandbox(
                "--rate-limit", str(RATE_LIMIT), "--latency-ms", str(LATENCY_MS),
                token=secrets.token_urlsafe(24),
            )
        )  # fmt: skip
        env, credentials = run.prepare(root, sandbox)
        # As in `make bench` by this phase, no customer's name is being looked up meanwhile.
        django_env = {**env.django_env(root / "state"), "STORE_NAME_LOOKUPS_PER_MINUTE": "0"}
        dashboard = stack.enter_context(
            Gunicorn(
                django_env,
                "--workers", "1", "--threads", str(THREADS), "--worker-class", "gthread",
                log_path=root / "gunicorn.log",
            )
        )  # fmt: skip
        budget = SharedBudget(sandbox, root / "state" / "pacing")
        bench = Bench(sandbox, dashboard.url, sign_in(dashboard.url, *credentials),
                      QueryPool(sandbox), 1, budget)  # fmt: skip
        write("Warming up, then direct calls ...")
        bench.warm_up()
        bench.settle()
        client = bench.direct()
        direct = [client.call(qs) for qs in paced(bench.pool.take(SAMPLES), FIRST_PACE)]
        client.close()
        write("Exporting ...")
        result = measure_export(bench, direct)
    write("\n" + export_table("1 worker", result).text() + "\n")
    for check in export_checks(result):
        write(check.line())
    return result


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    smoke()
