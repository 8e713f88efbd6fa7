"""`python -m tools.bench` (`make bench`): the dashboard under gunicorn against the sandbox
store, measured.

One run starts the sandbox store (150 ms latency, its real 4 requests/s sliding window) and the
dashboard under gunicorn in three configurations (1 worker, 2 workers sharing the file cache
and pacing, 2 workers sharing Redis), drives them over HTTP from threads, and prints the
figures side by side, plus a fault table, as text and as Markdown in `var/bench/latest.md`,
and writes the run into `docs/benchmarks.md` (see `report.write_docs`).
Before them, with nothing else running, the shared state's own primitives are timed alone on
files and on Redis (`pacing.py`).

Everything listens on 127.0.0.1 only; every request has a timeout and every phase a bounded
number of requests; every process started here is stopped by its pid on the way out.

The phases are in `scenarios.py`, `names.py`, `walls.py`, `export.py`, `many_exports.py` and
`many_views.py` (one person's 34 exports at once, and 400 team views), `index.py` (the ticket
index, in an environment of its own: PostgreSQL, Redis, webhooks on), `bulk.py` (a bulk change
of 100 tickets from the list, in another), `spreadsheet.py` (an Excel and a CSV export of 5,000
tickets, their memory and time, in another), `leads.py` (150 leads browsing at once, with and
without webhooks, in another) and `pacing.py`, who asks in `clients.py`, the
figures and targets in `plan.py`, and the tables and checks in `report.py` (the names', the
export's, the spreadsheets' and the shared state's own in their modules).
"""

import contextlib
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tools.processes import Gunicorn, RedisServer, child_env, manage

from . import backlog, leads, many_exports, many_views, names, pacing, report, spreadsheet, walls
from . import bulk as bulk_phase
from . import index as index_phase
from .clients import CountedSandbox, QueryPool, SharedBudget, sign_in
from .export import export_checks, export_table, measure_export
from .plan import LATENCY_MS, RATE_LIMIT, THREADS
from .scenarios import PHASES as SCENARIO_PHASES
from .scenarios import Bench

BASE_DIR = Path(settings.BASE_DIR)
OUT_DIR = BASE_DIR / "var" / "bench"
# The figures the documentation shows come from the latest run.
DOCS_PAGE = BASE_DIR / "docs" / "benchmarks.md"

# Name, gunicorn workers, shared state in Redis. Faults and walls are measured on the first.
CONFIGS = (("1 worker", 1, False), ("2 workers", 2, False), ("2 workers + Redis", 2, True))


@dataclass
class Environment:
    """What every dashboard process of the run shares: the store, the keys, the database."""

    sandbox: CountedSandbox
    secret_key: str
    db_path: Path

    def django_env(self, state_dir, redis_url=""):
        return child_env(
            DJANGO_DEBUG=0,
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_HTTPS=0,
            NEXT_API_TOKEN=self.sandbox.token,
            NEXT_API_BASE_URL=self.sandbox.api,
            DASHBOARD_STATE_DIR=state_dir,
            DJANGO_DB_PATH=self.db_path,
            **({"REDIS_URL": redis_url} if redis_url else {}),
        )


def prepare(env_root, sandbox):
    """One database with one user and the static files, for every configuration."""
    env = Environment(sandbox, secrets.token_urlsafe(40), env_root / "db.sqlite3")
    base = env.django_env(env_root / "setup-state")
    manage(base, "collectstatic", "--noinput", "--verbosity", "0")
    manage(base, "migrate", "--noinput", "--verbosity", "0")
    password = secrets.token_urlsafe(24)
    manage(
        {**base, "DJANGO_SUPERUSER_PASSWORD": password},
        "createsuperuser", "--noinput", "--username", "bench", "--email", "bench@example.invalid",
    )  # fmt: skip
    return env, ("bench", password)


