"""A team of leads browsing at once, far past what the store's budget could answer one by one:
nobody waits long, nobody gets a 503, and pages that need no store call are never held up.

This phase has an environment of its own, as a team running on several machines has: the
dashboard under gunicorn (4 workers x 16 threads) on PostgreSQL and Redis, the ticket index
filled by a walk (`manage.py sync_tickets`), and the sandbox store answering in 150 ms with its
real limit of 4 calls a second, changing a ticket every CHURN_EVERY seconds and adding one
every 2 x CHURN_EVERY. It runs twice:

- **webhooks on**: the dashboard's receiver registered with the store (`register_webhook`), so
  the index is live, and pages and threads are kept until a delivery changes them;
- **no webhooks**: answers live `STORE_CACHE_TTL`, and the index is as of its walk.

Each lead has a session of their own (made in the database, as signing in would: a team
signing in at once is another matter) and a keep-alive connection, and clicks every 2 to 8 s
(uniformly) for SECONDS: opens the list with one of COMMON_FILTERS, searches for one of
SEARCHES now and then, clicks Load more when the page has one, opens a thread of a row shown
(as the list's panel asks it, by htmx). A page shown as it was known ("as of 14:02 ·
updating"), or still being asked of a busy store, polls for the store's answer every 2 s while
the lead reads it, as the page does. The
lists' other pollers (arrivals, names, counts) are not simulated: they ask the store nothing.

Meanwhile one thread samples `/healthz` and a static file every SAMPLE_EVERY s. From the
sandbox: every call's arrival, so the most calls in any sliding second, and the 429s.

`.venv/bin/python -m tools.bench.leads [--leads N] [--seconds S]` runs this phase alone (about
five minutes with the defaults).
"""

import argparse
import contextlib
import html
import os
import random
import re
import secrets
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

from tools.processes import Gunicorn, PostgresServer, RedisServer, child_env, manage
from tools.sandbox.server import peak_per_second

from .clients import CountedSandbox
from .plan import LATENCY_MS, RATE_LIMIT
from .report import Check, measure_table

LEADS = 150
SECONDS = 90.0
WORKERS, THREADS = 4, 16
THINK = (2.0, 8.0)  # seconds between a lead's clicks
RAMP = 5.0  # leads start one after another over this long
CHURN_EVERY = 20.0
POLL_EVERY = 2.0
SAMPLE_EVERY = 0.2
TIMEOUT = 40.0  # a page may wait STORE_WAIT_TIMEOUT (20 s) for its turn

# What a lead clicks next (after the first list), and how often.
CLICKS = (("list", 0.35), ("search", 0.1), ("more", 0.2), ("thread", 0.35))
COMMON_FILTERS = (
    "status=new", "status=open", "status=new&status=open", "status=pending", "priority=high",
    "status=new&priority=high", "status=open&priority=high", "channel=email",
    "status=new&status=open&priority=medium", "status=open&channel=email",
)  # fmt: skip
SEARCHES = ("refund", "order", "delivery", "damaged", "invoice", "address", "cancel", "charged")

TARGET_P95 = 3.0
TARGET_QUICK_P95 = 0.2
VARIANTS = (("webhooks on", True), ("no webhooks", False))

ROW_RE = re.compile(r'<tr data-ticket-id="(\d+)"')
MORE_RE = re.compile(r'class="button load-more" href="([^"]+)"')
AS_OF_RE = re.compile(r'class="as-of"[^>]*data-as-of="([^"]+)"')
# The poll of a page shown as it was known, or still being asked ("asking"): /fresh/ URLs.
POLL_RE = re.compile(r'data-hx-get="([^"]*/fresh/[^"]*)" data-hx-trigger="every 2s"')
STATIC_RE = re.compile(r'<link rel="stylesheet" href="(/static/[^"]+)"')
SIGN_IN_FORM = 'name="password"'
ERROR_RE = re.compile(r'data-error="([^"]*)"')


@dataclass
class Click:
    kind: str
    status: int
    seconds: float
    sign_in: bool = False
    age: float | None = None  # seconds behind the store of an answer shown as it was known
    asking: bool = False  # nothing known yet: asked in the background, filled in by a poll
    began: float = 0.0  # when it was sent (monotonic), for how many were under way at once


