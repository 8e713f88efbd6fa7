"""The next page, fetched while the first is read: "Load more" then answers from the cache,
and nothing is fetched while the budget is busy."""

import threading
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from dashboard import budget, store
from dashboard.tickets import prefetch
from tests.html import load_more, page, row_ids

QUERY = "status=closed"  # a list of several pages


@pytest.fixture
def prefetching(settings, monkeypatch):
    """Prefetch on. Returns `settled(pages)`: waits until `pages` pages served have asked for
    the page after them (the view's store thread asks, perhaps after the response is sent),
    and this process's background thread has done all it was asked."""
    settings.STORE_PREFETCH = True
    asked = []
    ask = prefetch.next_page

    def recorded(query, page):
        ask(query, page)
        asked.append(query)

    monkeypatch.setattr(prefetch, "next_page", recorded)

    def settled(pages):
        assert wait_for(lambda: len(asked) >= pages)
        assert budget.worker.drain()

    return settled


def ticket_calls(sandbox):
    return [r for r in sandbox.stats()["requests"] if r.startswith("/api/admin/tickets/")]


def wait_for(check, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def cursor_of(url):
    return dict(parse_qsl(urlsplit(url).query))["cursor"]


def expected_page(sandbox, cursor):
    """The tickets the store itself lists on the page `cursor` names."""
    query = store.TicketQuery(status=("closed",), cursor=cursor)
    return [t.id for t in store.list_tickets(query).tickets]


def test_load_more_answers_from_the_page_fetched_while_reading(signed_in, sandbox, prefetching):
    first = page(signed_in.get(f"/?{QUERY}"))
    prefetching(1)
    assert len(ticket_calls(sandbox)) == 2  # the page, and the next one
    more, _ = load_more(first)
    cursor = cursor_of(more)
    assert cursor in ticket_calls(sandbox)[1]

    second = page(signed_in.get(more, HTTP_HX_REQUEST="true"))
    assert row_ids(second) == expected_page(sandbox, cursor)
    # Answered from the cache: the store's next call is the page after it, fetched one page
    # ahead, and nothing more.
    prefetching(2)
    following, _ = load_more(second)
    calls = ticket_calls(sandbox)
    assert len(calls) == 3 and cursor_of(following) in calls[2]


def test_nothing_is_prefetched_while_people_wait_for_the_budget(signed_in, sandbox, prefetching):
    store.ticket_types(), store.staff()  # known already: the page makes one call
    sandbox.reset_stats()
    token_key = store.identity()
    stop = threading.Event()

    def busy_person():
        # Someone who always wants the next slot keeps a person waiting.
        while not stop.is_set():
            budget.wait_for_slot(token_key)

    people = threading.Thread(target=busy_person)
    people.start()
    try:
        assert signed_in.get(f"/?{QUERY}").status_code == 200
        prefetching(1)  # the prefetch waited its while for a slot, in vain, and gave up
    finally:
        stop.set()
        people.join()
    assert len(ticket_calls(sandbox)) == 1


def test_the_end_of_a_list_prefetches_nothing(signed_in, sandbox, prefetching):
    signed_in.get("/?id=1300")
    prefetching(1)
    assert len(ticket_calls(sandbox)) == 1


def test_the_next_page_goes_before_a_backlog_of_unknown_customers(
    signed_in, sandbox, prefetching, settings
):
    # Every customer is unknown, as on a store's first day: a few lists leave their names to
    # be looked up in the background, and the list now being read must not wait behind them.
    settings.STORE_NAME_LOOKUPS_PER_MINUTE = 600
    settings.STORE_RATE_LIMIT = 0  # the order is the point here, not the pace
    busy = threading.Event()  # the background thread busy while the backlog builds up
    budget.worker.submit(("busy",), busy.wait)
    for backlog in ("status=open", "status=new", "priority=high"):
        assert signed_in.get(f"/?{backlog}").status_code == 200
    sandbox.reset_stats()
    first = page(signed_in.get(f"/?{QUERY}"))
    busy.set()
    prefetching(4)
    asked = [r for r in sandbox.stats()["requests"] if r.startswith("/api/admin/")]
    more, _ = load_more(first)
    prefetched = next(i for i, r in enumerate(asked) if cursor_of(more) in r)
    looked_up = [r for r in asked if r.startswith("/api/admin/users/")]
    assert len(looked_up) >= 20  # the backlog was looked up all the same
    # The next pages of the lists being read, this one's included, before the backlog.
    assert prefetched < asked.index(looked_up[0]), asked[:6]

    calls = len(ticket_calls(sandbox))
    second = page(signed_in.get(more, HTTP_HX_REQUEST="true"))
    assert len(ticket_calls(sandbox)) == calls  # "Load more" answered from the cache
    assert row_ids(second) == expected_page(sandbox, cursor_of(more))