def run_config(env, credentials, pool, names_plan, config, root, logs, phases, first=False):
    """One configuration from start to stop: the figures of its `phases`, for the `first`
    configuration of the run those measured on one configuration only (faults, walls, the
    export), one person's 34 exports and 400 team views, and last a thread opened behind a
    backlog."""
    name, workers, with_redis = config
    state = root / f"state-{workers}{'-redis' if with_redis else ''}"
    with contextlib.ExitStack() as stack:
        redis_url = ""
        if with_redis:
            redis_url = stack.enter_context(RedisServer(state / "redis").start()).url
        django_env = env.django_env(state, redis_url)
        slug = name.replace(" ", "-").replace("+", "").replace("--", "-")
        dashboard = stack.enter_context(
            Gunicorn(
                django_env,
                "--workers", str(workers),
                "--threads", str(THREADS), "--worker-class", "gthread",
                log_path=logs / f"gunicorn-{slug}.log",
            )
        )  # fmt: skip
        cookies = sign_in(dashboard.url, *credentials)
        # The budget where this configuration's gunicorn keeps it: the bench's own calls to
        # the store take their slots there too.
        shared = SharedBudget(env.sandbox, state / "pacing", redis_url)
        bench = Bench(env.sandbox, dashboard.url, cookies, pool, workers, shared)
        cold = None
        if "names" in phases:
            cold = names.measure
        elif set(phases) & NAMES_KNOWN:
            cold = names.prime  # they still run as on a dashboard that knows its customers
        result = bench.run(name, cold and (lambda b: cold(b, names_plan)), phases)
        faults, on_walls, exporting = None, None, None
        if first:
            faults = bench.faults() if "faults" in phases else None
            if "walls" in phases:
                on_walls = walls.measure(bench, django_env)
                on_walls = (on_walls, walls.counting(bench, django_env, result.direct))
            exporting = measure_export(bench, result.direct) if "export" in phases else None
        if "exports" in phases:
            result.exports = many_exports.measure(bench, result.direct)
        if "views" in phases:  # its views are deleted at its end, before the backlog
            result.views = many_views.measure(bench, django_env, result.direct)
        if "backlog" in phases:  # last: the look-ups it leaves behind would disturb the others
            result.backlog = backlog.measure(bench, names_plan)
        return result, faults, (on_walls, exporting)


# Every phase, in the order of a run: the shared state alone; then, in each configuration, the
# names page (right after the warm-up), first views, "Load more", concurrent views; then, in
# the first configuration only, faults, wall screens (and people while walls count), and the
# export; in each again, one person starting 34 exports at once, then saving 400 team views;
# last in each, a thread opened behind a backlog of names; then, each in an environment of its
# own, the ticket index, a bulk change from the list, and exports of 5,000 tickets as Excel and
# CSV. `make bench` runs them all; `python -m tools.bench --only ...` some of them.
PHASES = (
    "pacing", "names", *SCENARIO_PHASES, "faults", "walls", "export", "exports", "views",
    "backlog", "index", "bulk", "spreadsheet", "leads",
)  # fmt: skip
# The phases in an environment of their own, with no need of the configurations' sandbox.
OWN_ENVIRONMENT = {"pacing", "index", "bulk", "spreadsheet", "leads"}
# What those need measured first: the direct call's median they are held against.
NEEDS = {
    "load_more": "first", "walls": "first", "export": "first", "exports": "first",
    "views": "first",
}  # fmt: skip
# The phases that run on a dashboard that knows its customers' names (see `names.py`).
NAMES_KNOWN = {"first", "load_more", "concurrent", "faults", "walls", "export", "exports", "views"}


def selected(only=None):
    """The phases to run: `only` (names from PHASES) and what they need, else every one."""
    if not only:
        return PHASES
    unknown = set(only) - set(PHASES)
    if unknown:
        raise ValueError(f"unknown phase(s): {', '.join(sorted(unknown))}")
    chosen = set(only) | {NEEDS[phase] for phase in only if phase in NEEDS}
    return tuple(phase for phase in PHASES if phase in chosen)


