"""`manage.py bench`: the dashboard under gunicorn against the sandbox store, measured.

One run starts the sandbox store (150 ms latency, its real 4 requests/s sliding window) and the
dashboard under gunicorn in three configurations (1 worker, 2 workers sharing the file cache
and pacing, 2 workers sharing Redis), drives them over HTTP from threads, and prints the
figures side by side, plus a fault table, as text and as Markdown in `var/bench/latest.md`.

Everything listens on 127.0.0.1 only; every request has a timeout and every phase a bounded
number of requests; every process started here is stopped by its pid on the way out.
"""

import contextlib
import html
import itertools
import os
import platform
import queue
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from django.conf import settings

from dashboard import store
from dashboard.filters import querystring
from tools.sandbox.server import FAULT_MODES, peak_per_second

BASE_DIR = Path(settings.BASE_DIR)
OUT_DIR = BASE_DIR / "var" / "bench"
REDIS_SERVER = "/usr/bin/redis-server"

LATENCY_MS = 150
RATE_LIMIT = 4
THREADS = 8
SAMPLES = 11  # odd, so the median is one real measurement
CONCURRENT_SAME = 30
DISTINCT_VIEWS = 60
PEOPLE = 20
# The dashboard lets at most 4 calls go per 1.1 s (its window plus margin). Starting one
# upstream-bound request every 0.35 s puts at most 4 in any 1.1 s, so the timed requests
# never wait for the budget and the sandbox never throttles them.
PACE = 0.35
# Long enough for the dashboard's and the sandbox's rate windows to empty between phases.
SETTLE = 1.3

DIRECT_TIMEOUT = 10
VIEW_TIMEOUT = 40  # a view may wait 20 s for its turn, and a `timeout` fault holds it 10 s
MESSAGE_TARGET = 12.0
RECOVERY_LIMIT = 15.0

TARGET_FIRST = 1.10
TARGET_REPEAT = 0.25

# Wall screens: three display links (one rotating two filters), two screens each, refreshing
# at the shortest allowed interval, while a few people browse beside them.
WALL_LINKS = (
    ("Room new+open", ["status=new&status=open"]),
    ("Room closed", ["status=closed&status=solved"]),
    ("Room rotating", ["priority=high", "status=pending"]),
)
WALL_SCREENS_PER_LINK = 2
WALL_REFRESH = 10
WALL_SECONDS = 45
WALL_PEOPLE = 4
WALL_PERSON_EVERY = 4.0
WALL_MAX_BEHIND = 60.0

# Settings the measured processes must not inherit from whoever runs the benchmark: each
# configuration gets exactly the environment written below.
INHERITED_PREFIXES = ("DJANGO_", "NEXT_", "STORE_", "DASHBOARD_", "REDIS_", "SANDBOX_")


