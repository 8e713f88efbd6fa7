"""A bulk change of BULK_TICKETS tickets from the list, while people open new filters.

This phase has an environment of its own, as a team running on several machines has: the
dashboard under gunicorn (2 workers x 16 threads) on PostgreSQL and Redis, the ticket index
filled by a walk (`manage.py sync_tickets`), and the sandbox store answering in 150 ms with its
real limit of 4 calls a second. It runs twice:

- **webhooks on**: the dashboard's receiver registered with the store (`register_webhook`),
  so the index is live and says what each ticket is now: one PATCH per ticket;
- **no webhooks**: the index does not answer for a ticket's present, so each ticket is read
  first (one GET past every cache), then written: two calls per ticket.

Each time the bench user posts the list's form with BULK_TICKETS ids and a status (as a person
does after ticking them), and follows the progress page (`/bulk/<id>/`, asked as its poller
asks) until it says every ticket is done: that is the time to all applied. Meanwhile a person
opens a new filter every PERSON_EVERY seconds, each a first view nobody asked before (a
cache miss), held against the median of direct calls to the store made just before and just
after (not during: the store's limit would count them against the dashboard). From the
sandbox: every call's arrival, so the peak in any second, and the 429s.

`.venv/bin/python -m tools.bench.bulk` runs this phase alone (about three minutes).
"""

import contextlib
import os
import re
import secrets
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

from tools.processes import (
    Gunicorn,
    PostgresServer,
    RedisServer,
    child_env,
    manage,
)
from tools.sandbox.data import SandboxData
from tools.sandbox.server import peak_per_second

from .clients import (
    CSRF_RE,
    CountedSandbox,
    DirectClient,
    QueryPool,
    SharedBudget,
    server_timing,
    sign_in,
)
from .plan import LATENCY_MS, RATE_LIMIT, VIEW_TIMEOUT
from .report import Check, measure_table

BULK_TICKETS = 100
BULK_STATUS = "pending"
BULK_TIMEOUT = 180.0  # 200 calls at 3 a second take about 70 s
PERSON_EVERY = 1.5
PERSON_FILTERS = 80  # two minutes of them: more than a bulk of 200 calls takes
POLL_EVERY = 0.25  # the bench follows the progress more closely than a page's 2 s
TARGET_VIEWS_MEDIAN = 1.25
DIRECT_BEFORE, DIRECT_AFTER = 6, 5  # direct calls: their median is one real call

STATE_RE = re.compile(r'data-bulk-state="(\w+)"')
COUNT_RE = re.compile(r'data-bulk-(applied|unchanged|failed|total)="(\d+)"')
ROW_RE = re.compile(r'<tr data-ticket-id="(\d+)"')
VARIANTS = (("webhooks on", True), ("no webhooks", False))


@dataclass
class BulkRun:
    name: str
    seconds: float = float("nan")
    outcome: dict = field(default_factory=dict)  # applied, unchanged, failed, total
    calls: int = 0
    ticket_calls: int = 0  # to tickets/{id}/: the bulk's reads and writes
    peak: int = 0
    throttled: int = 0
    direct_ms: float = float("nan")
    views: list = field(default_factory=list)  # (seconds, rows listed, HTTP status)
    timings: list = field(default_factory=list)  # each view's Server-Timing, ms by part

    @property
    def ratios(self):
        return [seconds * 1000 / self.direct_ms for seconds, _, _ in self.views]


def measure(write, logs):
    """This phase from start to stop, in an environment of its own: one run per variant."""
    anchor = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    secret = secrets.token_urlsafe(24)
    runs = []
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-bulk-")))
        write("Bulk: starting PostgreSQL, Redis and the sandbox store ...")
        postgres = PostgresServer().start()
        stack.callback(postgres.remove)
        postgres.create_database("dashboard")
        redis = stack.enter_context(RedisServer(root / "redis").start())
        sandbox = stack.enter_context(
            CountedSandbox(
                "--rate-limit", str(RATE_LIMIT), "--latency-ms", str(LATENCY_MS),
                "--anchor", anchor.isoformat(),
                token=secrets.token_urlsafe(24), log_path=logs / "sandbox-bulk.log",
            )
        )  # fmt: skip
        local = SandboxData(anchor=anchor)
        chosen = [t["id"] for t in local.tickets if t["status"] != BULK_STATUS][:BULK_TICKETS]
        base = {
            "DJANGO_DEBUG": 0,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_HTTPS": 0,
            "NEXT_API_TOKEN": sandbox.token,
            "NEXT_API_BASE_URL": sandbox.api,
            "DASHBOARD_STATE_DIR": root / "state",
            "DATABASE_URL": postgres.url(),
            "REDIS_URL": redis.url,
            "INDEX_BACKFILL": 0,  # walked once here, before anything is timed
        }
        env = child_env(**base)
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        manage(env, "sync_tickets")
        password = secrets.token_urlsafe(24)
        manage(
            {**env, "DJANGO_SUPERUSER_PASSWORD": password},
            "createsuperuser", "--noinput", "--username", "bench", "--email", "b@example.invalid",
        )  # fmt: skip
        pool = QueryPool(sandbox)
        for name, webhooks in VARIANTS:
            sandbox.reset()  # the tickets as seeded, no webhook registered, clean stats
            variant_env = child_env(**base, **({"NEXT_WEBHOOK_SECRET": secret} if webhooks else {}))
            write(f"Bulk: {BULK_TICKETS} tickets, {name} ...")
            run = _run(name, variant_env, sandbox, chosen, pool, logs, webhooks, password)
            write(f"  all done in {run.seconds:.1f} s, {run.calls} calls, peak {run.peak}")
            runs.append(run)
    return runs