@dataclass
class LeadsRun:
    name: str
    leads: int = 0
    seconds: float = 0.0
    clicks: list = field(default_factory=list)
    polls: list = field(default_factory=list)  # (status, seconds)
    fresh_after: list = field(default_factory=list)  # seconds from a known answer to the fresh
    healthz: list = field(default_factory=list)  # (status, seconds)
    static: list = field(default_factory=list)
    calls: int = 0
    peak: int = 0
    throttled: int = 0
    deliveries: int = 0
    failures: Counter = field(default_factory=Counter)  # "kind status": what did not answer well
    resent: int = 0  # requests sent again on a new connection, as a browser does
    busiest: list = field(default_factory=list)  # the calls of the store's busiest second

    @property
    def requests(self):
        return len(self.clicks) + len(self.polls) + len(self.healthz) + len(self.static)

    @property
    def errors(self):
        statuses = [c.status for c in self.clicks] + [s for s, _ in self.polls]
        statuses += [s for s, _ in self.healthz + self.static]
        return sum(1 for status in statuses if status >= 500 or status == 0)

    @property
    def known(self):
        return [c for c in self.clicks if c.age is not None]

    @property
    def asking(self):
        return [c for c in self.clicks if c.asking]


def quantile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# --- The environment -----------------------------------------------------------------------


SESSIONS_SCRIPT = """
import importlib
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth import get_user_model
Store = importlib.import_module(settings.SESSION_ENGINE).SessionStore
User = get_user_model()
for n in range({count}):
    user, made = User.objects.get_or_create(
        username=f"lead{{n}}", defaults={{"email": f"lead{{n}}@example.invalid"}}
    )
    if made:
        user.set_unusable_password()
        user.save()
    session = Store()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    print("session", session.session_key)
"""


def sessions(env, count):
    """`count` leads' session keys, each of their own user, as signing in leaves them."""
    printed = manage(env, "shell", "-c", SESSIONS_SCRIPT.format(count=count), timeout=300)
    keys = [line.split()[1] for line in printed.splitlines() if line.startswith("session ")]
    if len(keys) != count:
        raise RuntimeError(f"made {len(keys)} sessions, not {count}")
    return keys


def measure(write, logs, leads=LEADS, seconds=SECONDS, variants=VARIANTS, extra_env=None):
    """This phase from start to stop, in an environment of its own: one run per variant."""
    secret = secrets.token_urlsafe(24)
    runs = []
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-leads-")))
        write("Leads: starting PostgreSQL, Redis and the sandbox store ...")
        postgres = PostgresServer().start()
        stack.callback(postgres.remove)
        postgres.create_database("dashboard")
        redis = stack.enter_context(RedisServer(root / "redis").start())
        sandbox = stack.enter_context(
            CountedSandbox(
                "--rate-limit", str(RATE_LIMIT), "--latency-ms", str(LATENCY_MS),
                "--churn", "--churn-every", str(CHURN_EVERY),
                token=secrets.token_urlsafe(24), log_path=logs / "sandbox-leads.log",
            )
        )  # fmt: skip
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
            "INDEX_BACKFILL": 0,  # walked here, before anything is timed
            **(extra_env or {}),
        }
        env = child_env(**base)
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        keys = sessions(env, leads)
        for name, webhooks in variants:
            sandbox.reset()  # the tickets as seeded, no webhook registered, clean stats
            redis_flush(redis.url)  # nothing cached from the run before
            variant_env = child_env(**base, **({"NEXT_WEBHOOK_SECRET": secret} if webhooks else {}))
            manage(variant_env, "sync_tickets", "--restart")
            write(f"Leads: {leads} leads for {seconds:.0f} s, {name} ...")
            run = _run(name, variant_env, sandbox, keys, seconds, logs, webhooks)
            write(f"  {run.requests} requests, page p95 {_p(run, 0.95):.2f} s, {run.errors} 5xx")
            runs.append(run)
    return runs


