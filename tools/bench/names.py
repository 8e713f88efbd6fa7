"""Names: a page of tickets whose requesters the dashboard does not know yet.

A first view never waits for names: it shows unknown customers by email or id, in elements
marked `data-waiting`, and has their names looked up in the background
(`dashboard/tickets/names.py`: at most STORE_NAME_LOOKUPS_PER_MINUTE a minute, in the
background lane of the shared budget). The page's script then asks `/names/?requester=...` for
the names still waiting and swaps in the ones it gets back.

Measured in each configuration right after the warm-up (which lists one ticket a page, so it
leaves nearly every customer unknown): the first view of a page of NAMES_PAGE_SIZE tickets
against the median of direct calls of the same query, as `Bench.first_and_repeat` times them;
then, asking for the waiting names every NAMES_POLL seconds, how long from the click until
NAMES_SHARE of the rows with a requester show a name; and what the store saw meanwhile.

Then every requester's name is looked up (asked for through `/names/`, within the same budget)
before the other phases run: they time first views against direct calls that share the store's
limit and count upstream calls, which look-ups running beside them would disturb. A dashboard
that has run for an hour knows its customers' names (they are kept for hours) just the same.
"""

import itertools
import re
import time
from dataclasses import dataclass, field

import requests

from dashboard.views.names import MAX_IDS, MAX_REFS

from .clients import NAMES_REF_RE, DirectClient, expect_page, paced, read_view
from .plan import (
    FIRST_PACE,
    NAMES_DIRECT,
    NAMES_FILTERS,
    NAMES_LIMIT,
    NAMES_PAGE_SIZE,
    NAMES_POLL,
    NAMES_SHARE,
    NAMES_UNKNOWN,
    PRIME_LIMIT,
    PRIME_POLL,
    RATE_LIMIT,
    READING,
    SETTLE,
    TARGET_NAMES_FIRST,
    TARGET_NAMES_LOAD_MORE,
    TARGET_NAMES_SECONDS,
    VIEW_TIMEOUT,
)
from .report import Check, measure_table
from .scenarios import Upstream, median_ms, wait_quiet

ROW_RE = re.compile(r'<tr data-ticket-id="\d+">(.*?)</tr>', re.S)
PERSON_RE = re.compile(r'<span class="person"(?: dir="auto")? data-requester-id="(\d+)"([^>]*)>')
SWAPPED_RE = re.compile(
    r'<span data-hx-swap-oob="[^"]*" class="person"(?: dir="auto")? data-requester-id="(\d+)"'
)
LOOKUP_RE = re.compile(r"/users/(\d+)/$")


@dataclass(frozen=True)
class NamesPlan:
    """What the store holds, asked once, straight from it, before any dashboard runs."""

    pages: dict  # each of NAMES_FILTERS: the requesters of its first page, in order
    requesters: frozenset  # every ticket's requester
    customers: tuple = ()  # every customer of the store, by id
    products: tuple = ()  # every product a ticket is about, by id


@dataclass
class NamesResult:
    query: str
    rows: list  # the requester of each row that has one, in order
    unknown: set  # the requesters the first view showed waiting for their names
    direct: list  # seconds
    first: float  # seconds
    # (seconds since the first view was asked, share of the rows with a requester named),
    # for the first view and then after each answer from /names/
    shown: list = field(default_factory=list)
    upstream: Upstream | None = None  # what the store saw, first view to quiet
    lookups: int = 0  # of which `users/{id}/`
    primed: int = 0  # requesters named before the next phase
    prime_total: int = 0
    prime_seconds: float = 0.0
    load_more: float | None = None  # "Load more" READING s after the first view, seconds

    @property
    def ratio(self):
        return self.first * 1000 / median_ms(self.direct)

    def seconds_to(self, share):
        """When `share` of the rows first showed a name, or None if they never did."""
        return next((seconds for seconds, named in self.shown if named >= share), None)


