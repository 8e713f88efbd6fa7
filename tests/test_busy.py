"""Within the budget, nobody waits long: with webhooks live, pages and threads are kept until a
delivery says their ticket changed; while the line for the budget is long, a person is answered
at once with what is known, marked with its age, or (nothing known) told it was asked and
appears by itself, and the page takes the fresh answer once it is in; at most STORE_WAITERS
people per process wait for the store, and the others are not kept waiting; a 503 only when
nothing about the question is known and it cannot even be asked in the background."""

import contextlib
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from dashboard import budget, store
from dashboard.budget import limiter
from dashboard.index import freshness
from tests.html import ROWS
from tests.html import page as parse
from tests.redis_server import redis_url  # noqa: F401
from tests.test_arrivals import changed, deliver, index_from, live_index, ticket_calls  # noqa: F401
from tests.test_browser import signed_in_page  # noqa: F401
from tests.test_pacing import make_backend, unique, where  # noqa: F401
from tests.test_triage import post, shown_form, ticket, triager, triaging  # noqa: F401
from tests.test_webhooks import SECRET

SEVERAL_PAGES = "status=new&status=open"
AS_OF = re.compile(r'data-as-of="([^"]+)"')
POLL = re.compile(r'class="as-of"[^>]*data-hx-get="([^"]+)"')