# --- Small helpers ---------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout, what, interval=0.05):
    """Poll `check()` until it is truthy; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, OSError):
            if check():
                return
        time.sleep(interval)
    raise RuntimeError(f"{what} not ready within {timeout:g} s")


def median_ms(seconds):
    return statistics.median(seconds) * 1000


def log_tail(path, lines=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Process:
    """A child process in its own session, so Ctrl-C reaches only us and we stop it in order."""

    def __init__(self, name, command, env, log_path):
        self.name = name
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self):
        if self.popen.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.popen.returncode}:\n{log_tail(self.log_path)}"
            )
        return True

    def stop(self, grace=15):
        """SIGTERM, then SIGKILL to its own process group (gunicorn's workers included)."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)


# --- The sandbox store -----------------------------------------------------------------------


class Sandbox:
    def __init__(self, token, log_path):
        self.token = token
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.root}/api/admin/"
        self.control_session = requests.Session()
        self.process = Process(
            "sandbox",
            [sys.executable, "-m", "tools.sandbox", "--port", str(self.port),
             "--token", token, "--rate-limit", str(RATE_LIMIT),
             "--latency-ms", str(LATENCY_MS)],
            child_env(),
            log_path,
        )  # fmt: skip
        wait_until(self._ready, 20, "sandbox store")

    def _ready(self):
        self.process.check_alive()
        return self.control_session.get(f"{self.root}/__sandbox__/", timeout=2).ok

    def _control(self, method, path, **kwargs):
        response = self.control_session.request(
            method, f"{self.root}/__sandbox__/{path}", timeout=5, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def set_fault(self, mode):
        return self._control("POST", "control", json={"fault": mode})

    def reset(self):
        """No fault, the start-up latency and limit, an empty rate window and zero stats."""
        return self._control("POST", "reset")

    def stats(self):
        return self._control("GET", "stats")

    def count(self, qs):
        # The control API's count is not an API call: it neither counts nor spends the budget.
        return self._control("GET", f"count?{qs}")["count"]

    def stop(self):
        self.control_session.close()
        self.process.stop()


# --- Redis -----------------------------------------------------------------------------------


class Redis:
    """A throwaway redis-server on a free loopback port, stopped by the pid in its pidfile."""

    def __init__(self, directory):
        self.port = free_port()
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pidfile = self.directory / "redis.pid"
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = [
            REDIS_SERVER,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "yes",
            "--pidfile", str(self.pidfile),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
        ]  # fmt: skip
        started = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if started.returncode != 0:
            raise RuntimeError(f"redis-server did not start: {started.stdout}{started.stderr}")
        wait_until(self._ping, 15, "redis-server")

    def _ping(self):
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            return client.ping()
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _pid(self):
        try:
            return int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def stop(self):
        # Daemonized, so not our child: poll until the pid is gone rather than wait() for it.
        pid = self._pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
            time.sleep(0.05)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


# --- The dashboard under gunicorn ------------------------------------------------------------


def child_env(**overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES)}
    env.update({k: str(v) for k, v in overrides.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Environment:
    """What every dashboard process of the run shares: the store, the keys, the database."""

    sandbox: Sandbox
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


def manage(env, *args, timeout=180):
    """Run a manage.py command for the measured configuration (not this process's settings)."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


class Dashboard:
    def __init__(self, workers, env, log_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(
            "gunicorn",
            [sys.executable, "-m", "gunicorn", "dashboard.wsgi",
             "-b", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--threads", str(THREADS), "--worker-class", "gthread"],
            env,
            log_path,
        )  # fmt: skip
        wait_until(self._ready, 30, "gunicorn")

    def _ready(self):
        self.process.check_alive()
        return requests.get(f"{self.url}/accounts/login/", timeout=2).status_code == 200

    def sign_in(self, username, password):
        """The session cookie of a signed-in user, got the way a browser gets it."""
        with requests.Session() as session:
            page = session.get(f"{self.url}/accounts/login/", timeout=10)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            if not token:
                raise RuntimeError("the login page has no CSRF token")
            answer = session.post(
                f"{self.url}/accounts/login/",
                data={
                    "csrfmiddlewaretoken": token.group(1),
                    "username": username,
                    "password": password,
                    "next": "",
                },
                allow_redirects=False,
                timeout=10,
            )
            if answer.status_code != 302 or "sessionid" not in session.cookies:
                raise RuntimeError(f"sign-in failed: HTTP {answer.status_code}")
            return session.cookies.copy()

    def stop(self):
        self.process.stop()


# --- Queries ---------------------------------------------------------------------------------


class QueryPool:
    """Canonical Tickets List query strings, each handed out once in the whole run, each known
    (from the sandbox's count) to list at least one ticket, so every timed page has rows.

    Canonical, because the dashboard redirects any other spelling to the canonical URL, and a
    redirect is not what we mean to time.
    """

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self._candidates = self._generate()

    @staticmethod
    def _generate():
        statuses = [
            combo
            for size in range(1, len(store.STATUSES) + 1)
            for combo in itertools.combinations(store.STATUSES, size)
        ]
        priorities = ("", *store.PRIORITIES)
        today = datetime.now(UTC).date()
        starts = (None, *(today - timedelta(days=d) for d in (170, 150, 120, 90, 60)))
        for start, priority, status in itertools.product(starts, priorities, statuses):
            yield store.TicketQuery(status=status, priority=priority, created_from=start)

    def take(self, n):
        taken = []
        for query in self._candidates:
            qs = querystring(query)
            if self.sandbox.count(qs) > 0:
                taken.append(qs)
                if len(taken) == n:
                    return taken
        raise RuntimeError("ran out of distinct queries that list tickets")


# --- Measuring -------------------------------------------------------------------------------

ERROR_RE = re.compile(r'data-error="([^"]*)"[^>]*>\s*<p>(.*?)</p>', re.S)


@dataclass
class View:
    status: int
    seconds: float
    has_rows: bool
    error_code: str = ""
    message: str = ""

    @property
    def ok(self):
        return self.status == 200 and self.has_rows


def read_view(response, seconds):
    body = response.text
    found = ERROR_RE.search(body)
    return View(
        status=response.status_code,
        seconds=seconds,
        has_rows="data-ticket-id" in body,
        error_code=found.group(1) if found else "",
        message=html.unescape(" ".join(found.group(2).split())) if found else "",
    )


class Person:
    """One simulated support agent: their own connection, the shared signed-in cookie."""

    def __init__(self, dashboard, cookies):
        self.base = dashboard.url
        self.session = requests.Session()
        self.session.cookies.update(cookies)

    def view(self, qs):
        start = time.perf_counter()
        response = self.session.get(
            f"{self.base}/?{qs}", allow_redirects=False, timeout=VIEW_TIMEOUT
        )
        return read_view(response, time.perf_counter() - start)

    def warm(self):
        # Opens the keep-alive connection, so no timed request pays for the TCP handshake.
        self.session.get(f"{self.base}/accounts/login/", timeout=10)

    def close(self):
        self.session.close()


class DirectClient:
    """The API as any script would call it: one keep-alive session, bearer token, version, and
    the answer read as JSON (the data, which is what the dashboard gets too)."""

    def __init__(self, sandbox):
        self.api = sandbox.api
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {sandbox.token}", "X-29next-API-Version": "unstable"}
        )
        self.session.get(f"{sandbox.root}/__sandbox__/", timeout=DIRECT_TIMEOUT)

    def call(self, qs):
        start = time.perf_counter()
        response = self.session.get(f"{self.api}tickets/?{qs}", timeout=DIRECT_TIMEOUT)
        response.json()
        seconds = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"direct API call answered {response.status_code}")
        return seconds

    def close(self):
        self.session.close()


def paced(items, interval=PACE):
    """Yield items no faster than one per `interval` seconds (start to start)."""
    next_start = time.monotonic()
    for item in items:
        pause = next_start - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        next_start = time.monotonic() + interval
        yield item


def expect_page(view, what):
    if not view.ok:
        raise RuntimeError(f"{what}: HTTP {view.status} {view.error_code} {view.message}")


def in_threads(count, work):
    """Run `work(i)` in `count` threads released together; return results and wall time."""
    barrier = threading.Barrier(count + 1)
    results = [None] * count

    def run(i):
        barrier.wait(timeout=30)
        try:
            results[i] = work(i)
        except Exception as exc:  # a failed request is a result to report, not a crash
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=30)
    start = time.perf_counter()
    for thread in threads:
        thread.join(timeout=VIEW_TIMEOUT * 3)
    return results, time.perf_counter() - start


@dataclass
class ConfigResult:
    name: str
    direct: list = field(default_factory=list)
    first: list = field(default_factory=list)
    repeat: list = field(default_factory=list)
    same_calls: int = 0
    same_ok: int = 0
    same_seconds: float = 0.0
    distinct_ok: int = 0
    distinct_busy: int = 0
    distinct_other: list = field(default_factory=list)
    distinct_throttled: int = 0
    distinct_peak: int = 0
    distinct_seconds: float = 0.0
    distinct_slowest: float = 0.0

    @property
    def first_ratio(self):
        return median_ms(self.first) / median_ms(self.direct)

    @property
    def repeat_ratio(self):
        return median_ms(self.repeat) / median_ms(self.direct)


@dataclass
class WallResult:
    refreshes: list = field(default_factory=list)  # (status, seconds, stale, behind seconds)
    views: list = field(default_factory=list)
    calls: int = 0
    throttled: int = 0
    peak: int = 0
    seconds: float = 0.0

    @property
    def stale(self):
        return sum(1 for r in self.refreshes if r[2])

    @property
    def failed(self):
        return sum(1 for r in self.refreshes if r[0] != 200)

    @property
    def most_behind(self):
        return max((r[3] for r in self.refreshes), default=0.0)


BOARD_UPDATED_RE = re.compile(r'data-updated="([^"]+)"')
BOARD_POLL_RE = re.compile(r'<section id="board"[^>]*?hx-get="([^"]+)"', re.S)


class Bench:
    """The phases, run against one dashboard configuration."""

    def __init__(self, env, dashboard, cookies, pool, workers):
        self.env = env
        self.sandbox = env.sandbox
        self.workers = workers
        self.dashboard = dashboard
        self.cookies = cookies
        self.pool = pool

    def person(self):
        person = Person(self.dashboard, self.cookies)
        person.warm()
        return person

    def settle(self):
        """Empty both rate windows and zero the sandbox's stats before a phase."""
        time.sleep(SETTLE)
        self.sandbox.reset()

    def warm_up(self):
        """Bring every worker and thread to its steady state before anything is timed.

        A worker's first request imports the views and compiles the templates; the first list
        view fetches the ticket types (cached 10 minutes); gthread starts its threads only
        when all running ones are busy, and each thread makes its own cache client (with
        Redis: its own connection pool and connection) on first use. All of that is paid once
        per process or thread, not per view, so it does not belong in "first view", which
        means the first view of a query. Rounds of concurrent views start every thread.
        """
        shared = self.pool.take(1)[0]
        crowd = 4 * THREADS * self.workers
        people = [self.person() for _ in range(crowd)]
        try:
            expect_page(people[0].view(shared), "warm-up view")
            for _ in range(2):
                results, _ = in_threads(crowd, lambda i: people[i].view(shared))
                for view in results:
                    if isinstance(view, Exception):
                        raise view
                    expect_page(view, "warm-up view")
            for qs in paced(self.pool.take(3)):
                expect_page(people[0].view(qs), "warm-up view")
        finally:
            for person in people:
                person.close()

    def first_and_repeat(self, result):
        """Direct calls and first views of the same queries, alternated and paced, then the
        same pages again: equal payloads, same moment, no waiting for the budget."""
        self.settle()
        queries = self.pool.take(SAMPLES)
        direct, person = DirectClient(self.sandbox), self.person()
        try:
            steps = [(kind, qs) for qs in queries for kind in ("direct", "first")]
            for kind, qs in paced(steps):
                if kind == "direct":
                    result.direct.append(direct.call(qs))
                else:
                    view = person.view(qs)
                    expect_page(view, "first view")
                    result.first.append(view.seconds)
            for qs in queries:
                view = person.view(qs)
                expect_page(view, "repeat view")
                result.repeat.append(view.seconds)
            stats = self.sandbox.stats()
            if stats["throttled"]:
                raise RuntimeError(f"{stats['throttled']} timed calls were throttled")
            # Every direct call and first view reached the store once; nothing else did (no
            # ticket-type fetch, no retry, no repeat view).
            if stats["calls"] != 2 * SAMPLES:
                raise RuntimeError(f"unexpected upstream calls: {stats['paths']}")
        finally:
            direct.close()
            person.close()

    def identical_views(self, result):
        self.settle()
        qs = self.pool.take(1)[0]
        people = [self.person() for _ in range(CONCURRENT_SAME)]
        try:
            views, result.same_seconds = in_threads(CONCURRENT_SAME, lambda i: people[i].view(qs))
        finally:
            for person in people:
                person.close()
        result.same_ok = sum(1 for v in views if isinstance(v, View) and v.ok)
        result.same_calls = self.sandbox.stats()["calls"]

    def distinct_views(self, result):
        self.settle()
        todo = queue.Queue()
        for qs in self.pool.take(DISTINCT_VIEWS):
            todo.put(qs)
        people = [self.person() for _ in range(PEOPLE)]

        def work(i):
            views = []
            while True:
                try:
                    qs = todo.get_nowait()
                except queue.Empty:
                    return views
                try:
                    views.append(people[i].view(qs))
                except requests.RequestException as exc:
                    views.append(exc)

        try:
            per_person, result.distinct_seconds = in_threads(PEOPLE, work)
        finally:
            for person in people:
                person.close()
        views = [v for vs in per_person if isinstance(vs, list) for v in vs]
        views += [vs for vs in per_person if isinstance(vs, Exception)]
        answered = [v for v in views if isinstance(v, View)]
        result.distinct_ok = sum(1 for v in answered if v.ok)
        result.distinct_busy = sum(1 for v in answered if v.error_code == "busy")
        result.distinct_other = [
            describe(v)
            for v in views
            if not (isinstance(v, View) and (v.ok or v.error_code == "busy"))
        ]
        result.distinct_slowest = max((v.seconds for v in answered), default=0.0)
        stats = self.sandbox.stats()
        result.distinct_throttled = stats["throttled"]
        result.distinct_peak = peak_per_second(stats["arrivals"])

    def run(self, name):
        result = ConfigResult(name)
        self.warm_up()
        self.first_and_repeat(result)
        self.identical_views(result)
        self.distinct_views(result)
        return result

    # -- Walls --

    def walls(self, state):
        """Wall screens refreshing beside people browsing: the budget holds, and no board is
        stale or more than a minute behind the store."""
        self.settle()
        paths = [self._display_link(state, name, filters) for name, filters in WALL_LINKS]
        screens = [path for path in paths for _ in range(WALL_SCREENS_PER_LINK)]
        people = [self.person() for _ in range(WALL_PEOPLE)]
        queries = queue.Queue()
        for qs in self.pool.take(int(WALL_SECONDS / WALL_PERSON_EVERY) * WALL_PEOPLE):
            queries.put(qs)
        result = WallResult()
        lock = threading.Lock()
        start = time.monotonic()
        deadline = start + WALL_SECONDS

        def screen(i):
            # Screens are switched on one after another, as people walk around the room.
            time.sleep(i * WALL_REFRESH / len(screens))
            with requests.Session() as session:
                url = f"{self.dashboard.url}{screens[i]}"
                headers = {}
                while time.monotonic() < deadline:
                    began = time.perf_counter()
                    response = session.get(url, headers=headers, timeout=VIEW_TIMEOUT)
                    seconds = time.perf_counter() - began
                    updated = BOARD_UPDATED_RE.search(response.text)
                    behind = (
                        (
                            datetime.now(UTC) - datetime.fromisoformat(updated.group(1))
                        ).total_seconds()
                        if updated
                        else float("inf")
                    )
                    stale = "data-stale=" in response.text
                    with lock:
                        result.refreshes.append((response.status_code, seconds, stale, behind))
                    poll = BOARD_POLL_RE.search(response.text)
                    if poll:
                        url = f"{self.dashboard.url}{html.unescape(poll.group(1))}"
                        headers = {"HX-Request": "true"}
                    time.sleep(max(0.0, WALL_REFRESH - seconds))

        def browse(i):
            time.sleep(i * WALL_PERSON_EVERY / WALL_PEOPLE)
            while time.monotonic() < deadline:
                try:
                    qs = queries.get_nowait()
                except queue.Empty:
                    return
                view = people[i].view(qs)
                with lock:
                    result.views.append(view)
                time.sleep(max(0.0, WALL_PERSON_EVERY - view.seconds))

        try:
            _, result.seconds = in_threads(
                len(screens) + WALL_PEOPLE,
                lambda i: screen(i) if i < len(screens) else browse(i - len(screens)),
            )
        finally:
            for person in people:
                person.close()
        stats = self.sandbox.stats()
        result.calls = stats["calls"]
        result.throttled = stats["throttled"]
        result.peak = peak_per_second(stats["arrivals"])
        return result

    def _display_link(self, state, name, filters):
        args = ["create_display_link", f"{name} {secrets.token_hex(3)}"]
        for qs in filters:
            args += ["--filters", qs]
        args += ["--refresh", str(WALL_REFRESH), "--rotate", "20", "--base-url", "http://x"]
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env.django_env(state),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1].removeprefix("http://x")

    # -- Faults --

    def faults(self):
        """Each sandbox fault: how long until the person reads an answer, then how long until
        a fresh view is whole again once the fault is gone (nothing restarted or cleared)."""
        rows = []
        person = self.person()
        try:
            for mode in (m for m in FAULT_MODES if m != "none"):
                self.settle()
                self.sandbox.set_fault(mode)
                answer = self._view_or_failure(person, self.pool.take(1)[0])
                self.sandbox.set_fault("none")
                recovery, attempts, last = self._recover(person)
                rows.append(FaultRow(mode, answer, recovery, attempts, last))
        finally:
            self.sandbox.set_fault("none")
            person.close()
        return rows

    def _recover(self, person):
        """Fresh views, paced, until one lists tickets (or RECOVERY_LIMIT passes)."""
        start = time.perf_counter()
        attempts, last = 0, None
        for _ in paced(itertools.count()):
            attempts += 1
            last = self._view_or_failure(person, self.pool.take(1)[0])
            if last.ok or time.perf_counter() - start > RECOVERY_LIMIT:
                break
        return time.perf_counter() - start, attempts, last

    @staticmethod
    def _view_or_failure(person, qs):
        # A dropped or timed-out request to the dashboard is an answer too: the worst kind.
        start = time.perf_counter()
        try:
            return person.view(qs)
        except requests.RequestException as exc:
            return View(0, time.perf_counter() - start, False, "no-answer", type(exc).__name__)


def describe(outcome):
    if isinstance(outcome, View):
        return f"HTTP {outcome.status} {outcome.error_code}".strip()
    return type(outcome).__name__


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


# --- Reporting -------------------------------------------------------------------------------


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


@dataclass
class Check:
    target: str
    passed: bool
    detail: str

    def line(self):
        return f"{'PASS' if self.passed else 'FAIL'}  {self.target}: {self.detail}"


def config_table(results):
    def row(label, fn, target=""):
        return [label, *(fn(r) for r in results), target]

    rows = [
        row("direct API call, median ms", lambda r: f"{median_ms(r.direct):.1f}"),
        row("first view (cache miss), median ms", lambda r: f"{median_ms(r.first):.1f}"),
        row("repeat view (cache hit), median ms", lambda r: f"{median_ms(r.repeat):.1f}"),
        row(
            "first view - direct, ms (the dashboard's own work)",
            lambda r: f"{median_ms(r.first) - median_ms(r.direct):.1f}",
        ),
        row("first view / direct", lambda r: f"{r.first_ratio:.2f}x", f"<= {TARGET_FIRST:.2f}x"),
        row("repeat view / direct", lambda r: f"{r.repeat_ratio:.2f}x", f"<= {TARGET_REPEAT:.2f}x"),
        row(
            f"{CONCURRENT_SAME} identical concurrent views: upstream calls",
            lambda r: r.same_calls,
            "1",
        ),
        row(
            f"{CONCURRENT_SAME} identical concurrent views: served / wall s",
            lambda r: f"{r.same_ok}/{CONCURRENT_SAME} in {r.same_seconds:.2f}",
        ),
        row(
            f"{DISTINCT_VIEWS} distinct views, {PEOPLE} people: served",
            lambda r: f"{r.distinct_ok}/{DISTINCT_VIEWS}",
            f"{DISTINCT_VIEWS}/{DISTINCT_VIEWS}",
        ),
        row("  answered 503 busy", lambda r: r.distinct_busy, "0"),
        row("  throttled by the store (429)", lambda r: r.distinct_throttled, "0"),
        row("  peak upstream calls in any second", lambda r: r.distinct_peak, f"<= {RATE_LIMIT}"),
        row(
            "  total wall time, s",
            lambda r: f"{r.distinct_seconds:.1f}",
            f"~ {DISTINCT_VIEWS / RATE_LIMIT:.0f}",
        ),
        row("  slowest view, s", lambda r: f"{r.distinct_slowest:.1f}"),
    ]
    return Table(
        f"Dashboard vs direct API (sandbox: {LATENCY_MS} ms latency, {RATE_LIMIT} req/s limit)",
        ["measure", *(r.name for r in results), "target"],
        rows,
    )


def config_checks(results):
    def each(fmt, fn):
        return ", ".join(f"{r.name} {fmt(r)}" for r in results), all(fn(r) for r in results)

    specs = [
        (
            f"first view / direct <= {TARGET_FIRST:.2f}x",
            lambda r: f"{r.first_ratio:.2f}x",
            lambda r: r.first_ratio <= TARGET_FIRST,
        ),
        (
            f"repeat view / direct <= {TARGET_REPEAT:.2f}x",
            lambda r: f"{r.repeat_ratio:.2f}x",
            lambda r: r.repeat_ratio <= TARGET_REPEAT,
        ),
        (
            f"{CONCURRENT_SAME} identical concurrent views make 1 upstream call",
            lambda r: str(r.same_calls),
            lambda r: r.same_calls == 1 and r.same_ok == CONCURRENT_SAME,
        ),
        (
            f"{DISTINCT_VIEWS} distinct views all served, none busy",
            lambda r: (
                f"{r.distinct_ok}/{DISTINCT_VIEWS}"
                + (f" (busy {r.distinct_busy})" if r.distinct_busy else "")
                + (f" (other: {', '.join(r.distinct_other)})" if r.distinct_other else "")
            ),
            lambda r: r.distinct_ok == DISTINCT_VIEWS,
        ),
        (
            "no answer throttled by the store",
            lambda r: str(r.distinct_throttled),
            lambda r: r.distinct_throttled == 0,
        ),
        (
            f"peak upstream calls per sliding second <= {RATE_LIMIT}",
            lambda r: str(r.distinct_peak),
            lambda r: r.distinct_peak <= RATE_LIMIT,
        ),
    ]
    checks = []
    for target, fmt, ok in specs:
        detail, passed = each(fmt, ok)
        checks.append(Check(target, passed, detail))
    return checks


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
            "slowest "
            + max((f"{r.answer.seconds:.1f} s ({r.mode})" for r in rows), key=_secs)
            + (f"; late or silent: {', '.join(late)}" if late else ""),
        ),
        Check(
            "every fault recovered by itself",
            not stuck,
            "slowest "
            + max((f"{r.recovery:.1f} s ({r.mode})" for r in rows), key=_secs)
            + (f"; not recovered: {', '.join(stuck)}" if stuck else ""),
        ),
    ]


