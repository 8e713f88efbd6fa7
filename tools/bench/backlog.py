"""A thread opened behind a backlog: a few list pages leave about BACKLOG_CUSTOMERS customers
waiting for their names, then a person opens a thread whose customer and products nobody has
looked up yet. How long from the click until each of its names and titles shows?

Measured last in each configuration, so that the look-ups it leaves behind disturb no other
phase. The sandbox has 80 customers, every one of them named or shown by then, so the
backlog's customers are ids the store has no user for: looking one up costs a call of the
minute's budget like any other (the store answers 404 as fast), and waits in the same queue,
and the backlog is BACKLOG_CUSTOMERS in every configuration. Their tickets are added through
the sandbox's control API, each newest, on filters no other phase asks for, and listed
BACKLOG_PAGE_SIZE a page: the first page and two "Load more". The thread is one more ticket,
from a customer of the store that no seeded ticket names, about THREAD_PRODUCTS of its
products. Everything added is gone again with the sandbox's reset.
"""

import re
import time
from dataclasses import dataclass

import requests

from dashboard.store import TicketQuery
from dashboard.tickets.querystring import querystring

from .clients import expect_page, read_view
from .plan import TARGET_THREAD_SECONDS, THREAD_LIMIT, THREAD_POLL, VIEW_TIMEOUT
from .report import Check, measure_table
from .scenarios import wait_quiet

BACKLOG_CUSTOMERS = 90
BACKLOG_PAGE_SIZE = 30
THREAD_PRODUCTS = 3
# Customer ids the sandbox has no user for (its own start at 1040 and stay far below).
UNKNOWN_IDS = 900_001
# The backlog's tickets are found by these filters, and the thread is on none of them.
BACKLOG_FILTERS = TicketQuery(status=("new",), priority="low", channel="follow_up")
THREAD_FIELDS = {"priority": "high", "channel": "email"}

WAITING_RE = re.compile(r'data-(requester|product)-id="(\d+)"[^>]*? data-waiting')
SWAPPED_RE = re.compile(
    r'data-hx-swap-oob="[^"]*" class="(?:person|product)"(?: dir="auto")?'
    r' data-(requester|product)-id="(\d+)"'
)
USERS_RE = re.compile(r"/users/\d+/$")


@dataclass
class BacklogResult:
    backlog: int  # customers waiting for their names once the list pages were read
    waiting: int  # the names and titles the thread waited for
    seconds: float | None  # from the click until the last of them showed (None: never)
    lookups: int  # customers looked up meanwhile, from the first list page to the last title

    @property
    def in_time(self):
        return self.seconds is not None and self.seconds <= TARGET_THREAD_SECONDS


def measure(bench, names_plan):
    """The backlog, then the thread; see the module."""
    wait_quiet(bench.sandbox)
    bench.settle()
    try:
        bench.sandbox.configure(page_size=BACKLOG_PAGE_SIZE)
        thread_id = _add_tickets(bench.sandbox, names_plan)
        with bench.crowd(1) as (person,):
            backlog = _read_lists(person)
            seconds, waiting = _open_thread(person, thread_id)
        lookups = sum(1 for r in bench.sandbox.stats()["requests"] if USERS_RE.search(r))
    finally:
        bench.sandbox.reset()
    return BacklogResult(len(backlog), waiting, seconds, lookups)


