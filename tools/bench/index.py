"""The ticket index under load: the walk that fills it, a burst of webhook deliveries, and 200
open lists hearing of arrivals.

This phase has an environment of its own, as a team running on several machines has: the
dashboard under gunicorn (2 workers x 16 threads) on PostgreSQL and Redis, with webhooks on,
and a sandbox of SYNC_TICKETS tickets answering in 150 ms with its real limit of 4 calls a
second.

- **the walk**: from an empty index, the dashboard walks every ticket in the background lane
  (it starts with the first request). Timed until the walk ends, with its store calls, their
  peak in any second and the 429s; meanwhile a person opens a new filter every
  SYNC_PERSON_EVERY seconds, each first view held against a direct call's median.
- **the burst**: BURST deliveries of `ticket.updated` from BURST_SENDERS senders at once, as a
  busy store retrying a backlog does, each signed as the store signs; each answer timed. Then,
  BURST_SETTLE seconds later, every status's list total must be exact: the dashboard's
  `data-total` against the statuses the deliveries left.
- **open lists**: OPEN_LISTS people keep a list open (ten common filters), their pages polling
  `/arrivals/` as the browser does. New tickets are delivered one by one; for each list its
  filters match, the time from the delivery's answer to the poll that shows it is an arrival's
  latency. The CPU the dashboard's processes spend is read from /proc, idle (polls that find
  nothing changed) and while tickets arrive.

The deliveries' tickets come from a copy of the sandbox's data made here with the same seed,
size and anchor, so the expected totals are known without asking the store.

`.venv/bin/python -m tools.bench.index` runs this phase alone (about three minutes).
"""

import contextlib
import copy
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

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

from .clients import CountedSandbox, DirectClient, in_threads, sign_in
from .plan import LATENCY_MS, RATE_LIMIT, VIEW_TIMEOUT
from .report import Check, measure_table

SYNC_TICKETS = 5000
SYNC_TIMEOUT = 300  # 200 pages at 3 a second take about 70 s
SYNC_PERSON_EVERY = 1.5
SYNC_PEOPLE_FILTERS = (
    "priority=high", "priority=medium", "priority=low", "channel=email", "channel=api",
    "channel=dashboard", "channel=customer_account", "status=pending", "status=solved",
    "status=closed", "status=new&priority=high", "status=open&priority=low",
)  # fmt: skip
TARGET_SYNC_MEDIAN = 1.25

BURST = 300
BURST_SENDERS = 8
BURST_SETTLE = 5.0
TARGET_BURST_P95 = 1.0

OPEN_LISTS = 200
LIST_FILTERS = (
    "status=new", "status=new&status=open", "status=open", "priority=high",
    "status=new&priority=high", "channel=email", "status=pending", "priority=low",
    "status=new&status=open&priority=medium", "",
)  # fmt: skip
ARRIVALS = 10
ARRIVAL_EVERY = 3.0
POLL_EVERY = 2.0
IDLE_SECONDS = 20.0
TARGET_ARRIVAL_P95 = 3.0

SECRET_BYTES = 24
STATUSES = ("new", "open", "pending", "solved", "closed")
POLL_RE = re.compile(r'id="arrivals-poll" hidden data-hx-get="([^"]+)"')
ARRIVALS_RE = re.compile(r'data-arrivals="(\d+)"')
TOTAL_RE = re.compile(r'id="list-total"[^>]*data-total="(\d+)"')
ROW_RE = re.compile(r'<tr data-ticket-id="(\d+)"')


@dataclass
class Walk:
    seconds: float = 0.0
    finished: bool = False
    tickets: int = 0
    calls: int = 0
    peak: int = 0
    throttled: int = 0
    direct_ms: float = 0.0
    views: list = field(default_factory=list)  # (seconds, listed tickets)


@dataclass
class Burst:
    answers: list = field(default_factory=list)  # (status, seconds)
    totals: dict = field(default_factory=dict)  # status -> (dashboard's, expected)


@dataclass
class OpenLists:
    lists: int = 0
    latencies: list = field(default_factory=list)  # seconds, per (arrival, matching list)
    expected: int = 0  # (arrival, list) pairs that should have been seen
    polls_idle: int = 0
    cpu_idle: float = 0.0  # CPU seconds per wall second, polls finding nothing changed
    polls_busy: int = 0
    cpu_busy: float = 0.0  # while tickets arrive
    errors: int = 0
    resent: int = 0  # polls sent again on a new connection, as a browser does
    failures: Counter = field(default_factory=Counter)