def later(monkeypatch, seconds):
    """The clock `seconds` ahead, for the shared cache's lifetimes (and the budget's window)."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


def spend_the_budget(settings):
    """One call a minute, and that call made: a person asking now would wait a minute."""
    settings.STORE_RATE_LIMIT, settings.STORE_RATE_WINDOW = 1, 60.0
    with contextlib.suppress(budget.WaitTimeout), budget.waiting_at_most(0):
        budget.wait_for_slot(store.identity())  # unless a call of this minute was made
    assert budget.expected_wait(store.identity()) > 30


def free_the_budget(settings):
    settings.STORE_RATE_LIMIT, settings.STORE_RATE_WINDOW = 4, 1.0


def as_of(html):
    found = AS_OF.search(html)
    return datetime.fromisoformat(found.group(1)) if found else None


def poll_of(html):
    found = POLL.search(html)
    assert found, "the page does not ask for its fresh answer"
    return found.group(1).replace("&amp;", "&")


def until_fresh(client, poll, tries=20):
    """Ask as the page does until the fresh answer comes (204 meanwhile); waits for the
    background refresh in between, never for a fixed time."""
    for _ in range(tries):
        answer = client.get(poll, HTTP_HX_REQUEST="true")
        if answer.status_code != 204:
            return answer
        assert budget.worker.drain(timeout=15)
    raise AssertionError("the fresh answer never came")


def timed_get(client, url, **extra):
    began = time.monotonic()
    answer = client.get(url, **extra)
    return answer, time.monotonic() - began


# --- Long lives while deliveries keep the index live ---------------------------------------


def test_with_webhooks_live_a_thread_outlives_the_short_life_until_its_ticket_changes(
    live_index,  # noqa: F811
    signed_in,
    sandbox,
    settings,
    monkeypatch,
):
    ticket_id = sandbox.data.filter_tickets()[0]["id"]
    assert signed_in.get(f"/tickets/{ticket_id}/").status_code == 200
    sandbox.reset_stats()

    later(monkeypatch, settings.STORE_CACHE_TTL + 5)
    thread = signed_in.get(f"/tickets/{ticket_id}/").content.decode()
    assert ticket_calls(sandbox) == 0  # still the cached answer, and not shown as old
    assert as_of(thread) is None

    deliver(changed(sandbox, ticket_id, subject="Parcel found, thanks"))
    thread = signed_in.get(f"/tickets/{ticket_id}/").content.decode()
    assert "Parcel found, thanks" in thread
    assert ticket_calls(sandbox) == 1  # asked again right after the delivery


def test_without_webhooks_a_thread_lives_the_short_life(signed_in, sandbox, settings, monkeypatch):
    ticket_id = sandbox.data.filter_tickets()[0]["id"]
    signed_in.get(f"/tickets/{ticket_id}/")
    sandbox.reset_stats()
    later(monkeypatch, settings.STORE_CACHE_TTL + 5)
    signed_in.get(f"/tickets/{ticket_id}/")
    assert ticket_calls(sandbox) == 1


def test_with_webhooks_live_a_list_lives_long_and_a_triage_write_drops_it(
    live_index,  # noqa: F811
    triaging,  # noqa: F811
    store_on_sandbox,
    ticket,  # noqa: F811
    settings,
    monkeypatch,
):
    sandbox = store_on_sandbox
    freshness.current()  # as every list page reads it: the index is live
    listed = triaging.get("/?status=new").content.decode()
    assert f'data-ticket-id="{ticket["id"]}"' in listed
    sandbox.reset_stats()
    later(monkeypatch, settings.STORE_CACHE_TTL + 5)
    assert triaging.get("/?status=new").status_code == 200
    assert ticket_calls(sandbox) == 0

    values = shown_form(triaging, ticket["id"])
    post(triaging, ticket["id"], {**values, "status": ["open"]})
    listed = triaging.get("/?status=new").content.decode()
    assert f'data-ticket-id="{ticket["id"]}"' not in listed  # asked again, right after


# --- A long line: what is known, at once --------------------------------------------------


def test_a_list_asked_in_a_long_line_answers_at_once_as_known_then_takes_the_fresh_one(
    signed_in, sandbox, settings, monkeypatch
):
    store.ticket_types(), store.staff()  # known already: only the list is asked below
    fresh = signed_in.get(f"/?{SEVERAL_PAGES}").content.decode()
    rows = re.findall(r'<tr data-ticket-id="(\d+)"', fresh)
    later(monkeypatch, settings.STORE_CACHE_TTL + 5)  # its cached answer has ended
    spend_the_budget(settings)
    sandbox.reset_stats()

    answer, seconds = timed_get(signed_in, f"/?{SEVERAL_PAGES}")
    html = answer.content.decode()
    assert answer.status_code == 200 and seconds < settings.STORE_ANSWER_STALE_AFTER
    assert re.findall(r'<tr data-ticket-id="(\d+)"', html) == rows  # its last answer
    shown = parse(html).select_one("#as-of[data-as-of]")
    assert "updating" in shown.get_text() and shown.select_one("time[datetime]")
    assert datetime.now(UTC) - as_of(html) < timedelta(minutes=1)
    assert ticket_calls(sandbox) == 0

    free_the_budget(settings)
    fresh_again = until_fresh(signed_in, poll_of(html))
    assert fresh_again.status_code == 200
    swapped = fresh_again.content.decode()
    assert swapped.lstrip().startswith('<main id="results"')
    assert as_of(swapped) is None
    more = parse(swapped).select_one("a.load-more")
    assert more["href"].startswith(f"/?{SEVERAL_PAGES}&cursor=")  # the list's, not the poll's
    assert ticket_calls(sandbox) == 1
    # And the list itself is the fresh one now, from the cache.
    assert as_of(signed_in.get(f"/?{SEVERAL_PAGES}").content.decode()) is None


def test_a_refresh_waiting_its_turn_holds_up_nobody_asking_the_same(
    signed_in, sandbox, settings, monkeypatch
):
    """The refresh of a page shown as known waits for its slot before it takes the answer's
    lock: whoever asks the same meanwhile, behind the same long line, is answered at once."""
    store.ticket_types(), store.staff()
    signed_in.get(f"/?{SEVERAL_PAGES}")
    later(monkeypatch, settings.STORE_CACHE_TTL + 5)  # its cached answer has ended
    # A line of one window, longer than a person waits and shorter than a refresh does.
    settings.STORE_RATE_LIMIT, settings.STORE_RATE_WINDOW = 1, 6.0
    assert settings.STORE_ANSWER_STALE_AFTER < 6.0 < store.client.REFRESH_WAIT
    with contextlib.suppress(budget.WaitTimeout), budget.waiting_at_most(0):
        budget.wait_for_slot(store.identity())
    line = budget.expected_wait(store.identity())
    assert line > settings.STORE_ANSWER_STALE_AFTER

    first, seconds = timed_get(signed_in, f"/?{SEVERAL_PAGES}")
    assert first.status_code == 200 and seconds < settings.STORE_ANSWER_STALE_AFTER
    poll = poll_of(first.content.decode())
    # The refresh it queued is in line now, waiting for its slot.
    deadline = time.monotonic() + 5
    while budget.expected_wait(store.identity()) < line + 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert budget.expected_wait(store.identity()) >= line + 3

    # Not after the longest wait a person is allowed (for the lock, had the refresh held it).
    second, seconds = timed_get(signed_in, f"/?{SEVERAL_PAGES}")
    assert second.status_code == 200 and seconds < settings.STORE_ANSWER_STALE_AFTER / 3
    assert "updating" in parse(second.content.decode()).select_one("#as-of").get_text()

    free_the_budget(settings)
    assert until_fresh(signed_in, poll).status_code == 200


def test_a_thread_asked_in_a_long_line_answers_at_once_as_known(
    signed_in, sandbox, settings, monkeypatch
):
    ticket_id = sandbox.data.filter_tickets()[0]["id"]
    signed_in.get(f"/tickets/{ticket_id}/")
    later(monkeypatch, settings.STORE_CACHE_TTL + 5)
    spend_the_budget(settings)

    answer, seconds = timed_get(signed_in, f"/tickets/{ticket_id}/", HTTP_HX_REQUEST="true")
    html = answer.content.decode()
    assert answer.status_code == 200 and seconds < settings.STORE_ANSWER_STALE_AFTER
    assert 'id="thread-as-of"' in html and "updating" in html
    assert "panel=1" in poll_of(html)  # it asks for the thread as the panel shows it
    whole = signed_in.get(f"/tickets/{ticket_id}/").content.decode()
    assert "panel=1" not in poll_of(whole) and "updating" in whole

    free_the_budget(settings)
    fresh = until_fresh(signed_in, poll_of(html)).content.decode()
    assert fresh.lstrip().startswith('<article class="thread"') and as_of(fresh) is None


def test_a_poll_gives_up_after_its_minute_and_says_so(signed_in, sandbox, settings, monkeypatch):
    signed_in.get("/?status=open")
    later(monkeypatch, settings.STORE_CACHE_TTL + 5)
    spend_the_budget(settings)
    poll = poll_of(signed_in.get("/?status=open").content.decode())
    later(monkeypatch, settings.STORE_CACHE_TTL + 70)
    answer = signed_in.get(poll, HTTP_HX_REQUEST="true")
    assert answer.status_code == 286  # htmx stops polling
    assert answer["HX-Retarget"] == "this" and answer["HX-Reswap"] == "outerHTML"
    note = parse(answer.content.decode()).select_one("#as-of[data-as-of]")
    assert "updating" not in note.get_text() and not note.has_attr("data-hx-get")


def test_a_poll_with_forged_stamps_is_refused_plainly(signed_in, client):
    assert signed_in.get("/fresh/?status=open&as_of=x&until=1").status_code == 400
    assert signed_in.get("/tickets/7/fresh/?as_of=1").status_code == 400
    signed_in.logout()
    for poll in ("/fresh/?status=open&until=1", "/tickets/7/fresh/?until=1"):
        assert client.get(poll).status_code == 302  # to the sign-in page, asking nothing


@pytest.fixture
def committed_live_index(settings, transactional_db, sandbox):
    """A live index the store's threads can read too (committed, not inside a test's
    transaction)."""
    settings.NEXT_WEBHOOK_SECRET = SECRET
    index_from(sandbox)
    yield
    freshness.forget()


def test_nothing_known_but_the_index_a_first_page_and_a_thread_come_from_it(
    committed_live_index, signed_in, sandbox, settings
):
    store.ticket_types(), store.staff()
    signed_in.get("/?priority=low")  # the index's state read by this process
    spend_the_budget(settings)
    expected = [t["id"] for t in sandbox.data.filter_tickets([("status", "pending")])]

    answer, seconds = timed_get(signed_in, "/?status=pending")
    html = answer.content.decode()
    assert answer.status_code == 200 and seconds < settings.STORE_ANSWER_STALE_AFTER
    listed = [int(i) for i in re.findall(r'<tr data-ticket-id="(\d+)"', html)]
    assert listed == expected[: len(listed)] and listed
    assert "updating" in parse(html).select_one("#as-of").get_text()
    if len(expected) > len(listed):
        assert "data-more-later" in html and "Load more" not in html

    indexed = sandbox.data.ticket(expected[0])
    thread = signed_in.get(f"/tickets/{indexed['id']}/").content.decode()
    assert indexed["subject"] in thread and "updating" in thread
    assert "Its words come with the store" in thread or not indexed["comments"]


# --- Nothing known: asked in the background, or a clear 503 ------------------------------


def test_nothing_known_in_a_long_line_is_asked_in_the_background_and_fills_in(
    signed_in, sandbox, settings
):
    store.ticket_types(), store.staff()
    spend_the_budget(settings)
    answer, seconds = timed_get(signed_in, "/?status=pending")
    assert answer.status_code == 202 and seconds < settings.STORE_ANSWER_STALE_AFTER
    html = answer.content.decode()
    asking = parse(html).select_one("[data-error=asking]")
    assert "by itself" in asking.get_text() and asking["data-hx-target"] == "#results"
    assert "data-ticket-id" not in html

    free_the_budget(settings)
    filled = until_fresh(signed_in, asking["data-hx-get"])
    expected = [t["id"] for t in sandbox.data.filter_tickets([("status", "pending")])]
    listed = [int(i) for i in re.findall(ROWS_IDS, filled.content.decode())]
    assert filled.status_code == 200 and listed == expected[: len(listed)] and listed


def test_load_more_asked_in_a_long_line_fills_its_rows_in(signed_in, sandbox, settings):
    store.ticket_types(), store.staff()
    first = parse(signed_in.get(f"/?{SEVERAL_PAGES}").content.decode())
    more = first.select_one("a.load-more")["href"]
    spend_the_budget(settings)
    answer = signed_in.get(more, HTTP_HX_REQUEST="true")
    assert answer.status_code == 202
    asking = parse(answer.content.decode()).select_one("tr [data-error=asking]")
    assert asking["data-hx-target"] == "closest tr" and "cursor=" in asking["data-hx-get"]

    free_the_budget(settings)
    rows = until_fresh(signed_in, asking["data-hx-get"]).content.decode()
    assert re.findall(ROWS_IDS, rows) and 'id="results"' not in rows  # the rows alone
    following = parse(rows).select_one("a.load-more")
    assert following is None or following["href"].startswith("/?")


def test_nothing_known_and_nothing_can_be_queued_is_a_clear_503(
    signed_in, sandbox, settings, monkeypatch
):
    store.ticket_types(), store.staff()
    spend_the_budget(settings)
    monkeypatch.setattr(budget.worker, "submit", lambda *args, **kwargs: False)  # a full queue
    answer, seconds = timed_get(signed_in, "/?status=pending")
    assert answer.status_code == 503 and seconds < settings.STORE_ANSWER_STALE_AFTER
    assert answer["Retry-After"]
    error = parse(answer.content.decode()).select_one("[data-error]")
    assert error["data-error"] == "busy" and "try again" in error.get_text()


def test_a_poll_for_what_was_still_being_asked_gives_up_saying_the_store_is_busy(
    signed_in, sandbox, settings, monkeypatch
):
    store.ticket_types(), store.staff()
    spend_the_budget(settings)
    asking = parse(signed_in.get("/?status=pending").content.decode()).select_one(
        "[data-error=asking]"
    )
    later(monkeypatch, 70)
    answer = signed_in.get(asking["data-hx-get"], HTTP_HX_REQUEST="true")
    assert answer.status_code == 286 and answer["HX-Retarget"] == "this"
    assert parse(answer.content.decode()).select_one("[data-error=busy]")


# --- The waiting room ----------------------------------------------------------------------


def test_the_waiting_room_has_room_for_so_many(settings):
    settings.STORE_WAITERS = 2
    with (
        budget.waiting_room() as first,
        budget.waiting_room() as second,
        budget.waiting_room() as third,
    ):
        assert (first, second, third) == (True, True, False)
        assert budget.people_waiting() == 2
    with budget.waiting_room() as again:
        assert again
    settings.STORE_WAITERS = 0
    with budget.waiting_room() as a, budget.waiting_room() as b, budget.waiting_room() as c:
        assert a and b and c


def test_a_person_the_store_answers_in_time_reads_the_shared_state_no_more_than_needed(
    monkeypatch,
):
    """Each read before the request goes is a round trip a first view waits for: the cache is
    looked in once before the answer's lock and once under it, and what is known from before
    is read only when it is to be shown."""
    from dashboard.budget import state

    reads = []
    look, get = state.cache_get_many, state.cache_get
    monkeypatch.setattr(
        state, "cache_get_many", lambda keys: reads.append(list(keys)) or look(keys)
    )
    monkeypatch.setattr(
        state, "cache_get", lambda key, default=None: reads.append([key]) or get(key, default)
    )
    answered = store.client.answer(
        "tickets/", [("search", unique("q"))], lambda: "fresh", tickets=True, stale_ok=True,
        fallback=lambda: None,
    )  # fmt: skip
    assert answered.value == "fresh"
    assert sum(1 for keys in reads if keys[0].startswith("flight:")) == 2
    assert not [keys for keys in reads if keys[0].startswith("known:")]


def test_waiters_beyond_the_bound_do_not_wait(signed_in, sandbox, settings):
    store.ticket_types(), store.staff()
    known = signed_in.get("/?status=closed").content.decode()
    store.forget_page(store.TicketQuery(status=("closed",)).params())  # its answer ended
    settings.STORE_WAITERS = 1
    sandbox.configure(latency_ms=1500)  # the store answers slowly: a person waits for it
    first = {}

    def someone_else():  # a person of this process, asking a page nobody asked before
        first["page"] = store.page_or_known(store.TicketQuery(priority="high"))

    person = threading.Thread(target=someone_else, daemon=True)
    person.start()
    deadline = time.monotonic() + 10
    while budget.people_waiting() < 1:  # until they are in the waiting room
        assert time.monotonic() < deadline, "the first person never waited"
        time.sleep(0.01)

    unknown, seconds = timed_get(signed_in, "/?status=pending")
    assert unknown.status_code == 202 and seconds < 1.0  # nothing known: asked, not waited
    shown, seconds = timed_get(signed_in, "/?status=closed")
    html = shown.content.decode()
    assert shown.status_code == 200 and seconds < 1.0  # known: answered at once
    assert as_of(html) is not None
    assert re.findall(ROWS_IDS, html) == re.findall(ROWS_IDS, known)

    person.join(timeout=20)
    page = first["page"]  # the one in the room waited, and had the store's answer
    assert page.as_of is None and page.value.tickets


ROWS_IDS = r'<tr data-ticket-id="(\d+)"'


# --- The line's length --------------------------------------------------------------------


def test_the_line_s_length_from_the_window_and_the_people_in_it():
    span = 1.1
    assert limiter.queue_wait([], 100.0, span, 4, 0) == 0
    assert limiter.queue_wait([99.5, 99.6], 100.0, span, 4, 1) == 0  # a slot is free
    # A full window: the oldest call's slot frees first.
    assert limiter.queue_wait([99.0, 99.2, 99.4, 99.6], 100.0, span, 4, 0) == pytest.approx(0.1)
    # Three people ahead: the fourth call's slot.
    assert limiter.queue_wait([99.0, 99.2, 99.4, 99.6], 100.0, span, 4, 3) == pytest.approx(0.7)
    # Five ahead: a whole window more.
    assert limiter.queue_wait([99.0, 99.2, 99.4, 99.6], 100.0, span, 4, 5) == pytest.approx(1.4)


def test_the_line_is_read_alike_on_files_and_redis(where):  # noqa: F811
    kind, location = where
    backend = make_backend(kind, location)
    key, rate, window, margin = unique("line"), 2, 1.0, 0.1
    assert backend.expected_wait(key, rate, window, margin) == 0
    for _ in range(rate):
        backend.acquire_slot(key, rate, window, margin, 5.0)
    alone = backend.expected_wait(key, rate, window, margin)
    assert 0.8 < alone <= window + margin
    # Three people marked as waiting (each look that must wait marks its caller).
    for n in range(3):
        slot = limiter.Slot(key, limiter.INTERACTIVE, rate, 1, window + margin, window, f"p{n}")
        assert backend._try_slot(slot) > 0
    # The first two take the slots as they free, the third the first of those again, and
    # whoever asks now the second: a window after the line's first slot frees.
    behind = backend.expected_wait(key, rate, window, margin)
    assert behind == pytest.approx(alone + window + margin, abs=0.2)


def test_a_person_who_waits_only_so_long_is_refused_a_longer_line_in_one_look(where):  # noqa: F811
    """The line is read where the slot is asked for, not in a look of its own: a person with
    a bound is refused at once behind a longer line, nothing recorded, and takes a slot as
    always when the line is shorter."""
    kind, location = where
    backend = make_backend(kind, location)
    key, rate, window, margin = unique("bound"), 2, 1.0, 0.1
    assert backend.take_slot(key, rate, window, margin, 5.0, line_at_most=0.0)[1]
    backend.acquire_slot(key, rate, window, margin, 5.0)
    for n in range(3):  # three people waiting, each marked by their look
        slot = limiter.Slot(key, limiter.INTERACTIVE, rate, 1, window + margin, window, f"p{n}")
        assert backend._try_slot(slot) > 0
    line = backend.expected_wait(key, rate, window, margin)
    assert line > window
    looks = []
    try_slot = backend._try_slot
    backend._try_slot = lambda slot: looks.append(slot) or try_slot(slot)
    started = time.monotonic()
    with pytest.raises(limiter.WaitTimeout):
        backend.take_slot(key, rate, window, margin, 5.0, line_at_most=line / 2)
    assert time.monotonic() - started < window / 2
    assert len(looks) == 1
    # Not marked as waiting: the line is as long as before for whoever asks next.
    assert backend.expected_wait(key, rate, window, margin) == pytest.approx(line, abs=0.2)
    # The line the look reads is the one `expected_wait` reads (the Redis script's reckoning
    # is its own); a person who would wait that long joins it, marked as waiting.
    span = window + margin
    bounded = limiter.Slot(key, limiter.INTERACTIVE, rate, 1, span, window, "b", line / 2)
    assert backend._try_slot(bounded) == pytest.approx(line, abs=0.05)
    joins = limiter.Slot(key, limiter.INTERACTIVE, rate, 1, span, window, "j", line + 0.5)
    assert 0 < backend._try_slot(joins) < line
    assert backend.expected_wait(key, rate, window, margin) > line + window / 2


# --- In a browser --------------------------------------------------------------------------


@pytest.mark.browser
def test_a_list_shown_as_known_takes_the_fresh_answer_by_itself(
    signed_in_page,  # noqa: F811
    live_server,
    sandbox,
    settings,
):
    page = signed_in_page  # it has shown ?status=open: its answer is known
    store.forget_page(store.TicketQuery(status=("open",)).params())  # and its cached one ended
    spend_the_budget(settings)
    page.goto(f"{live_server.url}/?status=open")
    note = page.locator("#as-of[data-as-of]")
    expect(note).to_contain_text("updating")
    expect(note.locator("time[datetime]")).to_have_count(1)
    expect(page.locator(ROWS)).not_to_have_count(0)

    free_the_budget(settings)
    expect(note).to_have_count(0, timeout=15_000)  # the fresh results, swapped in by the poll
    expect(page.locator(ROWS)).not_to_have_count(0)
    expect(page.locator("#results [data-hx-get*='/fresh/']")).to_have_count(0)


def test_pages_shown_as_known_or_still_asked_are_valid_html(signed_in, sandbox, settings):
    from tests.test_html_validity import check

    store.ticket_types(), store.staff()
    ticket_id = sandbox.data.filter_tickets()[0]["id"]
    signed_in.get(f"/?{SEVERAL_PAGES}")
    signed_in.get(f"/tickets/{ticket_id}/")
    store.forget_page(store.TicketQuery(status=("new", "open")).params())
    store.forget_ticket(ticket_id)
    spend_the_budget(settings)
    pages = {
        "list-as-known": signed_in.get(f"/?{SEVERAL_PAGES}&ticket={ticket_id}"),
        "thread-as-known": signed_in.get(f"/tickets/{ticket_id}/"),
        "list-still-asked": signed_in.get("/?status=pending"),
    }
    assert [page.status_code for page in pages.values()] == [200, 200, 202]
    shown = {name: page.content.decode() for name, page in pages.items()}
    assert all("data-as-of" in html for html in list(shown.values())[:2])
    assert 'data-error="asking"' in shown["list-still-asked"]
    assert check(shown) == {name: [] for name in shown}