def run(write, phases=PHASES, configs=CONFIGS):
    """The benchmark's `phases` in `configs`; `write(text)` prints. Returns the Markdown
    report's path. Only a whole run (every phase, every configuration) is written into
    `docs/benchmarks.md`; a part of one goes to `var/bench/partial.md`."""
    whole = tuple(phases) == PHASES and tuple(configs) == CONFIGS
    started = time.monotonic()
    tally_before = CountedSandbox.tally()
    load_before = os.getloadavg()[0]
    logs = OUT_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        shared_state = pacing.measure(root / "pacing", write) if "pacing" in phases else None
        results, fault_rows, wall_result, exporting = [], None, None, None
        if set(phases) - OWN_ENVIRONMENT:
            write("Starting the sandbox store and preparing the database ...")
            sandbox = stack.enter_context(
                CountedSandbox(
                    "--rate-limit", str(RATE_LIMIT), "--latency-ms", str(LATENCY_MS),
                    token=secrets.token_urlsafe(24),
                    log_path=logs / "sandbox.log",
                )
            )  # fmt: skip
            env, credentials = prepare(root, sandbox)
            pool = QueryPool(sandbox)
            names_plan = names.plan(sandbox)
            for index, config in enumerate(configs):
                write(f"Measuring: {config[0]} ...")
                result, faults, once = run_config(
                    env, credentials, pool, names_plan, config, root, logs, phases, index == 0
                )
                results.append(result)
                if index == 0:
                    fault_rows, (wall_result, exporting) = faults, once
        indexed, files = None, None
        if "index" in phases:
            write("Measuring: the ticket index ...")
            indexed = index_phase.measure(write, logs)
        bulk_runs = None
        if "bulk" in phases:
            write("Measuring: a bulk change from the list ...")
            bulk_runs = bulk_phase.measure(write, logs)
        if "spreadsheet" in phases:
            write("Measuring: exports of 5,000 tickets, Excel and CSV ...")
            files = spreadsheet.measure(write, logs)
        team = leads.measure(write, logs) if "leads" in phases else None  # writes its own lines
    # Every store the run started has stopped by now, each adding up what it saw.
    tally = CountedSandbox.tally()
    store_calls = tally.calls - tally_before.calls
    throttled = tally.throttled - tally_before.throttled
    write(f"The sandbox stores across the run: {throttled} x 429 in {store_calls} calls.")
    header = report.header(load_before, os.getloadavg()[0])
    seconds = time.monotonic() - started
    footer = f"Whole run: {seconds:.0f} s. Server logs: var/bench/logs/."
    first = configs[0][0] if configs else ""
    measured_names = [r for r in results if r.names is not None]
    tables = [
        report.config_table(results),
        report.first_view_parts_table(results),
        names.table(measured_names) if "names" in phases else None,
        backlog.table(results) if "backlog" in phases else None,
        report.fault_table(fault_rows) if fault_rows else None,
        report.wall_table(first, wall_result[0]) if wall_result else None,
        report.counting_table(first, wall_result[1]) if wall_result else None,
        export_table(first, exporting) if exporting else None,
        many_exports.table(results) if "exports" in phases else None,
        many_views.table(results) if "views" in phases else None,
        spreadsheet.table(files) if files else None,
        index_phase.index_table(indexed) if indexed else None,
        bulk_phase.bulk_table(bulk_runs) if bulk_runs else None,
        leads.leads_table(team) if team else None,
        pacing.table(shared_state) if shared_state else None,
    ]
    checks = (
        report.config_checks(results)
        + (names.checks(measured_names) if "names" in phases else [])
        + (backlog.checks(results) if "backlog" in phases else [])
        + (report.fault_checks(fault_rows) if fault_rows else [])
        + (report.wall_checks(wall_result[0]) if wall_result else [])
        + (report.counting_checks(wall_result[1]) if wall_result else [])
        + (export_checks(exporting) if exporting else [])
        + (many_exports.checks(results) if "exports" in phases else [])
        + (many_views.checks(results) if "views" in phases else [])
        + (spreadsheet.checks(files) if files else [])
        + (index_phase.index_checks(indexed) if indexed else [])
        + (bulk_phase.bulk_checks(bulk_runs) if bulk_runs else [])
        + (leads.leads_checks(team) if team else [])
        + (pacing.checks(shared_state) if shared_state else [])
        + [report.throttled_check(throttled, store_calls)]
    )
    tables = [table for table in tables if table is not None]
    text, md = report.render(tables, checks, header, footer)
    write("\n" + text)
    out = OUT_DIR / ("latest.md" if whole else "partial.md")
    out.write_text(md + "\n")
    if whole:
        report.write_docs(DOCS_PAGE, report.docs_block(header, tables, checks, seconds))
        write(f"Written into {DOCS_PAGE.relative_to(BASE_DIR)}")
    return out