@dataclass
class IndexResult:
    walk: Walk
    burst: Burst
    lists: OpenLists


def measure(write, logs):
    """This phase from start to stop, in an environment of its own."""
    anchor = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-index-")))
        write(f"Index: starting PostgreSQL, Redis and a sandbox of {SYNC_TICKETS} tickets ...")
        postgres = PostgresServer().start()
        stack.callback(postgres.remove)
        postgres.create_database("dashboard")
        redis = stack.enter_context(RedisServer(root / "redis").start())
        sandbox = stack.enter_context(
            CountedSandbox(
                "--rate-limit", str(RATE_LIMIT), "--latency-ms", str(LATENCY_MS),
                "--tickets", str(SYNC_TICKETS), "--anchor", anchor.isoformat(),
                token=secrets.token_urlsafe(24), log_path=logs / "sandbox-index.log",
            )
        )  # fmt: skip
        local = SandboxData(tickets=SYNC_TICKETS, anchor=anchor)
        env = child_env(
            DJANGO_DEBUG=0,
            DJANGO_SECRET_KEY=secrets.token_urlsafe(40),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_HTTPS=0,
            NEXT_API_TOKEN=sandbox.token,
            NEXT_API_BASE_URL=sandbox.api,
            NEXT_WEBHOOK_SECRET=secret,
            DASHBOARD_STATE_DIR=root / "state",
            DATABASE_URL=postgres.url(),
            REDIS_URL=redis.url,
            INDEX_BACKFILL=1,
        )
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        tags = "\n".join(f"{i},{name}" for i, name in sorted(local.tags.items()))
        (root / "tags.csv").write_text(tags + "\n")
        manage(env, "import_tags", str(root / "tags.csv"))
        password = secrets.token_urlsafe(24)
        manage(
            {**env, "DJANGO_SUPERUSER_PASSWORD": password},
            "createsuperuser", "--noinput", "--username", "bench", "--email", "b@example.invalid",
        )  # fmt: skip
        direct = DirectClient(sandbox)
        direct.call("")  # the connection opened: what follows is the call alone
        samples = []
        for qs in ("", "status=open", "priority=high", "channel=email", ""):
            time.sleep(0.3)
            samples.append(direct.call(qs))
        direct_ms = statistics.median(samples) * 1000
        direct.close()
        sandbox.reset()
        dashboard = stack.enter_context(
            Gunicorn(
                env, "--workers", "2", "--threads", "16", "--worker-class", "gthread",
                log_path=logs / "gunicorn-index.log",
            )
        )  # fmt: skip
        cookies = sign_in(dashboard.url, "bench", password)
        write("Index: the walk of every ticket ...")
        walk = _walk(dashboard.url, cookies, sandbox, postgres, direct_ms)
        write(f"  {walk.tickets} tickets in {walk.seconds:.0f} s, {walk.calls} calls")
        write("Index: a burst of deliveries ...")
        burst = _burst(dashboard.url, cookies, local, secret)
        write(f"Index: {OPEN_LISTS} open lists ...")
        lists = _open_lists(dashboard, cookies, local, secret)
    return IndexResult(walk, burst, lists)


# --- The walk ------------------------------------------------------------------------------


def _walk_state(postgres):
    found = postgres.sql(
        "SELECT coalesce(finished_count, 0), finished_at IS NOT NULL, walked "
        "FROM dashboard_indexsync ORDER BY id DESC LIMIT 1",
        database="dashboard",
    ).strip()
    if not found:
        return 0, False, 0
    count, finished, walked = found.split("|")
    return int(count), finished == "t", int(walked)


def _walk(url, cookies, sandbox, postgres, direct_ms):
    result = Walk(direct_ms=direct_ms)
    started = time.monotonic()
    person = requests.Session()
    person.cookies.update(cookies)
    person.get(f"{url}/healthz", timeout=10)  # the walk starts with the dashboard's requests
    done = threading.Event()

    def browse():
        for qs in SYNC_PEOPLE_FILTERS:
            if done.is_set():
                return
            begun = time.perf_counter()
            answer = person.get(f"{url}/?{qs}", timeout=VIEW_TIMEOUT)
            seconds = time.perf_counter() - begun
            result.views.append((seconds, len(ROW_RE.findall(answer.text))))
            time.sleep(max(0.0, SYNC_PERSON_EVERY - seconds))

    browsing = threading.Thread(target=browse, daemon=True)
    browsing.start()
    deadline = started + SYNC_TIMEOUT
    while time.monotonic() < deadline and not _walk_state(postgres)[1]:
        time.sleep(0.5)
    result.seconds = time.monotonic() - started
    done.set()
    browsing.join(timeout=VIEW_TIMEOUT)
    result.tickets, result.finished, _ = _walk_state(postgres)
    stats = sandbox.stats()
    result.calls = stats["paths"].get("/api/admin/tickets/", 0)
    result.peak = peak_per_second(stats["arrivals"])
    result.throttled = stats["throttled"]
    person.close()
    return result


