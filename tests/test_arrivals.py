"""Deliveries reach what people have open: cached pages and threads they make wrong are
dropped, and an open list hears of new tickets, its total and its rows' statuses from the
index, without a call to the store."""

import copy
import json
import re
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import requests
from django.test import Client
from django.utils.dateparse import parse_datetime
from playwright.sync_api import expect

from dashboard.index import changes, freshness, rows
from dashboard.models import IndexSync
from dashboard.views.arrivals import STOP_POLLING
from tests.test_webhooks import SECRET, URL, delivery, sign

STORE_CALLS = re.compile(r"/api/admin/tickets/")


def index_from(sandbox):
    """The index as a whole walk of the sandbox would leave it."""
    rows.write_many(
        [
            (whole, parse_datetime(whole["created_at"]), parse_datetime(whole["updated_at"]))
            for whole in map(sandbox.data.ticket, (t["id"] for t in sandbox.data.filter_tickets()))
        ]
    )
    IndexSync.objects.create(store=freshness.store_name(), finished_at=datetime.now(UTC))
    freshness.forget()


@pytest.fixture
def live_index(settings, db, sandbox):
    settings.NEXT_WEBHOOK_SECRET = SECRET
    index_from(sandbox)
    yield
    freshness.forget()


def deliver(ticket, event_type="ticket.updated", client=None):
    body = json.dumps(delivery(copy.deepcopy(ticket), event_type=event_type)).encode()
    answer = (client or Client()).post(
        URL, body, content_type="application/json", headers={"X-29Next-Signature": sign(body)}
    )
    assert answer.status_code == 200, answer.content
    return answer


def ticket_calls(sandbox):
    return sum(1 for target in sandbox.stats()["requests"] if STORE_CALLS.search(target))


def changed(sandbox, ticket_id, **fields):
    """Change a ticket in the store, as someone in its admin would: a newer `updated_at`."""
    ticket = sandbox.data.ticket(ticket_id)
    later = parse_datetime(ticket["updated_at"]).timestamp() + 60
    ticket.update(fields, updated_at=datetime.fromtimestamp(later, UTC).isoformat())
    return ticket


def test_a_delivery_drops_the_pages_that_held_its_ticket_and_those_it_now_belongs_on(
    live_index, signed_in, sandbox
):
    new = sandbox.data.filter_tickets([("status", "new")])
    solved_before = signed_in.get("/?status=solved")
    closed_before = signed_in.get("/?status=closed")
    signed_in.get("/?status=new")
    assert solved_before.status_code == closed_before.status_code == 200
    sandbox.reset_stats()
    signed_in.get("/?status=solved")
    signed_in.get("/?status=closed")
    signed_in.get("/?status=new")
    assert ticket_calls(sandbox) == 0  # all three are cached

    moved = changed(sandbox, new[0]["id"], status="solved")
    deliver(moved)

    signed_in.get("/?status=closed")
    assert ticket_calls(sandbox) == 0  # it was not closed and is not now: still right
    page = signed_in.get("/?status=solved")  # it belongs here now
    assert f'data-ticket-id="{moved["id"]}"' in page.content.decode()
    assert ticket_calls(sandbox) == 1
    page = signed_in.get("/?status=new")  # it was here, and is gone
    assert f'data-ticket-id="{moved["id"]}"' not in page.content.decode()
    assert ticket_calls(sandbox) == 2


def test_a_delivery_drops_its_ticket_s_cached_thread(live_index, signed_in, sandbox):
    ticket_id = sandbox.data.filter_tickets()[0]["id"]
    signed_in.get(f"/tickets/{ticket_id}/")
    sandbox.reset_stats()
    signed_in.get(f"/tickets/{ticket_id}/")
    assert ticket_calls(sandbox) == 0
    deliver(changed(sandbox, ticket_id, subject="Parcel found, thanks"))
    thread = signed_in.get(f"/tickets/{ticket_id}/")
    assert "Parcel found, thanks" in thread.content.decode()
    assert ticket_calls(sandbox) == 1


def test_the_pages_kept_track_of_end_with_their_cached_answers(live_index, signed_in, settings):
    signed_in.get("/?status=open")
    signed_in.get("/?status=closed")
    assert len(changes._directory(time.time())) == 2
    # Deliveries keep them right: they are cached, and kept track of, for the long life.
    assert len(changes._directory(time.time() + settings.STORE_CACHE_TTL + 6)) == 2
    later = time.time() + settings.STORE_CACHE_TTL_LIVE + 6
    assert changes._directory(later) == {}


def poller_url(page_html):
    found = re.search(r'id="arrivals-poll" hidden data-hx-get="([^"]+)"', page_html)
    assert found, "the list has no arrivals poller"
    return found.group(1).replace("&amp;", "&")


