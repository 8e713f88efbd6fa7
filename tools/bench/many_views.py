"""One person saving VIEWS_SAVED team views as fast as they can, and what everyone pays for it.

The second of issue 23's "one colleague" scenarios. Team views are in everyone's sidebar: each
is a row of every list page, a row of `/views/`, and a count the sidebar's poller has kept
fresh (read from the ticket index, or walked through the store's list for a search). This
phase does not hold the dashboard to a cap: caps per person and in all, and a permission to
share, may or may not be there. It reports what happened, whatever they are:

- a person who is not staff (made for the bench, with no permission) posts the list's "Save
  this view" form VIEWS_SAVED times, each a distinct filter shared with the team (one in two a
  search, which the index cannot count), from VIEWS_SAVERS connections at once: how many were
  saved (a redirect to the view), how many refused (by status), how many failed (5xx), and how
  many team views the database then holds;
- the list page and `/views/` as the bench user sees them, before and after, in kB;
- VIEWS_POLLERS people's sidebars polling their counts, each following the poller the
  dashboard gives it (its URL and its delay), for VIEWS_WINDOW seconds, a whole minute, since
  a count is walked again once a minute: the store calls they drive, nothing else running;
- then, the sidebars still polling, the bench user's first views of new filters, each held
  against the configuration's direct call (its median, from the first-view phase).

The person's views are deleted afterwards (the database is the run's, for every
configuration), and the person is made once and kept.
"""

import itertools
import json
import re
import secrets
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests

from dashboard import store
from dashboard.tickets.querystring import querystring
from tools.processes import manage

from .clients import CSRF_RE, in_threads, paced, sign_in
from .plan import RATE_LIMIT, VIEW_TIMEOUT
from .report import (
    Check,
    FirstViews,
    first_view_measures,
    first_views_across,
    measure_table,
)
from .scenarios import Upstream, median_ms, wait_quiet

VIEWS_SAVED = 400
VIEWS_SAVERS = 8  # connections the person saves from at once
VIEWS_POLLERS = 3  # people with the sidebar open
VIEWS_WINDOW = 60.0  # seconds of their polling counted: a minute, a count's refresh
VIEWS_FIRST = 11  # people's first views once the views are saved
VIEWS_PERSON_EVERY = 1.5
TARGET_VIEWS_MEDIAN = 1.25
TARGET_VIEWS_WORST = 3.0
PERSON = "bench-colleague"  # not staff, no permission: anyone signed in
SEARCH_WORDS = ("refund", "order", "shipping", "damaged", "invoice", "return", "size", "late")

VIEW_LINK_RE = re.compile(r'class="view-link"')
POLLER_RE = re.compile(r'<div id="views-poll"[^>]*>')
POLL_URL_RE = re.compile(r'data-hx-get="([^"]+)"')
POLL_DELAY_RE = re.compile(r"load delay:(\d+(?:\.\d+)?)(ms|s)")

# `manage.py shell -c`: the person (made once, never staff) and the team views they own.
_PERSON_CODE = """
import json, os
from django.contrib.auth import get_user_model
from dashboard.models import SavedView
person, _ = get_user_model().objects.get_or_create(username=os.environ["BENCH_PERSON"])
person.is_staff = person.is_superuser = False
person.set_password(os.environ["BENCH_PERSON_PASSWORD"])
person.save()
views = SavedView.objects.filter(owner=person)
team = views.filter(shared=True).count()
print(json.dumps({"team": team, "own": views.count() - team}))
if os.environ.get("BENCH_DELETE_VIEWS"):
    views.delete()
"""


@dataclass
class ViewsResult(FirstViews):
    direct_ms: float
    saves: list = field(default_factory=list)  # each save's HTTP status (0: no answer)
    save_seconds: float = 0.0  # from the go until the last save was answered
    team_saved: int = 0  # the person's team views in the database afterwards
    own_saved: int = 0  # and their own (a save the dashboard kept to its author)
    sidebar_entries: tuple = (0, 0)  # views in the bench user's sidebar, before and after
    list_kb: tuple = (0.0, 0.0)  # a list page (a first view), before and after
    views_kb: tuple = (0.0, 0.0)  # `/views/`, before and after
    polls: list = field(default_factory=list)  # (seconds asked, kB) of each sidebar poll
    window: Upstream | None = None  # what the store saw while only the sidebars polled
    views: list = field(default_factory=list)  # people's first views after the saves
    upstream: Upstream | None = None  # what the store saw from the window to the last view

    @property
    def saved(self):
        return sum(1 for status in self.saves if 300 <= status < 400)

    @property
    def refused(self):
        return {s: n for s, n in sorted(_counted(self.saves).items()) if 400 <= s < 500}

    @property
    def failed(self):
        return {s: n for s, n in sorted(_counted(self.saves).items()) if s >= 500}

    @property
    def unanswered(self):
        return sum(1 for status in self.saves if not status)

    @property
    def calls_per_minute(self):
        return self.window.calls * 60 / VIEWS_WINDOW