# --- Deliveries ----------------------------------------------------------------------------


def _deliver(session, url, secret, ticket, event_type):
    body = json.dumps(
        {
            "api_version": "unstable",
            "data": ticket,
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "object": "ticket",
            "webhook": {"events": [event_type], "id": 1, "store": "bench", "target": url},
        }
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    begun = time.perf_counter()
    answer = session.post(
        f"{url}/webhooks/next/",
        data=body,
        headers={"Content-Type": "application/json", "X-29Next-Signature": signature},
        timeout=30,
    )
    return answer.status_code, time.perf_counter() - begun


def _later(ticket, seconds):
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat().replace("+00:00", "Z")


def _burst(url, cookies, local, secret):
    result = Burst()
    picks = [ticket for ticket in local.tickets if ticket["status"] in STATUSES][:BURST]
    changed = []
    for i, ticket in enumerate(picks):
        whole = copy.deepcopy(local.ticket(ticket["id"]))
        whole["status"] = STATUSES[(STATUSES.index(whole["status"]) + 1 + i) % len(STATUSES)]
        whole["updated_at"] = _later(whole, 60)
        changed.append(whole)
    for whole in changed:
        local.ticket(whole["id"]).update(status=whole["status"], updated_at=whole["updated_at"])
    sessions = [requests.Session() for _ in range(BURST_SENDERS)]

    def send(i):
        return [
            _deliver(sessions[i], url, secret, whole, "ticket.updated")
            for whole in changed[i::BURST_SENDERS]
        ]

    answers, _ = in_threads(BURST_SENDERS, send)
    for sent in answers:
        if isinstance(sent, Exception):
            result.answers.append((0, 30.0))
        else:
            result.answers.extend(sent)
    time.sleep(BURST_SETTLE)  # the "5 s later": what a person then sees is asked
    person = requests.Session()
    person.cookies.update(cookies)
    for status in STATUSES:
        expected = len(local.filter_tickets([("status", status)]))
        page = person.get(f"{url}/?status={status}", timeout=VIEW_TIMEOUT).text
        found = TOTAL_RE.search(page)
        result.totals[status] = (int(found.group(1)) if found else None, expected)
    for session in (*sessions, person):
        session.close()
    return result


# --- Open lists ----------------------------------------------------------------------------


class Poller:
    """One open list: its page loaded once, then its poller asked every POLL_EVERY seconds
    with what the page shows, as the page's script asks."""

    def __init__(self, url, cookies, qs):
        self.url, self.qs = url, qs
        self.session = requests.Session()
        self.session.cookies.update(cookies)
        page = self.session.get(f"{url}/?{qs}", timeout=VIEW_TIMEOUT).text
        found = POLL_RE.search(page)
        self.poll = html.unescape(found.group(1)) if found else None
        self.rows = ",".join(f"{i}:" for i in ROW_RE.findall(page))
        total = TOTAL_RE.search(page)
        self.total = total.group(1) if total else ""
        self.seen = 0
        self.seen_at = []  # when each arrival (by its number) showed
        self.polls = self.errors = self.resent = 0
        self.failures = Counter()  # why a poll failed: its status, or the request's error

    def ask(self):
        params = {"shown": self.rows, "total": self.total, "seen": self.seen}
        url = f"{self.url}{self.poll}"
        try:
            try:
                answer = self.session.get(url, params=params, timeout=VIEW_TIMEOUT)
            except requests.ConnectionError:
                # The server closed the idle keep-alive connection as this poll went out on
                # it (gunicorn keeps one 2 s): a browser sends such a GET again on a new one.
                self.resent += 1
                answer = self.session.get(url, params=params, timeout=VIEW_TIMEOUT)
        except requests.RequestException as exc:
            self.errors += 1
            self.failures[type(exc).__name__] += 1
            return
        self.polls += 1
        if answer.status_code == 204:
            return
        if answer.status_code != 200:
            self.errors += 1
            self.failures[f"HTTP {answer.status_code}"] += 1
            return
        found = POLL_RE.search(answer.text)
        self.poll = html.unescape(found.group(1)) if found else self.poll
        total = TOTAL_RE.search(answer.text)
        self.total = total.group(1) if total else self.total
        arrived = ARRIVALS_RE.search(answer.text)
        if arrived and int(arrived.group(1)) > self.seen:
            now = time.monotonic()
            self.seen_at.extend([now] * (int(arrived.group(1)) - self.seen))
            self.seen = int(arrived.group(1))


def _cpu_seconds(master_pid):
    """CPU seconds spent so far by gunicorn's master and its workers."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            pid, ppid = int(entry), int(fields[1])
            if pid == master_pid or ppid == master_pid:
                total += int(fields[11]) + int(fields[12])
    return total / ticks


def _open_lists(dashboard, cookies, local, secret):
    result = OpenLists()
    pollers = [Poller(dashboard.url, cookies, LIST_FILTERS[i % len(LIST_FILTERS)])
               for i in range(OPEN_LISTS)]  # fmt: skip
    pollers = [p for p in pollers if p.poll]
    result.lists = len(pollers)
    stop = threading.Event()

    def poll(p):
        begin = time.monotonic() + (hash(p) % 2000) / 1000  # spread over the interval
        while not stop.wait(max(0.0, begin - time.monotonic())):
            p.ask()
            begin += POLL_EVERY

    threads = [threading.Thread(target=poll, args=(p,), daemon=True) for p in pollers]
    for thread in threads:
        thread.start()
    time.sleep(POLL_EVERY * 2)  # every list has taken its first look
    polls, cpu, begun = (
        sum(p.polls for p in pollers),
        _cpu_seconds(dashboard.process.popen.pid),
        time.monotonic(),
    )
    time.sleep(IDLE_SECONDS)
    elapsed = time.monotonic() - begun
    result.polls_idle = sum(p.polls for p in pollers) - polls
    result.cpu_idle = (_cpu_seconds(dashboard.process.popen.pid) - cpu) / elapsed

    session = requests.Session()
    delivered = []  # (monotonic time of the answer, ticket)
    polls, cpu, begun = (
        sum(p.polls for p in pollers),
        _cpu_seconds(dashboard.process.popen.pid),
        time.monotonic(),
    )
    for i in range(ARRIVALS):
        ticket = local.add_ticket(
            status=("new", "open")[i % 2], priority=("high", "medium", "low")[i % 3]
        )
        ticket = copy.deepcopy(local.ticket(ticket["id"]))
        status, _ = _deliver(session, dashboard.url, secret, ticket, "ticket.created")
        if status == 200:
            delivered.append((time.monotonic(), ticket))
        time.sleep(ARRIVAL_EVERY)
    time.sleep(POLL_EVERY * 2)
    elapsed = time.monotonic() - begun
    result.polls_busy = sum(p.polls for p in pollers) - polls
    result.cpu_busy = (_cpu_seconds(dashboard.process.popen.pid) - cpu) / elapsed
    stop.set()
    for thread in threads:
        thread.join(timeout=VIEW_TIMEOUT)
    for p in pollers:
        matching = {t["id"] for t in local.filter_tickets(parse_qsl(p.qs))}
        mine = [at for at, ticket in delivered if ticket["id"] in matching]
        result.expected += len(mine)
        result.latencies.extend(seen - at for at, seen in zip(mine, p.seen_at, strict=False))
        result.errors += p.errors
        result.resent += p.resent
        result.failures.update(p.failures)
        p.session.close()
    session.close()
    return result


# --- Report --------------------------------------------------------------------------------


def _p95(values):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _view_ratios(walk):
    return [seconds * 1000 / walk.direct_ms for seconds, _ in walk.views]


def _median(values):
    return statistics.median(values) if values else float("nan")


def _answered(r):
    return sum(1 for status, _ in r.burst.answers if 200 <= status < 300)


def _answer_times(r):
    return [seconds for _, seconds in r.burst.answers]


def _totals(r):
    return ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in r.burst.totals.items())


def _failures(lists):
    reasons = ", ".join(f"{n} {why}" for why, n in lists.failures.most_common())
    return f"{lists.errors} ({reasons})" if reasons else str(lists.errors)


MEASURES = (
    (f"the walk of {SYNC_TICKETS} tickets: tickets indexed", lambda r: r.walk.tickets,
     f"{SYNC_TICKETS}"),
    ("  seconds", lambda r: f"{r.walk.seconds:.0f}", ""),
    ("  tickets calls (the walk and people's)", lambda r: r.walk.calls, ""),
    ("  peak in any second", lambda r: r.walk.peak, f"<= {RATE_LIMIT}"),
    ("  throttled by the store (429)", lambda r: r.walk.throttled, "0"),
    ("  people's first views meanwhile", lambda r: len(r.walk.views), ""),
    ("  first view / direct, median", lambda r: f"{_median(_view_ratios(r.walk)):.2f}x",
     f"<= {TARGET_SYNC_MEDIAN:.2f}x"),
    (f"burst: {BURST} deliveries, {BURST_SENDERS} senders, 2xx",
     lambda r: f"{_answered(r)}/{len(r.burst.answers)}", "all"),
    ("  answer p95, s", lambda r: f"{_p95(_answer_times(r)):.3f}",
     f"<= {TARGET_BURST_P95:.1f}"),
    ("  answer median, s", lambda r: f"{_median(_answer_times(r)):.3f}", ""),
    (f"  totals {BURST_SETTLE:g} s later (shown/exact)", _totals, "equal"),
    (f"open lists polling every {POLL_EVERY:g} s", lambda r: r.lists.lists, f"{OPEN_LISTS}"),
    (f"  arrivals seen / due ({ARRIVALS} tickets)",
     lambda r: f"{len(r.lists.latencies)}/{r.lists.expected}", "all"),
    ("  arrival latency p95, s", lambda r: f"{_p95(r.lists.latencies):.2f}",
     f"<= {TARGET_ARRIVAL_P95:.1f}"),
    ("  arrival latency median, s", lambda r: f"{_median(r.lists.latencies):.2f}", ""),
    ("  polls a second, nothing changed", lambda r: f"{r.lists.polls_idle / IDLE_SECONDS:.0f}",
     ""),
    ("  dashboard CPU then, cores", lambda r: f"{r.lists.cpu_idle:.2f}", ""),
    ("  dashboard CPU while tickets arrive, cores", lambda r: f"{r.lists.cpu_busy:.2f}", ""),
    ("  polls sent again (keep-alive closed)", lambda r: r.lists.resent, ""),
    ("  failed polls", lambda r: _failures(r.lists), "0"),
)  # fmt: skip


def index_table(result):
    return measure_table(
        "The ticket index (2 workers x 16 threads, PostgreSQL and Redis, webhooks on): its "
        f"walk, a burst of deliveries, and {OPEN_LISTS} open lists hearing of arrivals",
        [("value", result)],
        MEASURES,
    )


def index_checks(r):
    ok = sum(1 for s, _ in r.burst.answers if 200 <= s < 300)
    burst_p95 = _p95([s for _, s in r.burst.answers])
    views = _median(_view_ratios(r.walk))
    lists = r.lists
    return [
        Check("the walk fills the index", r.walk.finished and r.walk.tickets == SYNC_TICKETS,
              f"{r.walk.tickets} of {SYNC_TICKETS} tickets in {r.walk.seconds:.0f} s"),
        Check(f"the walk: at most {RATE_LIMIT} calls a second, no 429",
              r.walk.peak <= RATE_LIMIT and not r.walk.throttled,
              f"peak {r.walk.peak}, {r.walk.throttled} throttled"),
        Check(f"first views during the walk, median <= {TARGET_SYNC_MEDIAN:.2f}x",
              views <= TARGET_SYNC_MEDIAN, f"{views:.2f}x of {len(r.walk.views)}"),
        Check(f"burst of {BURST}: every delivery answered 2xx", ok == len(r.burst.answers) == BURST,
              f"{ok}/{len(r.burst.answers)}"),
        Check(f"burst: answer p95 <= {TARGET_BURST_P95:.1f} s", burst_p95 <= TARGET_BURST_P95,
              f"{burst_p95:.3f} s"),
        Check(f"burst: every status's total exact {BURST_SETTLE:g} s later",
              all(a == b for a, b in r.burst.totals.values()),
              ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in r.burst.totals.items())),
        Check(f"{OPEN_LISTS} open lists: every arrival seen, p95 <= {TARGET_ARRIVAL_P95:.1f} s",
              len(lists.latencies) == lists.expected > 0
              and _p95(lists.latencies) <= TARGET_ARRIVAL_P95,
              f"{len(lists.latencies)}/{lists.expected} seen, p95 {_p95(lists.latencies):.2f} s"),
        Check("open lists: no failed poll", lists.errors == 0, f"{lists.errors} failed"),
    ]  # fmt: skip


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    from .report import render

    logs = Path("var/bench/logs")
    logs.mkdir(parents=True, exist_ok=True)
    result = measure(lambda text: print(text, flush=True), logs)
    text, _ = render([index_table(result)], index_checks(result), "", "")
    print(text)


if __name__ == "__main__":
    main()
