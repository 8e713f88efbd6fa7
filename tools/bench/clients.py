"""Who asks during the benchmark: simulated people on the dashboard, a script calling the API
directly, and the fresh queries they ask for; and the two ways their requests are timed
together (paced one after another, or released at once from threads)."""

import contextlib
import html
import itertools
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests

from dashboard import store
from dashboard.tickets.querystring import querystring
from tools.processes import SandboxProcess

from .plan import DIRECT_TIMEOUT, PACE, VIEW_TIMEOUT

ERROR_RE = re.compile(r'data-error="([^"]*)"[^>]*>\s*<p>(.*?)</p>', re.S)
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
MORE_RE = re.compile(r'class="button load-more" href="([^"]+)"')


@dataclass
class View:
    """One list page as a person got it: its status, how long it took, and what it showed."""

    status: int
    seconds: float
    has_rows: bool
    error_code: str = ""
    message: str = ""
    more: str = ""  # the "Load more" link, if the page has one
    timing: dict = None  # the page's Server-Timing: milliseconds by part
    size: int = 0  # bytes of the page as read (after any transfer encoding)

    @property
    def ok(self):
        return self.status == 200 and self.has_rows


def read_view(response, seconds):
    body = response.text
    found = ERROR_RE.search(body)
    more = MORE_RE.search(body)
    return View(
        status=response.status_code,
        seconds=seconds,
        has_rows="data-ticket-id" in body,
        error_code=found.group(1) if found else "",
        message=html.unescape(" ".join(found.group(2).split())) if found else "",
        more=html.unescape(more.group(1)) if more else "",
        timing=server_timing(response.headers.get("Server-Timing", "")),
        size=len(response.content),
    )


def server_timing(header):
    """`{"frame": 12.3, ...}` from a Server-Timing header's `name;dur=ms` parts."""
    parts = (part.strip().split(";dur=") for part in header.split(",") if ";dur=" in part)
    return {name: float(ms) for name, ms in parts}


def describe(outcome):
    """A view that did not list tickets, or the exception that stopped a person, in a word."""
    if not isinstance(outcome, View):
        return type(outcome).__name__
    if not outcome.status:
        return outcome.message  # no answer at all: the name of the request's exception
    return f"HTTP {outcome.status} {outcome.error_code}".strip()


def expect_page(view, what):
    if not view.ok:
        raise RuntimeError(f"{what}: HTTP {view.status} {view.error_code} {view.message}")