def _counted(statuses):
    found = {}
    for status in statuses:
        found[status] = found.get(status, 0) + 1
    return found


def _person(django_env, password, delete=False):
    """Make the person (once), or delete their views: `{"team": n, "own": n}` they held."""
    env = {**django_env, "BENCH_PERSON": PERSON, "BENCH_PERSON_PASSWORD": password}
    if delete:
        env["BENCH_DELETE_VIEWS"] = "1"
    return json.loads(manage(env, "shell", "-c", _PERSON_CODE).strip().splitlines()[-1])


def team_filters(count):
    """`count` distinct canonical filters, one in two a search."""
    statuses = [
        combo
        for size in range(1, len(store.STATUSES) + 1)
        for combo in itertools.combinations(store.STATUSES, size)
    ]
    today = datetime.now(UTC).date()
    starts = (None, today - timedelta(days=30), today - timedelta(days=90))
    plain = [
        querystring(store.TicketQuery(status=status, priority=priority, created_from=start))
        for start, priority, status in itertools.product(starts, ("", *store.PRIORITIES), statuses)
    ]
    searches = [
        querystring(store.TicketQuery(filter_text=word, status=status))
        for word, status in itertools.product(SEARCH_WORDS, statuses)
    ]
    mixed = [qs for pair in zip(plain, searches, strict=False) for qs in pair]
    if len(mixed) < count:
        raise RuntimeError(f"only {len(mixed)} distinct filters for {count} views")
    return mixed[:count]


def measure(bench, django_env, direct):
    """The saves, the pages, the sidebars' polling, the first views (see the module)."""
    password = secrets.token_urlsafe(24)
    _person(django_env, password, delete=True)  # none left from a run stopped half-way
    result = ViewsResult(median_ms(direct))
    wait_quiet(bench.sandbox)
    bench.settle()
    try:
        with bench.crowd(1) as (person,):
            qs = bench.pool.one()
            before = person.view(qs)
            entries_before = _entries(person.session, f"{bench.url}/?{qs}")
            views_before = _size(person.session, f"{bench.url}/views/")
            _save(bench.url, sign_in(bench.url, PERSON, password), result)
            held = _person(django_env, password)
            result.team_saved, result.own_saved = held["team"], held["own"]
            result.views_kb = (views_before, _size(person.session, f"{bench.url}/views/"))
            wait_quiet(bench.sandbox)
            bench.settle()
            stop = threading.Event()
            pollers = [
                threading.Thread(target=_poll, args=(bench, i, stop, result), daemon=True)
                for i in range(VIEWS_POLLERS)
            ]
            queries = bench.pool.take(VIEWS_FIRST)
            try:
                for poller in pollers:
                    poller.start()
                time.sleep(VIEWS_WINDOW)
                result.window = Upstream.seen_by(bench.sandbox)
                for qs in paced(queries, VIEWS_PERSON_EVERY):
                    result.views.append(person.try_view(qs))
            finally:
                stop.set()
                for poller in pollers:
                    poller.join(timeout=VIEW_TIMEOUT)
            result.upstream = Upstream.seen_by(bench.sandbox)
            entries_after = _entries(person.session, f"{bench.url}/?{queries[0]}")
    finally:
        _person(django_env, password, delete=True)
    sizes = [v.size for v in result.answered] or [0]
    result.list_kb = (before.size / 1024, statistics.median(sizes) / 1024)
    result.sidebar_entries = (entries_before, entries_after)
    return result


def _entries(session, url):
    """The entries of a list page's sidebar, the built-in ones too (a page seen before: its
    tickets come from the cache)."""
    return len(VIEW_LINK_RE.findall(session.get(url, timeout=VIEW_TIMEOUT).text))


def _size(session, url):
    """The page at `url`, in kB."""
    response = session.get(url, timeout=VIEW_TIMEOUT)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return len(response.content) / 1024


def _save(url, cookies, result):
    """VIEWS_SAVED team views, posted from VIEWS_SAVERS connections at once."""
    with requests.Session() as session:
        session.cookies.update(cookies)
        page = session.get(f"{url}/", timeout=VIEW_TIMEOUT)
        token = CSRF_RE.search(page.text)
        if token is None:
            raise RuntimeError("the list page has no form to save a view from")
    filters = team_filters(VIEWS_SAVED)
    shares = [list(range(i, VIEWS_SAVED, VIEWS_SAVERS)) for i in range(VIEWS_SAVERS)]

    def work(i):
        statuses = []
        with requests.Session() as saver:
            saver.cookies.update(cookies)
            for n in shares[i]:
                form = {
                    "csrfmiddlewaretoken": token.group(1),
                    "query": filters[n],
                    "name": f"Team view {n + 1:03d}",
                    "shared": "on",
                }
                try:
                    answer = saver.post(
                        f"{url}/views/save/", data=form, allow_redirects=False,
                        timeout=VIEW_TIMEOUT,
                    )  # fmt: skip
                    statuses.append(answer.status_code)
                except requests.RequestException:
                    statuses.append(0)
        return statuses

    outcomes, result.save_seconds = in_threads(VIEWS_SAVERS, work)
    for i, statuses in enumerate(outcomes):
        result.saves += statuses if isinstance(statuses, list) else [0] * len(shares[i])