def redis_flush(url):
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def _run(name, env, sandbox, keys, seconds, logs, webhooks):
    run = LeadsRun(name, leads=len(keys), seconds=seconds)
    slug = name.replace(" ", "-")
    with Gunicorn(
        env, "--workers", str(WORKERS), "--threads", str(THREADS), "--worker-class", "gthread",
        log_path=logs / f"gunicorn-leads-{slug}.log",
    ) as dashboard:  # fmt: skip
        if webhooks:
            manage(env, "register_webhook", f"{dashboard.url}/webhooks/next/")
        static = _static_path(dashboard.url, keys[0])
        before = sandbox.stats()
        deadline = time.monotonic() + seconds
        stop = threading.Event()
        sampler = threading.Thread(
            target=_sample, args=(dashboard.url, static, stop, run), daemon=True
        )
        sampler.start()
        people = [
            threading.Thread(
                target=_lead, args=(dashboard.url, key, n * RAMP / len(keys), deadline, run),
                daemon=True,
            )
            for n, key in enumerate(keys)
        ]  # fmt: skip
        for person in people:
            person.start()
        for person in people:
            person.join(timeout=seconds + TIMEOUT * 2)
        stop.set()
        sampler.join(timeout=10)
        after = sandbox.stats()
    run.calls = after["calls"] - before["calls"]
    arrivals = after["arrivals"][len(before["arrivals"]) :]
    run.peak = peak_per_second(arrivals)
    run.busiest = _busiest(arrivals, after["requests"][len(before["requests"]) :])
    run.throttled = after["throttled"] - before["throttled"]
    run.deliveries = _delivered(sandbox) if webhooks else 0
    return run


def _busiest(arrivals, targets):
    """The calls that arrived in the store's busiest sliding second: `(seconds after the
    first of them, what was asked)`."""
    best, start = (0, 0), 0
    for end, moment in enumerate(arrivals):
        while moment - arrivals[start] >= 1.0:
            start += 1
        best = max(best, (end - start + 1, start))
    count, first = best
    return [
        (arrivals[i] - arrivals[first], targets[i] if i < len(targets) else "?")
        for i in range(first, first + count)
    ]


def _delivered(sandbox):
    """How many webhook deliveries the store made (answered 200) since its reset."""
    with contextlib.suppress(requests.RequestException, KeyError, ValueError):
        found = requests.get(f"{sandbox.root}/__sandbox__/deliveries", timeout=5).json()
        return int(found["stats"]["delivered"])
    return 0


def _static_path(url, key):
    """A static file the list page links to (its stylesheet), as browsers ask for it."""
    with requests.Session() as session:
        session.cookies.set("sessionid", key)
        page = session.get(f"{url}/?status=open", timeout=TIMEOUT)
    found = STATIC_RE.search(page.text)
    return found.group(1) if found else "/static/dashboard/app.css"


def _sample(url, static, stop, run):
    """`/healthz` and a static file, one after the other, every SAMPLE_EVERY s."""
    with requests.Session() as session:
        while not stop.is_set():
            for path, into in (("/healthz", run.healthz), (static, run.static)):
                began = time.perf_counter()
                try:
                    try:
                        status = session.get(f"{url}{path}", timeout=TIMEOUT).status_code
                    except requests.ConnectionError:  # a kept-alive connection just closed
                        status = session.get(f"{url}{path}", timeout=TIMEOUT).status_code
                except requests.RequestException as exc:
                    status = 0
                    run.failures[f"{path} {type(exc).__name__}"] += 1
                into.append((status, time.perf_counter() - began))
            stop.wait(SAMPLE_EVERY)