def sign_in(base_url, username, password):
    """The session cookie of a signed-in user, got the way a browser gets it."""
    with requests.Session() as session:
        page = session.get(f"{base_url}/accounts/login/", timeout=10)
        token = CSRF_RE.search(page.text)
        if not token:
            raise RuntimeError("the login page has no CSRF token")
        answer = session.post(
            f"{base_url}/accounts/login/",
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


NAMES_REF_RE = re.compile(r'data-names-ref="([^"]+)"')


class Person:
    """One simulated support agent: their own connection, the shared signed-in cookie."""

    def __init__(self, base_url, cookies):
        self.base = base_url
        self.session = requests.Session()
        self.session.cookies.update(cookies)
        # The signed references of the pages this person was shown: `/names/` looks up only
        # what they vouch for, and the page's script sends them all, as `names_params` does.
        self.refs = set()

    def saw(self, text):
        """Keep the references of a page or fragment this person was shown."""
        self.refs.update(NAMES_REF_RE.findall(text))

    def names_params(self):
        return [("ref", reference) for reference in sorted(self.refs)]

    def view(self, qs):
        start = time.perf_counter()
        response = self.session.get(
            f"{self.base}/?{qs}", allow_redirects=False, timeout=VIEW_TIMEOUT
        )
        seconds = time.perf_counter() - start
        self.saw(response.text)
        return read_view(response, seconds)

    def more(self, view):
        """The next page, as "Load more" asks for it: the rows fragment, by HTMX."""
        start = time.perf_counter()
        response = self.session.get(
            f"{self.base}{view.more}", headers={"HX-Request": "true"}, timeout=VIEW_TIMEOUT
        )
        seconds = time.perf_counter() - start
        self.saw(response.text)
        return read_view(response, seconds)

    def try_view(self, qs):
        # A dropped or timed-out request to the dashboard is an answer too: the worst kind.
        start = time.perf_counter()
        try:
            return self.view(qs)
        except requests.RequestException as exc:
            return View(0, time.perf_counter() - start, False, "no-answer", type(exc).__name__)

    def warm(self):
        # Opens the keep-alive connection, so no timed request pays for the TCP handshake.
        self.session.get(f"{self.base}/accounts/login/", timeout=10)

    def close(self):
        self.session.close()


@contextlib.contextmanager
def crowd(base_url, cookies, count):
    """`count` signed-in people with warm connections, all closed on the way out."""
    people = []
    try:
        for _ in range(count):
            people.append(Person(base_url, cookies))
            people[-1].warm()
        yield people
    finally:
        for person in people:
            person.close()


class SharedBudget:
    """The dashboard's request budget for the store's token, where its gunicorn keeps it (the
    files under its PACING_DIR, or its Redis), for the calls the bench makes to the store itself.

    The store allows the token RATE_LIMIT calls a second, whoever sends them. A direct call the
    dashboard does not know of lands in the same window as the calls it paces (a first view, the
    next page fetched ahead, a name looked up): with its background lane busy it lets the page's
    call take the last slot, and the store answers 429. So each direct call first takes a slot
    here, in the people's lane, as a person's page does, through the budget's own `take_slot`:
    the two together never send the store more than it allows, and the dashboard paces its own
    calls knowing of the bench's.

    The settings are the dashboard's own (`budget.config()`: the bench's gunicorn runs with
    their defaults); `waits` keeps the seconds each call waited for its slot, which are not part
    of the call's time."""

    def __init__(self, sandbox, pacing_dir=None, redis_url=""):
        from django.test import override_settings

        from dashboard import budget
        from dashboard.budget.files import LocalBackend
        from dashboard.budget.redis import RedisBackend

        if not (redis_url or pacing_dir):
            raise ValueError("the budget is in a directory or in Redis")
        self.backend = RedisBackend(redis_url) if redis_url else LocalBackend(pacing_dir)
        self.config = budget.config()
        # The key the dashboard's store client gives this store and token (`store.identity`),
        # read from its settings as the gunicorn serving the bench has them.
        with override_settings(NEXT_API_BASE_URL=sandbox.api, NEXT_API_TOKEN=sandbox.token):
            self.key = store.identity()
        self.waits = []

    def take(self):
        """Wait for a slot in the people's lane and record the call; returns what to call as
        the request goes, which records it again at that moment if it goes late (as the
        dashboard's `slot_used` does)."""
        from dashboard.budget import INTERACTIVE
        from dashboard.budget.lanes import LATE_SEND

        conf = self.config
        waited, member = self.backend.take_slot(
            self.key, conf.rate_limit, conf.rate_window, conf.rate_margin, conf.wait_timeout,
            INTERACTIVE,
        )  # fmt: skip
        self.waits.append(waited)
        taken = time.monotonic()

        def going():
            if member and time.monotonic() - taken > LATE_SEND:
                self.backend.restamp(self.key, member, conf.rate_window + conf.rate_margin)

        return going


class DirectClient:
    """The API as any script would call it: one keep-alive session, bearer token, version, and
    the answer read as JSON (the data, which is what the dashboard gets too).

    With a `budget` (a `SharedBudget`), each call first waits for its slot in the dashboard's
    budget, as a second app on the token that shares it would: the wait is not part of the
    call's time, which is the store's answer alone, the floor a first view is held against."""

    def __init__(self, sandbox, budget=None):
        self.api = sandbox.api
        self.budget = budget
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {sandbox.token}", "X-29next-API-Version": "unstable"}
        )
        self.session.get(f"{sandbox.root}/__sandbox__/", timeout=DIRECT_TIMEOUT)

    def _slot(self):
        """A slot in the dashboard's budget, when the client shares it: waited for before the
        call's clock starts."""
        if self.budget is not None:
            self.budget.take()()

    def call(self, qs):
        self._slot()
        start = time.perf_counter()
        response = self.session.get(f"{self.api}tickets/?{qs}", timeout=DIRECT_TIMEOUT)
        response.json()
        seconds = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"direct API call answered {response.status_code}")
        return seconds

    def json(self, url):
        """The store's answer to `url` (relative to the API, or a `next` link), read as JSON."""
        url = url if url.startswith("http") else f"{self.api}{url}"
        self._slot()
        response = self.session.get(url, timeout=DIRECT_TIMEOUT)
        if response.status_code != 200:
            raise RuntimeError(f"direct API call answered {response.status_code}")
        return response.json()

    def close(self):
        self.session.close()


@dataclass
class Tally:
    """What the bench's sandbox stores saw in a run: their calls, and those answered 429."""

    calls: int = 0
    throttled: int = 0


class CountedSandbox(SandboxProcess):
    """The sandbox store, every call it saw and every 429 it answered added to `TALLY` for
    the whole run: a phase's `reset()` zeroes the store's own stats, so they are added up
    before each reset and before it stops."""

    TALLY = Tally()
    _lock = threading.Lock()

    def _add_up(self):
        stats = self.stats()
        with self._lock:
            self.TALLY.calls += stats["calls"]
            self.TALLY.throttled += stats["throttled"]

    def reset(self):
        self._add_up()
        return super().reset()

    def stop(self):
        with contextlib.suppress(requests.RequestException):
            self._add_up()  # a store that died has nothing more to add
        return super().stop()

    @classmethod
    def tally(cls):
        """The run's tally so far (a copy)."""
        with cls._lock:
            return Tally(cls.TALLY.calls, cls.TALLY.throttled)


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

    def take(self, n, at_least=1):
        """`n` new queries, each listing at least `at_least` tickets."""
        taken = []
        for query in self._candidates:
            qs = querystring(query)
            if self.sandbox.count(qs) >= at_least:
                taken.append(qs)
                if len(taken) == n:
                    return taken
        raise RuntimeError("ran out of distinct queries that list tickets")

    def one(self):
        return self.take(1)[0]


def paced(items, interval=PACE):
    """Yield items no faster than one per `interval` seconds (start to start)."""
    next_start = time.monotonic()
    for item in items:
        pause = next_start - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        next_start = time.monotonic() + interval
        yield item


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