def _poll(bench, index, stop, result):
    """One person's sidebar: its poller's URL after its delay, again and again, as the page's
    HTMX does, until `stop`. A second apart at the start, as pages are opened."""
    with requests.Session() as session:
        session.cookies.update(bench.cookies)
        url, delay = "/views/counts/", 1.0 + index
        while not stop.wait(delay):
            start = time.perf_counter()
            try:
                answer = session.get(
                    f"{bench.url}{url}", headers={"HX-Request": "true"}, timeout=VIEW_TIMEOUT
                )
            except requests.RequestException:
                delay = 1.0  # a browser's next trigger: the page is still open
                continue
            result.polls.append((time.perf_counter() - start, len(answer.content) / 1024))
            poller = POLLER_RE.search(answer.text)
            if answer.status_code != 200 or poller is None:
                return  # the sidebar polls no more
            url = POLL_URL_RE.search(poller.group(0)).group(1).replace("&amp;", "&")
            found = POLL_DELAY_RE.search(poller.group(0))
            delay = float(found.group(1)) / (1000 if found.group(2) == "ms" else 1)


# --- Report ------------------------------------------------------------------------------


def _by_status(counted):
    """`{status: n}` as "12 (10 x 403, 2 x 429)"."""
    words = ", ".join(f"{n} x {status}" for status, n in counted.items())
    return f"{sum(counted.values())}" + (f" ({words})" if words else "")


def _part(v, name):
    """The median of the first views' Server-Timing part `name`, in ms."""
    found = [view.timing[name] for view in v.answered if name in (view.timing or {})]
    return f"{statistics.median(found):.1f}" if found else "-"


def _before_after(pair, digits=0):
    return f"{pair[0]:.{digits}f} -> {pair[1]:.{digits}f}"


def _polls(v):
    if not v.polls:
        return "none"
    return f"{len(v.polls)}, {statistics.median(kb for _, kb in v.polls):.0f} kB"


MEASURES = (
    ("saved (redirected to the view)", lambda v: v.saved, ""),
    ("  refused (by status)", lambda v: _by_status(v.refused), ""),
    ("  answered 5xx (by status)", lambda v: _by_status(v.failed), ""),
    ("  no answer", lambda v: v.unanswered, "0"),
    ("  seconds for all the saves", lambda v: f"{v.save_seconds:.1f}", ""),
    ("team views the database then held (own views)",
     lambda v: f"{v.team_saved} ({v.own_saved})", ""),
    ("entries in a person's sidebar (built-in ones too), before -> after",
     lambda v: _before_after(v.sidebar_entries), ""),
    ("list page, kB, before -> after", lambda v: _before_after(v.list_kb), ""),
    ("/views/ page, kB, before -> after", lambda v: _before_after(v.views_kb), ""),
    (f"{VIEWS_POLLERS} sidebars polling for {VIEWS_WINDOW:g} s: polls, median answer",
     _polls, ""),
    ("  store calls they drove, a minute", lambda v: f"{v.calls_per_minute:.0f}", ""),
    ("  peak in any second", lambda v: v.window.peak, f"<= {RATE_LIMIT}"),
    *first_view_measures(TARGET_VIEWS_MEDIAN, TARGET_VIEWS_WORST),
    ("  its frame (form, sidebar, total), median ms", lambda v: _part(v, "frame"), ""),
    ("  the whole view inside Django, median ms", lambda v: _part(v, "total"), ""),
    ("  throttled by the store (429), window and views", lambda v: v.upstream.throttled, "0"),
)  # fmt: skip


def table(results):
    return measure_table(
        f"{VIEWS_SAVED} team views saved as fast as one person can (not staff, from "
        f"{VIEWS_SAVERS} connections), then {VIEWS_POLLERS} sidebars polling and a new filter "
        f"every {VIEWS_PERSON_EVERY:g} s",
        [(r.name, r.views) for r in results],
        MEASURES,
    )


def checks(results):
    """The targets people are held to whatever the saves did; the saves are reported only:
    whether the dashboard caps them, and how, is its own choice."""
    return [
        first_views_across(
            f"first views beside {VIEWS_SAVED} team views asked",
            results,
            lambda r: r.views,
            TARGET_VIEWS_MEDIAN,
            TARGET_VIEWS_WORST,
        ),
        Check.across(
            "sidebars polling and people stay inside the budget",
            results,
            lambda r: (
                f"{r.views.calls_per_minute:.0f} calls a minute, peak {r.views.window.peak}/s, "
                f"{r.views.upstream.throttled} x 429"
            ),
            lambda r: r.views.window.peak <= RATE_LIMIT and r.views.upstream.throttled == 0,
        ),
    ]