def _secs(text):
    return float(text.split()[0])


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


def render(tables, checks, header, footer):
    missed = [c for c in checks if not c.passed]
    verdict = (
        "All targets met."
        if not missed
        else f"MISSED {len(missed)} target(s): " + "; ".join(c.target for c in missed)
    )
    text = "\n\n".join(
        [header, *(t.text() for t in tables), "\n".join(c.line() for c in checks), verdict, footer]
    )
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


# --- The run ---------------------------------------------------------------------------------

CONFIGS = (("1 worker", 1, False), ("2 workers", 2, False), ("2 workers + Redis", 2, True))


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


def wall_table(name, result):
    board_seconds = sorted(r[1] for r in result.refreshes)
    return Table(
        f"Wall screens ({name}): {len(WALL_LINKS)} display links x {WALL_SCREENS_PER_LINK} "
        f"screens refreshing every {WALL_REFRESH} s, {WALL_PEOPLE} people browsing, "
        f"{WALL_SECONDS} s",
        ["measure", "value", "target"],
        [
            ["board refreshes answered", f"{len(result.refreshes) - result.failed}"
             f"/{len(result.refreshes)}", "all"],
            ["  stale boards", result.stale, "0"],
            ["  median / slowest refresh, s",
             f"{statistics.median(board_seconds or [0]):.2f} / {max(board_seconds or [0]):.2f}",
             ""],
            ["  most behind the store, s", f"{result.most_behind:.0f}",
             f"<= {WALL_MAX_BEHIND:.0f}"],
            ["people's views listing tickets", f"{sum(1 for v in result.views if v.ok)}"
             f"/{len(result.views)}", "all"],
            ["upstream calls (walls + people)", result.calls, ""],
            ["  per second on average", f"{result.calls / max(result.seconds, 1):.2f}",
             f"<= {RATE_LIMIT}"],
            ["  peak in any second", result.peak, f"<= {RATE_LIMIT}"],
            ["  throttled by the store (429)", result.throttled, "0"],
        ],
        align="lrr",
    )  # fmt: skip