def plan(sandbox):
    """Every ticket's requester, and the first page of each of NAMES_FILTERS."""
    client = DirectClient(sandbox)
    try:
        sandbox.configure(page_size=1000)  # every ticket in an answer or two
        requesters, products = set(), set()
        for answer in _every_page(client, "tickets/"):
            requesters.update(_requesters(answer))
            products.update(p for t in answer["results"] for p in t.get("products") or ())
        customers = {
            user["id"]
            for answer in _every_page(client, "users/?user_type=customer")
            for user in answer["results"]
        }
        time.sleep(SETTLE)
        sandbox.configure(page_size=NAMES_PAGE_SIZE)
        pages = {qs: _requesters(client.json(f"tickets/?{qs}")) for qs in paced(NAMES_FILTERS)}
    finally:
        client.close()
        sandbox.reset()
    return NamesPlan(
        pages, frozenset(requesters), tuple(sorted(customers)), tuple(sorted(products))
    )


def _every_page(client, url):
    for _ in paced(itertools.count()):
        answer = client.json(url)
        yield answer
        if not (url := answer.get("next")):
            return


def _requesters(answer):
    return [t["requester"] for t in answer["results"] if t.get("requester") is not None]


def measure(bench, names_plan):
    """The page's first view, then its names; then every requester named. See the module."""
    wait_quiet(bench.sandbox)  # the warm-up's look-ups and next pages
    query = _choose(names_plan, looked_up(bench.sandbox.stats()))
    bench.settle()
    bench.sandbox.configure(page_size=NAMES_PAGE_SIZE)
    client = DirectClient(bench.sandbox, bench.budget)
    direct = []
    try:
        with bench.crowd(1) as (person,):
            for step in paced(["direct"] * NAMES_DIRECT + ["first"], FIRST_PACE):
                if step == "direct":
                    direct.append(client.call(query))
            result = _first_view(person, query, direct)
            _follow(person, result)
            wait_quiet(bench.sandbox)
            result.upstream = Upstream.seen_by(bench.sandbox)
            result.lookups = len(looked_up(bench.sandbox.stats(), unique=False))
            _prime(bench, person, names_plan.requesters, result)
    finally:
        client.close()
        bench.sandbox.reset()
    return result


def prime(bench, names_plan):
    """Every requester named, as `measure` leaves them, for a run without the names page."""
    wait_quiet(bench.sandbox)  # the warm-up's look-ups and next pages
    bench.settle()
    result = NamesResult("", [], set(), [], 0.0)
    try:
        with bench.crowd(1) as (person,):
            _prime(bench, person, names_plan.requesters, result)
    finally:
        bench.sandbox.reset()
    if result.primed < result.prime_total:
        raise RuntimeError(f"names: {result.primed}/{result.prime_total} requesters named")


def _choose(names_plan, known):
    """The first of NAMES_FILTERS whose page shows NAMES_UNKNOWN customers nobody looked up,
    else the one that shows the most."""
    unknown = {qs: len(set(page) - known) for qs, page in names_plan.pages.items()}
    enough = [qs for qs in NAMES_FILTERS if unknown[qs] >= NAMES_UNKNOWN]
    return enough[0] if enough else max(NAMES_FILTERS, key=unknown.get)


def _first_view(person, query, direct):
    start = time.perf_counter()
    response = person.session.get(
        f"{person.base}/?{query}", allow_redirects=False, timeout=VIEW_TIMEOUT
    )
    seconds = time.perf_counter() - start
    person.saw(response.text)
    view = read_view(response, seconds)
    expect_page(view, "names: first view")
    rows, waiting = [], set()
    for row in ROW_RE.findall(response.text):
        if found := PERSON_RE.search(row):
            rows.append(int(found.group(1)))
            if "data-waiting" in found.group(2):
                waiting.add(int(found.group(1)))
    result = NamesResult(query, rows, waiting, direct, seconds)
    result.shown.append((seconds, _share(rows, waiting, set())))
    if view.more:
        # "Load more" after reading, while this page's unknown customers are looked up.
        time.sleep(max(0.0, start + READING - time.perf_counter()))
        more = person.more(view)
        expect_page(more, "names: load more")
        result.load_more = more.seconds
    return result


def _share(rows, waiting, named):
    if not rows:
        return 0.0
    return sum(1 for r in rows if r not in waiting or r in named) / len(rows)