def _direct_calls(sandbox, pool, count, budget):
    """`count` direct calls of new queries, over a keep-alive connection: the store's own pace
    for a first page, the floor. Some are made before the bulk and some after it, so that
    their median is of the same minutes as the views (this machine's load moves). Each takes
    its slot in the dashboard's `budget` first (not timed): the dashboard may still be fetching
    a next page or a name."""
    direct = DirectClient(sandbox, budget)
    direct.call("")  # the connection opened: what follows is the call alone
    samples = []
    for qs in pool.take(count):
        time.sleep(0.3)
        samples.append(direct.call(qs))
    direct.close()
    return samples


def _run(name, env, sandbox, ids, pool, logs, webhooks, password):
    run = BulkRun(name)
    with Gunicorn(
        env, "--workers", "2", "--threads", "16", "--worker-class", "gthread",
        log_path=logs / f"gunicorn-bulk-{name.replace(' ', '-')}.log",
    ) as dashboard:  # fmt: skip
        if webhooks:
            manage(env, "register_webhook", f"{dashboard.url}/webhooks/next/")
        cookies = sign_in(dashboard.url, "bench", password)
        budget = SharedBudget(sandbox, redis_url=env["REDIS_URL"])
        direct = _direct_calls(sandbox, pool, DIRECT_BEFORE, budget)
        filters = pool.take(PERSON_FILTERS)
        session = requests.Session()
        session.cookies.update(cookies)
        page = session.get(f"{dashboard.url}/?status=new", timeout=VIEW_TIMEOUT)
        token = CSRF_RE.search(page.text)
        if token is None or "bulk-form" not in page.text:
            raise RuntimeError("the list shows the bench user no bulk form")
        time.sleep(1.3)  # the budget's window and the store's empty before the clock starts
        before = sandbox.stats()  # what reached the store before the clock started
        done = threading.Event()
        person = threading.Thread(
            target=_browse, args=(dashboard.url, cookies, filters, done, run), daemon=True
        )
        begun = time.monotonic()
        answer = session.post(
            f"{dashboard.url}/bulk/",
            data={"csrfmiddlewaretoken": token.group(1), "ids": ids, "status": BULK_STATUS},
            allow_redirects=False,
            timeout=VIEW_TIMEOUT,
        )
        if answer.status_code != 303:
            raise RuntimeError(f"the bulk was not started: HTTP {answer.status_code}")
        person.start()
        progress = f"{dashboard.url}{answer.headers['Location']}"
        while time.monotonic() - begun < BULK_TIMEOUT:
            shown = session.get(progress, headers={"HX-Request": "true"}, timeout=VIEW_TIMEOUT)
            state = STATE_RE.search(shown.text)
            if state and state.group(1) == "done":
                run.seconds = time.monotonic() - begun
                run.outcome = {k: int(v) for k, v in COUNT_RE.findall(shown.text)}
                break
            time.sleep(POLL_EVERY)
        done.set()
        person.join(timeout=VIEW_TIMEOUT)
        stats = sandbox.stats()
        session.close()
        time.sleep(1.3)  # the bulk's and the person's calls out of the store's window
        direct += _direct_calls(sandbox, pool, DIRECT_AFTER, budget)
        run.direct_ms = statistics.median(direct) * 1000
    run.calls = stats["calls"] - before["calls"]
    run.ticket_calls = sum(
        count - before["paths"].get(path, 0)
        for path, count in stats["paths"].items()
        if re.fullmatch(r"/api/admin/tickets/\d+/", path)
    )
    run.peak = peak_per_second(stats["arrivals"][len(before["arrivals"]) :])
    run.throttled = stats["throttled"] - before["throttled"]
    return run