def wall_checks(result):
    return [
        Check(
            "wall screens stay inside the budget",
            result.throttled == 0 and result.peak <= RATE_LIMIT,
            f"peak {result.peak}/s, {result.throttled} throttled, {result.calls} calls",
        ),
        Check(
            f"every board answered, none stale, none more than {WALL_MAX_BEHIND:.0f} s behind",
            result.failed == 0 and result.stale == 0 and result.most_behind <= WALL_MAX_BEHIND,
            f"{result.failed} failed, {result.stale} stale, most behind {result.most_behind:.0f} s",
        ),
    ]


def run_config(env, credentials, pool, name, workers, with_redis, root, logs, faults=False):
    state = root / f"state-{workers}{'-redis' if with_redis else ''}"
    with contextlib.ExitStack() as stack:
        redis_url = ""
        if with_redis:
            redis = Redis(state / "redis")
            stack.callback(redis.stop)
            redis_url = redis.url
        slug = name.replace(" ", "-").replace("+", "").replace("--", "-")
        dashboard = Dashboard(
            workers, env.django_env(state, redis_url), logs / f"gunicorn-{slug}.log"
        )
        stack.callback(dashboard.stop)
        bench = Bench(env, dashboard, dashboard.sign_in(*credentials), pool, workers)
        result = bench.run(name)
        fault_rows = bench.faults() if faults else None
        walls = bench.walls(state) if faults else None
        return result, fault_rows, walls