class Lead:
    """One lead: their session, the page in front of them, and what they click next."""

    def __init__(self, url, key, run):
        self.url, self.run = url, run
        self.session = requests.Session()
        self.session.cookies.set("sessionid", key)
        self.random = random.Random(key)
        self.filters = self.random.choice(COMMON_FILTERS)
        self.more = ""  # the Load more link on screen, if any
        self.rows = []  # ticket ids on screen
        # What on screen asks for the store's answer, as the page's polls do: by the part of
        # the page it fills in ("results", "rows", "thread"), where it asks and since when.
        self.polls = {}

    def send(self, path, headers):
        """GET as a browser does: a request on a kept-alive connection the server has just
        closed (gunicorn keeps one 2 s) is sent again on a new one."""
        url = f"{self.url}{path}"
        try:
            return self.session.get(url, headers=headers, allow_redirects=False, timeout=TIMEOUT)
        except requests.ConnectionError:
            self.run.resent += 1
            return self.session.get(url, headers=headers, allow_redirects=False, timeout=TIMEOUT)

    def get(self, kind, path, fragment=False, region="results"):
        headers = {"HX-Request": "true"} if fragment else {}
        began = time.perf_counter()
        try:
            answer = self.send(path, headers)
        except requests.RequestException as exc:
            self.run.clicks.append(Click(kind, 0, time.perf_counter() - began, began=began))
            self.run.failures[f"{kind} {type(exc).__name__}"] += 1
            return None
        seconds = time.perf_counter() - began
        text = answer.text
        sign_in = (
            "/accounts/login/" in answer.headers.get("Location", "")
            or "HX-Redirect" in answer.headers
            or SIGN_IN_FORM in text
        )
        shown = AS_OF_RE.search(text)
        age = None
        if shown:
            as_of = datetime.fromisoformat(html.unescape(shown.group(1)))
            age = max(0.0, (datetime.now(UTC) - as_of).total_seconds())
        asking = 'data-error="asking"' in text
        self.run.clicks.append(
            Click(kind, answer.status_code, seconds, sign_in, age, asking, began)
        )
        if answer.status_code >= 400:
            code = ERROR_RE.search(text)
            said = code.group(1) if code else " ".join(re.sub(r"<[^>]+>", " ", text).split())[:70]
            self.run.failures[f"{kind} {answer.status_code} {said}"] += 1
        poll = POLL_RE.search(text)
        if region == "results":  # a new list: whatever polled in the old one is gone
            self.polls.pop("rows", None)
        self.polls.pop(region, None)
        if poll:
            self.polls[region] = (html.unescape(poll.group(1)), time.monotonic())
        return text

    def shown(self, text, append=False):
        """The rows and the Load more link of a list, or of the rows that Load more added."""
        found = ROW_RE.findall(text)
        self.rows = self.rows + found if append else found
        more = MORE_RE.search(text)
        self.more = html.unescape(more.group(1)) if more else ""

    def open_list(self, filters, fragment=False, kind="list"):
        text = self.get(kind, f"/?{filters}", fragment)
        if text is not None:
            self.shown(text)

    def click(self):
        kind = self.random.choices([k for k, _ in CLICKS], [w for _, w in CLICKS])[0]
        if kind == "more" and self.more:
            text = self.get("more", self.more, fragment=True, region="rows")
            if text is not None:
                self.shown(text, append=True)
        elif kind == "thread" and self.rows:
            ticket = self.random.choice(self.rows)
            self.get("thread", f"/tickets/{ticket}/?{self.filters}", fragment=True, region="thread")
        elif kind == "search":
            self.open_list(f"filter_text={self.random.choice(SEARCHES)}", True, "search")
        else:
            self.filters = self.random.choice(COMMON_FILTERS)
            self.open_list(self.filters)

    def read(self, until):
        """Read the page until `until`; what on it waits for the store's answer asks for it
        every 2 s meanwhile, as the page's polls do, and takes it once it comes."""
        while self.polls and time.monotonic() + POLL_EVERY < until:
            time.sleep(POLL_EVERY)
            for region, (url, since) in list(self.polls.items()):
                began = time.perf_counter()
                try:
                    answer = self.send(url, {"HX-Request": "true"})
                    status, text = answer.status_code, answer.text
                except requests.RequestException as exc:
                    status, text = 0, type(exc).__name__
                self.run.polls.append((status, time.perf_counter() - began))
                if status >= 400 or status == 0:
                    self.run.failures[f"poll {status} {url.split('?')[0]} {text[:80]!r}"] += 1
                if status == 204:
                    continue
                del self.polls[region]
                if status == 200:
                    self.run.fresh_after.append(time.monotonic() - since)
                    if region != "thread":
                        self.shown(text, append=region == "rows")
        time.sleep(max(0.0, until - time.monotonic()))


def _lead(url, key, delay, deadline, run):
    lead = Lead(url, key, run)
    time.sleep(delay)
    lead.open_list(lead.filters)
    while True:
        until = time.monotonic() + lead.random.uniform(*THINK)
        if until > deadline:
            break
        lead.read(until)
        lead.click()
    lead.session.close()


# --- Report --------------------------------------------------------------------------------


def _pages(run):
    return [c.seconds for c in run.clicks]


def _p(run, q):
    return quantile(_pages(run), q)


def _under_way(run):
    """The most pages under way at once: each holds one of the dashboard's threads."""
    edges = sorted(
        [(c.began, 1) for c in run.clicks] + [(c.began + c.seconds, -1) for c in run.clicks]
    )
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def _quick(samples, q=0.95):
    return quantile([seconds for _, seconds in samples], q)


def _ms(seconds):
    return f"{seconds * 1000:.0f}"