def _browse(url, cookies, filters, done, run):
    """A person opening a filter nobody asked before every PERSON_EVERY s, until the bulk is
    done."""
    person = requests.Session()
    person.cookies.update(cookies)
    person.get(f"{url}/accounts/login/", timeout=10)  # a warm connection, as a browser has
    for qs in filters:
        if done.is_set():
            break
        begun = time.perf_counter()
        answer = person.get(f"{url}/?{qs}", timeout=VIEW_TIMEOUT)
        seconds = time.perf_counter() - begun
        run.views.append((seconds, len(ROW_RE.findall(answer.text)), answer.status_code))
        run.timings.append(server_timing(answer.headers.get("Server-Timing", "")))
        time.sleep(max(0.0, PERSON_EVERY - seconds))
    person.close()


# --- Report --------------------------------------------------------------------------------


def _median(values):
    return statistics.median(values) if values else float("nan")


def _outcome(r):
    o = r.outcome
    return f"{o.get('applied', 0)}/{o.get('unchanged', 0)}/{o.get('failed', 0)}"


def _parts(r):
    """Each view's milliseconds as `(waiting to send, the store's answer, the rest)`: the
    `ask` part is the wait for a slot in the budget and the request going out; the form, the
    frame and `store` are the store's answer, the frame rendered meanwhile; the rest is the
    dashboard's own work after it and HTTP."""
    found = []
    for (seconds, _, _), parts in zip(r.views, r.timings, strict=True):
        if "ask" not in parts:
            continue
        answer = parts.get("form", 0) + parts.get("frame", 0) + parts.get("store", 0)
        found.append((parts["ask"], answer, seconds * 1000 - parts["ask"] - answer))
    return found


def _part_median(r, index):
    return f"{_median([p[index] for p in _parts(r)]):.1f}"


def _answered(r):
    # A filter may list nothing by the time it is opened: the bulk moved its tickets out.
    return sum(1 for _, _, status in r.views if status == 200)


MEASURES = (
    (f"{BULK_TICKETS} tickets: changed / already so / failed", _outcome, f"{BULK_TICKETS}/0/0"),
    ("  seconds until all were done", lambda r: f"{r.seconds:.1f}", ""),
    ("  store calls meanwhile (all)", lambda r: r.calls, ""),
    ("  of them to tickets/{id}/ (the bulk's)", lambda r: r.ticket_calls, ""),
    ("  peak in any second", lambda r: r.peak, f"<= {RATE_LIMIT}"),
    ("  throttled by the store (429)", lambda r: r.throttled, "0"),
    ("people's first views meanwhile, answered 200", lambda r: f"{_answered(r)}/{len(r.views)}",
     "all"),
    ("  direct API call, median ms", lambda r: f"{r.direct_ms:.1f}", ""),
    ("  first view / direct, median", lambda r: f"{_median(r.ratios):.2f}x",
     f"<= {TARGET_VIEWS_MEDIAN:.2f}x"),
    ("  first view / direct, worst", lambda r: f"{max(r.ratios, default=float('nan')):.2f}x", ""),
    ("  of a first view: a slot and sending (ask), median ms", lambda r: _part_median(r, 0), ""),
    ("  the store's answer (form, frame, store), median ms", lambda r: _part_median(r, 1), ""),
    ("  the dashboard's own after it and HTTP, median ms", lambda r: _part_median(r, 2), ""),
)  # fmt: skip


def bulk_table(runs):
    return measure_table(
        f"A bulk change of {BULK_TICKETS} tickets from the list (2 workers x 16 threads, "
        "PostgreSQL and Redis), with people opening new filters meanwhile",
        [(r.name, r) for r in runs],
        MEASURES,
    )


def bulk_checks(runs):
    checks = []
    for r in runs:
        applied = r.outcome.get("applied", 0)
        checks += [
            Check(f"bulk, {r.name}: every ticket changed", applied == BULK_TICKETS,
                  f"{_outcome(r)} in {r.seconds:.1f} s"),
            Check(f"bulk, {r.name}: at most {RATE_LIMIT} calls a second, no 429",
                  r.peak <= RATE_LIMIT and not r.throttled,
                  f"peak {r.peak}, {r.throttled} throttled"),
            Check(f"bulk, {r.name}: first views meanwhile, median <= {TARGET_VIEWS_MEDIAN:.2f}x",
                  bool(r.views) and _median(r.ratios) <= TARGET_VIEWS_MEDIAN
                  and _answered(r) == len(r.views),
                  f"{_median(r.ratios):.2f}x of {len(r.views)}, {_answered(r)} answered 200"),
        ]  # fmt: skip
    return checks


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    from .report import render

    logs = Path("var/bench/logs")
    logs.mkdir(parents=True, exist_ok=True)
    runs = measure(lambda text: print(text, flush=True), logs)
    text, _ = render([bulk_table(runs)], bulk_checks(runs), "", "")
    print(text)


if __name__ == "__main__":
    main()