def run(write):
    """The whole benchmark; `write(text)` prints. Returns the Markdown report's path."""
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    logs = OUT_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        write("Starting the sandbox store and preparing the database ...")
        sandbox = Sandbox(secrets.token_urlsafe(24), logs / "sandbox.log")
        stack.callback(sandbox.stop)
        env, credentials = prepare(root, sandbox)
        pool = QueryPool(sandbox)
        results, fault_rows, walls = [], None, None
        for index, (name, workers, with_redis) in enumerate(CONFIGS):
            write(f"Measuring: {name} ...")
            result, faults, wall_result = run_config(
                env, credentials, pool, name, workers, with_redis, root, logs, faults=index == 0
            )
            results.append(result)
            fault_rows = fault_rows or faults
            walls = walls or wall_result
    elapsed = time.monotonic() - started
    header = (
        f"`make bench`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on {machine()}. "
        f"Medians of {SAMPLES} queries; gunicorn gthread, {THREADS} threads per worker. "
        # Other work on the same cores slows the dashboard's CPU-bound part and not the
        # sleeping sandbox: the load average tells a reader whether to trust the ratios.
        f"Load average before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f}."
    )
    footer = f"Whole run: {elapsed:.0f} s. Server logs: var/bench/logs/."
    tables = [config_table(results), fault_table(fault_rows), wall_table(CONFIGS[0][0], walls)]
    checks = config_checks(results) + fault_checks(fault_rows) + wall_checks(walls)
    text, md = render(tables, checks, header, footer)
    write("\n" + text)
    report = OUT_DIR / "latest.md"
    report.write_text(md + "\n")
    return report