MEASURES = (
    ("leads", lambda r: r.leads, ""),
    ("requests a second (pages, polls, samples)", lambda r: f"{r.requests / r.seconds:.1f}", ""),
    ("pages (clicks)", lambda r: len(r.clicks), ""),
    ("  p50 / p95 / p99 s",
     lambda r: f"{_p(r, 0.5):.2f} / {_p(r, 0.95):.2f} / {_p(r, 0.99):.2f}",
     f"p95 <= {TARGET_P95:g}"),
    ("  slowest s", lambda r: f"{max(_pages(r), default=float('nan')):.2f}", ""),
    ("  most under way at once", _under_way, f"{WORKERS * THREADS} threads"),
    ("errors (5xx, or no answer)", lambda r: r.errors, "0"),
    ("sign-in pages instead of pages", lambda r: sum(c.sign_in for c in r.clicks), "0"),
    ("pages shown as known, with their age", lambda r: len(r.known), ""),
    ("  oldest shown, s", lambda r: f"{max((c.age for c in r.known), default=0):.0f}", ""),
    ("pages still being asked, filled in by their poll", lambda r: len(r.asking), ""),
    ("  the store's answer swapped in after, median s",
     lambda r: f"{statistics.median(r.fresh_after):.1f}" if r.fresh_after else "-", ""),
    ("/healthz p95 ms", lambda r: _ms(_quick(r.healthz)), f"<= {TARGET_QUICK_P95 * 1000:.0f}"),
    ("static file p95 ms", lambda r: _ms(_quick(r.static)), f"<= {TARGET_QUICK_P95 * 1000:.0f}"),
    ("store calls", lambda r: r.calls, ""),
    ("  most in any sliding second", lambda r: r.peak, f"<= {RATE_LIMIT}"),
    ("  throttled by the store (429)", lambda r: r.throttled, "0"),
    ("webhook deliveries made", lambda r: r.deliveries, ""),
    ("requests sent again on a new connection", lambda r: r.resent, ""),
)  # fmt: skip


def leads_table(runs):
    leads = runs[0].leads if runs else LEADS
    return measure_table(
        f"{leads} leads browsing at once ({WORKERS} workers x {THREADS} threads, PostgreSQL and "
        f"Redis, the store at {LATENCY_MS} ms and {RATE_LIMIT} calls a second)",
        [(r.name, r) for r in runs],
        MEASURES,
    )


def leads_checks(runs):
    checks = []
    for r in runs:
        quick = max(_quick(r.healthz), _quick(r.static))
        checks += [
            Check(f"leads, {r.name}: no 5xx, no sign-in page instead of a page",
                  r.errors == 0 and not any(c.sign_in for c in r.clicks),
                  f"{r.errors} errors, {sum(c.sign_in for c in r.clicks)} sign-in pages"),
            Check(f"leads, {r.name}: at most {RATE_LIMIT} calls a second, no 429",
                  r.peak <= RATE_LIMIT and not r.throttled,
                  f"peak {r.peak}, {r.throttled} throttled"),
            Check(f"leads, {r.name}: /healthz and static p95 <= {TARGET_QUICK_P95:g} s",
                  quick <= TARGET_QUICK_P95, f"{_ms(quick)} ms"),
        ]  # fmt: skip
        if r.name == VARIANTS[0][0]:
            checks.append(
                Check(f"leads, {r.name}: page p95 <= {TARGET_P95:g} s",
                      _p(r, 0.95) <= TARGET_P95, f"{_p(r, 0.95):.2f} s")
            )  # fmt: skip
    return checks


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.bench.leads", description=__doc__)
    parser.add_argument("--leads", type=int, default=LEADS)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument(
        "--only", choices=[name for name, _ in VARIANTS], help="run one variant only"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="a setting for the dashboard (STORE_WAITERS=0, say), repeatable",
    )  # fmt: skip
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    from .report import render

    logs = Path("var/bench/logs")
    logs.mkdir(parents=True, exist_ok=True)
    variants = [v for v in VARIANTS if args.only in (None, v[0])]
    extra = dict(item.split("=", 1) for item in args.env)
    load_before = os.getloadavg()[0]
    runs = measure(
        lambda text: print(text, flush=True), logs, args.leads, args.seconds, variants, extra
    )
    load = f"Load average before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f}"
    header = load + (f"; settings: {', '.join(args.env)}" if args.env else "")
    text, _ = render([leads_table(runs)], leads_checks(runs), header, "")
    print(text)
    for run in runs:
        for what, count in run.failures.most_common(12):
            print(f"{run.name}: {count} x {what}")
        if run.peak > RATE_LIMIT:
            print(f"{run.name}: the store's busiest second")
            for offset, target in run.busiest:
                print(f"  +{offset:.3f} s  {target[:100]}")


if __name__ == "__main__":
    main()