def test_an_open_list_hears_of_a_new_ticket_its_total_and_a_changed_status(
    live_index, signed_in, sandbox
):
    page = signed_in.get("/?status=new&status=open").content.decode()
    total = len(sandbox.data.filter_tickets([("status", "new"), ("status", "open")]))
    on_screen = [int(i) for i in re.findall(r'<tr data-ticket-id="(\d+)"', page)]
    shown = ",".join(f"{i}:{sandbox.data.ticket(i)['status']}" for i in on_screen)
    poll = poller_url(page)
    sandbox.reset_stats()

    def ask(url, **extra):
        return signed_in.get(f"{url}&{urlencode(extra)}")

    quiet = ask(poll, shown=shown, total=total, seen=0)
    assert quiet.status_code == 200  # its first ask: nothing new, the version to ask with next
    assert "data-arrivals" not in quiet.content.decode()
    poll = poller_url(quiet.content.decode())
    assert ask(poll, shown=shown, total=total).status_code == 204

    arrived = sandbox.data.add_ticket(subject="My order never came", status="open")
    deliver(arrived, event_type="ticket.created")
    elsewhere = sandbox.data.add_ticket(subject="Invoice copy", status="closed")
    deliver(elsewhere, event_type="ticket.created")
    answer = ask(poll, shown=shown, total=total, seen=0).content.decode()
    assert 'data-arrivals="1"' in answer
    assert "1 new ticket · " in answer
    assert re.search(
        f'id="list-total"[^>]* data-hx-swap-oob="true" data-total="{total + 1}"', answer
    )
    assert ".badge.status" not in answer  # no row on screen changed

    deliver(changed(sandbox, on_screen[0], status="solved"))
    poll = poller_url(answer)
    answer = ask(poll, shown=shown, total=total + 1, seen=1).content.decode()
    assert 'id="arrivals"' not in answer  # still the one new ticket: the notice stays as it is
    assert f'data-total="{total}"' in answer  # it has left these filters
    assert f"tr[data-ticket-id='{on_screen[0]}'] .badge.status" in answer
    assert "status-solved" in answer
    assert ticket_calls(sandbox) == 0  # all of it from the index


def test_without_webhooks_a_list_has_no_poller_and_a_poll_stops(settings, db, signed_in, sandbox):
    index_from(sandbox)  # filled by a walk, but nothing keeps it live
    settings.NEXT_WEBHOOK_SECRET = ""
    freshness.forget()
    page = signed_in.get("/?status=open").content.decode()
    assert "arrivals-poll" not in page
    answer = signed_in.get("/arrivals/", {"status": "open", "newest": "2026-12-01T09:00:00Z~1"})
    assert answer.status_code == STOP_POLLING
    freshness.forget()


def test_a_search_is_the_store_s_to_match_and_has_no_poller(live_index, signed_in):
    page = signed_in.get("/?filter_text=parcel").content.decode()
    assert "arrivals-poll" not in page


@pytest.mark.parametrize(
    "params",
    [
        {"status": "open"},  # no newest ticket
        {"status": "open", "newest": "yesterday~1"},
        {"status": "open", "newest": "2026-12-01T09:00:00~1"},  # no time zone
        {"status": "bogus", "newest": "2026-12-01T09:00:00Z~1"},
        {"status": "open", "newest": "2026-12-01T09:00:00Z~²"},  # a digit to isdigit() only
        {"status": "open", "newest": "2026-12-01T09:00:00Z~" + "9" * 4301},
        {"status": "open", "newest": "2026-12-01T09:00:00Z~2147483648"},
    ],
)
def test_a_poll_with_bad_input_is_refused_plainly(live_index, signed_in, sandbox, params):
    sandbox.reset_stats()
    answer = signed_in.get("/arrivals/", params)
    assert answer.status_code == 400
    assert sandbox.stats()["calls"] == 0


def test_a_poll_needs_a_signed_in_person(live_index, client):
    answer = client.get("/arrivals/", {"status": "open", "newest": "2026-12-01T09:00:00Z~1"})
    assert answer.status_code == 302


def test_the_version_moves_with_each_applied_delivery(live_index):
    before = changes.version()
    deliver(delivery()["data"], event_type="ticket.created")
    assert changes.version() != before