def _follow(person, result):
    """Ask for the waiting names every NAMES_POLL s from the first view, until every row shows
    one or NAMES_LIMIT has passed since the first view was asked."""
    start = time.perf_counter() - result.first
    named = set()
    for tick in itertools.count(1):
        if result.unknown <= named or time.perf_counter() - start > NAMES_LIMIT:
            return
        time.sleep(max(0.0, start + tick * NAMES_POLL - time.perf_counter()))
        named |= ask_names(person, result.unknown - named)
        result.shown.append(
            (time.perf_counter() - start, _share(result.rows, result.unknown, named))
        )


def ask_names(person, ids, references=None):
    """The requesters among `ids` the dashboard now answers with a name, as the page asks:
    with the signed `references` of the pages that showed them waiting (by default every one
    this person was shown)."""
    params = [("requester", i) for i in sorted(ids)]
    params += person.names_params() if references is None else [("ref", r) for r in references]
    for attempt in range(2):
        try:
            response = person.session.get(
                f"{person.base}/names/", params=params, headers={"HX-Request": "true"},
                timeout=VIEW_TIMEOUT,
            )  # fmt: skip
            break
        except requests.ConnectionError:
            # The keep-alive connection was closed by the server as the ask went out: a
            # browser sends the GET again on a new one, and so does this.
            if attempt:
                raise
    if response.status_code != 200:
        return set()
    return {int(i) for i in SWAPPED_RE.findall(response.text)}


def _prime(bench, person, requesters, result):
    """Every requester named, asked for every PRIME_POLL s (at most PRIME_LIMIT s).

    Shown every ticket first, page after page, as a person reading the whole list: the
    dashboard looks up only the customers its pages showed this person waiting for, each
    page vouching for its own in a signed reference. A row whose requester the dashboard
    already knew (looked up in the warm-up, or by an earlier phase) shows the name at once,
    waits for nothing, and is named by that page. The waiting ones are then asked for with
    their pages' references, at most MAX_REFS references and MAX_IDS ids an ask, as many asks
    as the pages need (a browser sends its one document's, and the server reads that many)."""
    pages = [_shown(person, "/")]
    while pages[-1].more:
        pages.append(_shown(person, pages[-1].more, fragment=True))
    named = set().union(*(page.named for page in pages))
    asks = _asks([page for page in pages if page.waiting])
    start = time.perf_counter()
    for _ in paced(itertools.count(), PRIME_POLL):
        if named >= requesters or time.perf_counter() - start > PRIME_LIMIT:
            break
        for ids, references in asks:
            if ids - named:
                named |= ask_names(person, ids - named, references)
    wait_quiet(bench.sandbox)
    result.primed, result.prime_total = len(named & requesters), len(requesters)
    result.prime_seconds = time.perf_counter() - start


@dataclass
class _Shown:
    """One page of the list as a person read it: whose names it showed, whose it waits for
    (and the references that vouch for those), and its "Load more" link."""

    named: set
    waiting: set
    references: list
    more: str


def _shown(person, path, fragment=False):
    """The list page at `path` (or its "Load more" rows, a `fragment`), as `_Shown`."""
    headers = {"HX-Request": "true"} if fragment else {}
    response = person.session.get(f"{person.base}{path}", headers=headers, timeout=VIEW_TIMEOUT)
    person.saw(response.text)
    view = read_view(response, 0.0)
    expect_page(view, "names: the whole list")
    named, waiting = set(), set()
    for requester, attributes in PERSON_RE.findall(response.text):
        (waiting if "data-waiting" in attributes else named).add(int(requester))
    return _Shown(named, waiting, NAMES_REF_RE.findall(response.text), view.more)


def _asks(pages):
    """`(ids, references)` for each ask of `/names/` that covers `pages`, within its limits."""
    asks, ids, references = [], set(), []
    for page in pages:
        if ids and (
            len(references) + len(page.references) > MAX_REFS or len(ids | page.waiting) > MAX_IDS
        ):
            asks.append((ids, references))
            ids, references = set(), []
        ids, references = ids | page.waiting, references + page.references
    if ids:
        asks.append((ids, references))
    return asks


def looked_up(stats, unique=True):
    """The customers the store was asked for by id, since its stats were last reset."""
    ids = [int(m.group(1)) for r in stats["requests"] if (m := LOOKUP_RE.search(r))]
    return set(ids) if unique else ids


