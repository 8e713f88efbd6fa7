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

The phases are in `scenarios.py`, `names.py`, `walls.py`, `export.py`, `index.py` (the ticket
index, in an environment of its own: PostgreSQL, Redis, webhooks on) and `pacing.py`, who
asks in `clients.py`, the figures and targets in `plan.py`, and the tables and checks in
`report.py` (the names', the export's and the shared state's own in their modules).
"""

import contextlib
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tools.processes import Gunicorn, RedisServer, SandboxProcess, child_env, manage

from . import index as index_phase
from . import names, pacing, report, walls
from .clients import QueryPool, sign_in
from .export import export_checks, export_table, measure_export
from .plan import LATENCY_MS, RATE_LIMIT, THREADS
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

    sandbox: SandboxProcess
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
            # The ticket index's walk would take background slots the scenarios measure.
            INDEX_BACKFILL=0,
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


def run_config(env, credentials, pool, names_plan, config, root, logs, faults=False):
    """One configuration from start to stop: its figures, names included, and with `faults`
    its fault rows and wall screens too."""
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
        bench = Bench(env.sandbox, dashboard.url, cookies, pool, workers)
        result = bench.run(name, lambda b: names.measure(b, names_plan))
        if not faults:
            return result, None, None
        screens = walls.measure(bench, django_env), walls.counting(bench, django_env, result.direct)
        return result, bench.faults(), (*screens, measure_export(bench, result.direct))


def run(write):
    """The whole benchmark; `write(text)` prints. Returns the Markdown report's path."""
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    logs = OUT_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        shared_state = pacing.measure(root / "pacing", write)
        write("Starting the sandbox store and preparing the database ...")
        sandbox = stack.enter_context(
            SandboxProcess(
                "--rate-limit", str(RATE_LIMIT), "--latency-ms", str(LATENCY_MS),
                token=secrets.token_urlsafe(24),
                log_path=logs / "sandbox.log",
            )
        )  # fmt: skip
        env, credentials = prepare(root, sandbox)
        pool = QueryPool(sandbox)
        names_plan = names.plan(sandbox)
        results, fault_rows, wall_result = [], None, None
        for index, config in enumerate(CONFIGS):
            write(f"Measuring: {config[0]} ...")
            result, faults, on_walls = run_config(
                env, credentials, pool, names_plan, config, root, logs, faults=index == 0
            )
            results.append(result)
            fault_rows = fault_rows or faults
            wall_result = wall_result or on_walls
        write("Measuring: the ticket index ...")
        indexed = index_phase.measure(write, logs)
    header = report.header(load_before, os.getloadavg()[0])
    seconds = time.monotonic() - started
    footer = f"Whole run: {seconds:.0f} s. Server logs: var/bench/logs/."
    on_walls, counting, exporting = wall_result
    tables = [
        report.config_table(results),
        report.first_view_parts_table(results),
        names.table(results),
        report.fault_table(fault_rows),
        report.wall_table(CONFIGS[0][0], on_walls),
        report.counting_table(CONFIGS[0][0], counting),
        export_table(CONFIGS[0][0], exporting),
        index_phase.index_table(indexed),
        pacing.table(shared_state),
    ]
    checks = (
        report.config_checks(results)
        + names.checks(results)
        + report.fault_checks(fault_rows)
        + report.wall_checks(on_walls)
        + report.counting_checks(counting)
        + export_checks(exporting)
        + index_phase.index_checks(indexed)
        + pacing.checks(shared_state)
    )
    text, md = report.render(tables, checks, header, footer)
    write("\n" + text)
    out = OUT_DIR / "latest.md"
    out.write_text(md + "\n")
    report.write_docs(DOCS_PAGE, report.docs_block(header, tables, checks, seconds))
    write(f"Written into {DOCS_PAGE.relative_to(BASE_DIR)}")
    return out