def _add_tickets(sandbox, names_plan):
    """The backlog's tickets, then the thread's; returns the thread's ticket id."""
    never_named = sorted(set(names_plan.customers) - set(names_plan.requesters))
    if not never_named or len(names_plan.products) < THREAD_PRODUCTS:
        raise RuntimeError("backlog: the sandbox has no unnamed customer or too few products")
    customer = never_named[0]
    waiting = range(UNKNOWN_IDS, UNKNOWN_IDS + BACKLOG_CUSTOMERS)
    backlog_fields = {"status": "new", "priority": "low", "channel": "follow_up"}
    with requests.Session() as session:

        def add(**fields):
            answer = session.post(f"{sandbox.root}/__sandbox__/tickets", json=fields, timeout=5)
            answer.raise_for_status()
            return answer.json()["id"]

        for requester in waiting:
            add(requester=requester, from_email=f"customer{requester}@example.invalid",
                **backlog_fields)  # fmt: skip
        email = f"customer{customer}@example.invalid"
        first = {"author": customer, "from_email": email, "is_public": True,
                 "body": "Which of these three is the replacement?"}  # fmt: skip
        products = list(names_plan.products[:THREAD_PRODUCTS])
        return add(requester=customer, from_email=email, products=products, comments=[first],
                   **THREAD_FIELDS)  # fmt: skip


def _read_lists(person):
    """The backlog's first page and two "Load more", as a person reads them: the customers
    they left waiting for their names."""
    waiting = set()
    response = person.session.get(
        f"{person.base}/?{querystring(BACKLOG_FILTERS)}", allow_redirects=False,
        timeout=VIEW_TIMEOUT,
    )  # fmt: skip
    for _ in range(3):
        person.saw(response.text)
        view = read_view(response, 0.0)
        expect_page(view, "backlog: list page")
        waiting |= {i for kind, i in WAITING_RE.findall(response.text) if kind == "requester"}
        if not view.more:
            break
        response = person.session.get(
            f"{person.base}{view.more}", headers={"HX-Request": "true"}, timeout=VIEW_TIMEOUT
        )
    return waiting


def _open_thread(person, thread_id):
    """Open the thread and ask for its waiting names and titles every THREAD_POLL s, as its
    page does: `(seconds until the last showed, or None, how many it waited for)`."""
    start = time.perf_counter()
    thread = person.session.get(f"{person.base}/tickets/{thread_id}/", timeout=VIEW_TIMEOUT)
    person.saw(thread.text)
    waiting = set(WAITING_RE.findall(thread.text))
    count = len(waiting)
    while waiting and time.perf_counter() - start < THREAD_LIMIT:
        time.sleep(THREAD_POLL)
        answer = person.session.get(
            f"{person.base}/names/",
            params=[(f"thread_{kind}", i) for kind, i in sorted(waiting)] + person.names_params(),
            headers={"HX-Request": "true"},
            timeout=VIEW_TIMEOUT,
        )
        waiting -= set(SWAPPED_RE.findall(answer.text))
    return (None if waiting else time.perf_counter() - start), count


# --- The table and the check -----------------------------------------------------------------


def _seconds(value):
    return "never" if value is None else f"{value:.1f}"


MEASURES = (
    ("customers waiting for their names behind the list pages", lambda b: b.backlog,
     f"~ {BACKLOG_CUSTOMERS}"),
    ("names and titles the thread waits for", lambda b: b.waiting, ""),
    ("every one of them shown, s after the click", lambda b: _seconds(b.seconds),
     f"<= {TARGET_THREAD_SECONDS:g}"),
    ("customers looked up meanwhile (the backlog's and the thread's)", lambda b: b.lookups, ""),
)  # fmt: skip


def table(results):
    return measure_table(
        f"A thread opened behind a backlog: {BACKLOG_PAGE_SIZE} tickets a page, the first page "
        f'and two "Load more", then a thread with {THREAD_PRODUCTS} products',
        [(r.name, r.backlog) for r in results],
        MEASURES,
    )


def checks(results):
    return [
        Check.across(
            f"a thread behind a backlog of {BACKLOG_CUSTOMERS} customers shows its names and "
            f"titles within {TARGET_THREAD_SECONDS:g} s",
            results,
            lambda r: f"{_seconds(r.backlog.seconds)} s ({r.backlog.backlog} waiting)",
            lambda r: r.backlog.in_time and r.backlog.backlog >= BACKLOG_CUSTOMERS * 0.9,
        )
    ]