# --- The table and the checks ----------------------------------------------------------------


def _seconds(value):
    return "never" if value is None else f"{value:.1f}"


def _rows(n):
    return f"{len(n.rows)} / {len(set(n.rows))} / {len(n.unknown)}"


NAMES_MEASURES = (
    ("filter", lambda n: n.query, ""),
    ("rows with a requester / distinct / not yet known", _rows, f">= {NAMES_UNKNOWN} unknown"),
    ("direct API call, median ms", lambda n: f"{median_ms(n.direct):.1f}", ""),
    ("first view (names not waited for), ms", lambda n: f"{n.first * 1000:.1f}", ""),
    ("first view / direct", lambda n: f"{n.ratio:.2f}x", f"<= {TARGET_NAMES_FIRST:.2f}x"),
    (
        f"load more after {READING:g} s of reading, while names are looked up / direct",
        lambda n: (
            "-" if n.load_more is None else f"{n.load_more * 1000 / median_ms(n.direct):.2f}x"
        ),
        f"<= {TARGET_NAMES_LOAD_MORE:.2f}x",
    ),
    (
        f"names on {NAMES_SHARE:.0%} of the rows, s after the click",
        lambda n: _seconds(n.seconds_to(NAMES_SHARE)),
        f"<= {TARGET_NAMES_SECONDS:g}",
    ),
    ("names on every row, s", lambda n: _seconds(n.seconds_to(1.0)), ""),
    ("look-ups asked of the store (users/{id}/)", lambda n: n.lookups, "1 per customer"),
    ("  throttled by the store (429)", lambda n: n.upstream.throttled, "0"),
    ("  peak upstream calls in any second", lambda n: n.upstream.peak, f"<= {RATE_LIMIT}"),
    (
        "every requester named before the next phase",
        lambda n: f"{n.primed}/{n.prime_total} in {n.prime_seconds:.0f} s",
        "all",
    ),
)


def table(results):
    return measure_table(
        f"Names (one page per configuration): {NAMES_PAGE_SIZE} tickets whose requesters "
        f"are not yet known, then the waiting names asked for every {NAMES_POLL:g} s",
        [(r.name, r.names) for r in results],
        NAMES_MEASURES,
    )


def _in_time(r):
    seconds = r.names.seconds_to(NAMES_SHARE)
    return (
        len(r.names.unknown) >= NAMES_UNKNOWN
        and seconds is not None
        and seconds <= TARGET_NAMES_SECONDS
    )


def checks(results):
    return [
        Check.across(
            f"names page: first view / direct <= {TARGET_NAMES_FIRST:.2f}x",
            results,
            lambda r: f"{r.names.ratio:.2f}x",
            lambda r: r.names.ratio <= TARGET_NAMES_FIRST,
        ),
        Check.across(
            f"names on {NAMES_SHARE:.0%} of the rows within {TARGET_NAMES_SECONDS:g} s, "
            f"{NAMES_UNKNOWN} or more customers unknown",
            results,
            lambda r: (
                f"{_seconds(r.names.seconds_to(NAMES_SHARE))} s ({len(r.names.unknown)} unknown)"
            ),
            _in_time,
        ),
        Check.across(
            f"load more after {READING:g} s, customers still being looked up: "
            f"<= {TARGET_NAMES_LOAD_MORE:.2f}x a direct call",
            results,
            lambda r: (
                "-"
                if r.names.load_more is None
                else f"{r.names.load_more * 1000 / median_ms(r.names.direct):.2f}x"
            ),
            lambda r: (
                r.names.load_more is not None
                and r.names.load_more * 1000 / median_ms(r.names.direct) <= TARGET_NAMES_LOAD_MORE
            ),
        ),
        Check.across(
            f"name look-ups inside the budget: none throttled, peak <= {RATE_LIMIT}",
            results,
            lambda r: (
                f"{r.names.lookups} look-ups for {len(r.names.unknown)} customers, "
                f"{r.names.upstream.throttled} throttled, peak {r.names.upstream.peak}"
            ),
            lambda r: r.names.upstream.throttled == 0 and r.names.upstream.peak <= RATE_LIMIT,
        ),
    ]