@pytest.mark.browser
def test_a_list_open_in_a_browser_shows_an_arrival_within_3_seconds(
    live_index, page, live_server, lead, sandbox
):
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/accounts/login/?next=/%3Fstatus%3Dnew%26status%3Dopen")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/?status=new&status=open")
    expect(page.locator("#list-total")).to_have_attribute("data-total", re.compile(r"^\d+$"))
    total = int(page.locator("#list-total").get_attribute("data-total"))
    first = page.locator("#ticket-rows > tr[data-ticket-id]").first
    first_id = int(first.get_attribute("data-ticket-id"))
    # Let the poller take its first look, so that what follows is news to it.
    page.wait_for_function(
        "() => document.querySelector('#arrivals-poll[data-hx-get*=\"since=\"]')"
    )

    def post(ticket, event_type):
        body = json.dumps(delivery(ticket, event_type=event_type)).encode()
        headers = {"X-29Next-Signature": sign(body), "Content-Type": "application/json"}
        answer = requests.post(f"{live_server.url}{URL}", data=body, headers=headers, timeout=5)
        assert answer.status_code == 200

    arrived = sandbox.data.add_ticket(subject="Parcel arrived damaged", status="new")
    post(arrived, "ticket.created")
    notice = page.locator("#arrivals [data-arrivals]")
    expect(notice).to_have_attribute("data-arrivals", "1", timeout=3_000)
    expect(notice).to_contain_text("1 new ticket · Show")
    expect(page.locator("#list-total")).to_have_attribute("data-total", str(total + 1))

    post(changed(sandbox, first_id, status="solved"), "ticket.updated")
    expect(first.locator(".badge.status")).to_have_text("Solved", timeout=3_000)
    expect(page.locator("#list-total")).to_have_attribute("data-total", str(total))

    notice.get_by_role("link", name="Show").click()
    expect(page.locator(f'#ticket-rows > tr[data-ticket-id="{arrived["id"]}"]')).to_be_visible()


def board_poll(page_html):
    found = re.search(r'<section id="board"[^>]*?data-hx-get="([^"]+)"', page_html, re.S)
    assert found, "the board names no poll"
    return found.group(1).replace("&amp;", "&")


def test_a_wall_watching_the_index_answers_nothing_until_it_changes(live_index, client, sandbox):
    from tests.test_browser_wall import display_link

    path = display_link(filters="status=new&status=open", refresh=30, sort="newest")
    page = client.get(path).content.decode()
    assert 'data-hx-trigger="every 2s, refresh"' in page
    poll = board_poll(page)
    sandbox.reset_stats()
    assert client.get(poll, headers={"HX-Request": "true"}).status_code == 204
    assert sandbox.stats()["calls"] == 0

    arrived = sandbox.data.add_ticket(subject="Box arrived empty", status="new")
    deliver(arrived, event_type="ticket.created")
    board = client.get(poll, headers={"HX-Request": "true"})
    assert board.status_code == 200
    row = re.search(rf'<tr data-ticket-id="{arrived["id"]}"[^>]*>', board.content.decode())
    assert row and "data-new" in row.group(0)  # new to this screen, within one watch


def test_without_webhooks_a_wall_refreshes_on_its_own_schedule(settings, db, client, sandbox):
    from tests.test_browser_wall import display_link

    index_from(sandbox)
    settings.NEXT_WEBHOOK_SECRET = ""
    freshness.forget()
    page = client.get(display_link(refresh=30)).content.decode()
    assert 'data-hx-trigger="every 30s, refresh"' in page
    assert "&v=" not in board_poll(page)
    freshness.forget()


@pytest.mark.browser
def test_a_wall_screen_marks_an_arrival_new_within_3_seconds(
    live_index, page, live_server, sandbox
):
    from tests.test_browser_wall import display_link

    page.set_default_timeout(10_000)
    page.goto(
        live_server.url + display_link(filters="status=new&status=open", refresh=30, sort="newest")
    )
    expect(page.locator("#board")).to_have_attribute("data-hx-get", re.compile("&v="))
    arrived = sandbox.data.add_ticket(subject="Wrong size sent", status="new")
    body = json.dumps(delivery(arrived, event_type="ticket.created")).encode()
    headers = {"X-29Next-Signature": sign(body), "Content-Type": "application/json"}
    assert requests.post(f"{live_server.url}{URL}", data=body, headers=headers, timeout=5).ok
    row = page.locator(f'#board tr[data-ticket-id="{arrived["id"]}"]')
    expect(row).to_have_attribute("data-new", "", timeout=3_000)
    expect(row.locator(".new-mark")).to_have_text("New")


def test_a_poll_with_forged_rows_or_totals_is_no_error(live_index, signed_in):
    forged = {"status": "open", "newest": "2026-12-01T09:00:00Z~1", "seen": "²", "total": "²"}
    for shown in ("²:open", "9" * 4301 + ":open", "2147483648:open,1:new"):
        answer = signed_in.get("/arrivals/", {**forged, "shown": shown})
        assert answer.status_code == 200
