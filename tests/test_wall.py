"""The wall board and display links, through Django's test client against the sandbox."""

import contextlib
from collections import Counter
from io import StringIO
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from dashboard.models import DisplayLink
from dashboard.tickets import counts as counting
from dashboard.wall import board as wall_board
from dashboard.wall.filters import canonical_filters, parse_wall_filters
from tests import html
from tests.html import page, text

HTMX = {"HTTP_HX_REQUEST": "true"}


def row_ids(response):
    return html.row_ids(page(response))


def board(response):
    """The board a screen shows: the element its refreshes replace."""
    found = page(response).select_one("#board")
    assert found is not None, "no board"
    return found


def expected_ids(sandbox, query_string):
    return [t["id"] for t in sandbox.data.filter_tickets(parse_qsl(query_string))]


def make_link(name="Support room", filters="status=new&status=open", **fields):
    link = DisplayLink(name=name, filters=canonical_filters(filters), **fields)
    secret = link.issue_secret()
    link.full_clean()
    link.save()
    return link, link.path_for(secret)


@pytest.fixture
def display(db):
    return make_link()


def test_a_display_link_shows_its_board_without_signing_in(client, sandbox, display):
    link, path = display
    response = client.get(path)
    assert response.status_code == 200
    assert row_ids(response) == expected_ids(sandbox, "status=new&status=open")[: wall_board.ROWS]
    assert "sessionid" not in response.cookies
    assert response["Cache-Control"] == "no-store"
    assert board(response)["data-hx-trigger"] == "every 30s, refresh"
    assert "Support room" in text(board(response))


def test_the_secret_is_stored_only_as_a_hash(display):
    link, path = display
    secret = path.rstrip("/").rsplit("/", 1)[1]
    assert len(secret) >= 32  # 192 random bits, URL-safe
    assert secret not in link.secret_hash
    assert not DisplayLink.objects.filter(secret_hash=secret).exists()


def test_a_display_link_reaches_nothing_but_its_wall(client, sandbox, display):
    link, path = display
    assert client.get(path).status_code == 200

    # Its own filters, whatever the URL says.
    other = client.get(path + "?status=closed&priority=low")
    assert row_ids(other) == expected_ids(sandbox, "status=new&status=open")[: wall_board.ROWS]

    # And nothing else: every other page still wants a signed-in person.
    for url in ["/", "/?status=closed", "/tickets/1641/", "/wall/?status=closed", "/wall/links/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert urlsplit(response["Location"]).path == "/accounts/login/"
    assert client.post("/wall/links/1/revoke/").status_code == 302


def test_an_unknown_secret_is_404(client, db):
    response = client.get("/display/not-a-real-secret-at-all/")
    assert response.status_code == 404
    assert response["Cache-Control"] == "no-store"


def test_a_revoked_link_stops_at_once(client, display):
    link, path = display
    assert client.get(path).status_code == 200
    link.revoke()
    full = client.get(path)
    poll = client.get(path, **HTMX)
    assert full.status_code == poll.status_code == 410
    assert full["Cache-Control"] == poll["Cache-Control"] == "no-store"
    for response in (full, poll):
        assert board(response).has_attr("data-gone")
        assert "revoked" in text(board(response))
        assert row_ids(response) == []
    assert page(poll).select("[data-hx-trigger]") == []  # the screen stops polling


def test_requester_emails_are_masked_and_threads_never_shown(client, sandbox, db):
    ticket = next(
        t
        for t in sandbox.data.tickets
        if t["from_email"] and any(len((c["body"] or "").strip()) > 20 for c in t["comments"])
    )
    link, path = make_link(name="By id", filters=f"id={ticket['id']}")
    response = client.get(path)
    assert row_ids(response) == [ticket["id"]]
    shown = response.content.decode()  # the address must not be anywhere, not even hidden
    assert ticket["from_email"] not in shown
    assert wall_board.mask_email(ticket["from_email"]) in text(
        html.row(page(response), ticket["id"])
    )
    assert html.thread(page(response)) is None and html.comment_ids(page(response)) == []
    for comment in ticket["comments"]:
        body = (comment["body"] or "").strip()
        if len(body) > 20:
            assert body[:20] not in shown


def test_counts_walk_the_cursor_and_say_counting_until_done(client, sandbox, display, settings):
    link, path = display
    sandbox.configure(page_size=5)
    expected = sandbox.data.filter_tickets(parse_qsl("status=new&status=open"))
    pages_needed = -(-len(expected) // 5)
    assert pages_needed > counting.PAGES_PER_STEP  # needs several refreshes

    first = text(html.labelled(page(client.get(path, **HTMX)), "Counts"))
    assert f"at least {counting.PAGES_PER_STEP * 5}, counting" in first

    for _ in range(pages_needed // counting.PAGES_PER_STEP):
        response = client.get(path, **HTMX)
    counts = html.labelled(page(response), "Counts")
    assert "counting" not in text(counts)
    assert f"{len(expected)} tickets" in text(counts)
    for kind in ("status", "priority"):
        shown = {
            item[f"data-{kind}-count"]: text(item).split()[-1]
            for item in counts.select(f"[data-{kind}-count]")
        }
        numbers = Counter(ticket[kind] or "none" for ticket in expected)
        assert shown == {name: str(number) for name, number in numbers.items()}


def test_counts_beyond_the_cap_show_a_plus(client, sandbox, db, monkeypatch):
    monkeypatch.setattr(counting, "CAP", 30)
    monkeypatch.setattr(counting, "PAGES_PER_STEP", 10)
    link, path = make_link(name="Everything", filters="status=closed&status=solved")
    counts = html.labelled(page(client.get(path)), "Counts")
    assert "30+ tickets" in text(counts)
    numbers = [text(item) for item in counts.select("[data-status-count]")]
    assert numbers and all("≥" in number for number in numbers)  # past the cap: lower bounds


def test_an_outage_keeps_the_last_board_marked_stale_and_recovers(
    client, sandbox, display, monkeypatch, settings
):
    monkeypatch.setattr(wall_board, "ROWS_MAX_AGE", 0)  # every refresh asks the store
    settings.STORE_ERROR_TTL = 0  # and a failure is not remembered for the next one
    link, path = display
    good = client.get(path, **HTMX)
    assert not board(good).has_attr("data-stale")
    assert row_ids(good)

    sandbox.set_fault("unavailable")
    stale = client.get(path, **HTMX)
    assert stale.status_code == 200  # a failed refresh never blanks the screen
    assert board(stale)["data-stale"]
    assert row_ids(stale) == row_ids(good)
    note = text(html.by_role(board(stale), "status")[0])
    assert "Not up to date" in note and "unavailable" in note

    sandbox.set_fault("none")
    recovered = client.get(path, **HTMX)
    assert not board(recovered).has_attr("data-stale")
    assert row_ids(recovered) == row_ids(good)


def test_an_outage_before_any_good_board_waits_without_an_error_page(client, sandbox, display):
    link, path = display
    sandbox.set_fault("server_error")
    response = client.get(path)
    assert response.status_code == 200
    assert "Waiting for the store" in text(board(response))
    assert board(response)["data-stale"]
    assert row_ids(response) == []


def test_rotation_is_decided_by_the_server_clock(client, sandbox, db, monkeypatch):
    link, path = make_link(
        name="Playlist", filters="priority=high\nstatus=pending", rotate_seconds=60
    )
    # The board's clock only: the request budget's window keeps moving with the real one.
    monkeypatch.setattr(wall_board, "time", SimpleNamespace(time=lambda: 600.0))  # 10 -> view 1
    first = client.get(path)
    monkeypatch.setattr(wall_board, "time", SimpleNamespace(time=lambda: 660.0))  # 11 -> view 2
    second = client.get(path, **HTMX)
    assert row_ids(first) == expected_ids(sandbox, "priority=high")[: wall_board.ROWS]
    assert row_ids(second) == expected_ids(sandbox, "status=pending")[: wall_board.ROWS]
    assert "view 1 of 2" in text(board(first)) and "view 2 of 2" in text(board(second))


def test_tickets_new_since_the_last_refresh_are_highlighted(client, sandbox, display):
    link, path = display
    first = client.get(path)
    poll = board(first)["data-hx-get"]
    assert page(first).select("[data-new]") == []

    added = sandbox.data.add_ticket(status="new", subject="Brand new ticket on the wall")
    cache.clear()  # as if the board's cached page had aged out
    refreshed = page(client.get(poll, **HTMX))

    assert html.row_ids(refreshed)[0] == added["id"]
    assert [int(row["data-ticket-id"]) for row in refreshed.select("[data-new]")] == [added["id"]]


def test_refresh_interval_is_per_link_and_at_least_ten_seconds(db):
    link, path = make_link(name="Fast", refresh_seconds=10)
    assert DisplayLink.objects.get(pk=link.pk).refresh_seconds == 10
    with pytest.raises(ValidationError) as raised:
        make_link(name="Too fast", refresh_seconds=5)
    assert set(raised.value.message_dict) == {"refresh_seconds"}
    assert "10" in raised.value.message_dict["refresh_seconds"][0]
    assert not DisplayLink.objects.filter(name="Too fast").exists()


def test_signed_in_wall_uses_the_lists_filters(signed_in, sandbox):
    response = signed_in.get("/wall/?priority=high")
    assert response.status_code == 200
    assert row_ids(response) == expected_ids(sandbox, "priority=high")[: wall_board.ROWS]
    make = html.link(page(response), "Make a display link for this board")
    assert parse_qsl(urlsplit(make).query) == [("filters", "priority=high")]


def test_create_display_link_command_prints_the_url_last(client, sandbox, db):
    out = StringIO()
    call_command(
        "create_display_link", "Room", "--filters", "status=new&status=open",
        "--base-url", "http://wall.example", stdout=out,
    )  # fmt: skip
    url = out.getvalue().strip().splitlines()[-1]
    assert url.startswith("http://wall.example/display/")
    path = urlsplit(url).path
    assert client.get(path).status_code == 200

    call_command("revoke_display_link", "Room", stdout=StringIO())
    assert client.get(path).status_code == 410


def test_create_display_link_command_refuses_bad_filters(db):
    with pytest.raises(CommandError, match="priority"):
        call_command(
            "create_display_link", "Bad", "--filters", "priority=urgent", stdout=StringIO()
        )
    with pytest.raises(CommandError, match="No display link"):
        call_command("revoke_display_link", "Nobody", stdout=StringIO())


def test_signed_in_people_make_list_and_revoke_links(signed_in, client):
    response = signed_in.post(
        "/wall/links/",
        {
            "name": "Room 2",
            "filters": "?status=open&status=new",
            "sort": "oldest",
            "refresh_seconds": 20,
            "rotate_seconds": 60,
            "warn_after_hours": 4,
            "alert_after_hours": 24,
        },
    )
    assert response.status_code == 201
    url = html.labelled(page(response), "Display link URL")["value"]
    assert url.startswith("http://testserver/display/")
    link = DisplayLink.objects.get(name="Room 2")
    assert link.filters == "status=new&status=open"

    listing = signed_in.get("/wall/links/")
    assert "Room 2" in text(page(listing).select_one(f"[data-link-id='{link.id}']"))
    assert url not in listing.content.decode()  # shown once only

    signed_in.post(f"/wall/links/{link.id}/revoke/")
    signed_in.logout()
    assert client.get(urlsplit(url).path).status_code == 410


def test_walls_keep_inside_the_shared_budget(client, sandbox, db, settings, store_pace):
    settings.STORE_RATE_LIMIT = 4
    sandbox.configure(rate_limit=4)
    paths = [make_link(name=f"Wall {i}", filters="status=new&status=open")[1] for i in range(3)]
    for _ in range(4):
        for path in paths:
            assert client.get(path, **HTMX).status_code == 200
    stats = sandbox.stats()
    assert stats["throttled"] == 0
    assert stats["peak_per_second"] <= 4


def test_a_link_whose_filter_went_bad_says_so_instead_of_an_error_page(client, db, monkeypatch):
    from dashboard import store

    link, path = make_link(name="Typed", filters="ticket_type=3")
    # The store no longer has ticket type 3.
    monkeypatch.setattr(
        store, "ticket_types", lambda fetch=True: {1: store.TicketType(id=1, name="Refund")}
    )
    for extra in ({}, HTMX):
        response = client.get(path, **extra)
        assert response.status_code == 200
        assert board(response).has_attr("data-gone")
        assert "no longer valid" in text(board(response))
        assert row_ids(response) == []


def test_a_count_cursor_the_store_rejects_restarts_the_count_not_the_board(
    client, sandbox, display, settings
):
    settings.STORE_ERROR_TTL = 0
    link, path = display
    sandbox.configure(page_size=5)
    client.get(path, **HTMX)  # starts a count walk part of the way
    key = counting.state_key(parse_wall_filters(link.filters)[0])
    state = cache.get(key)
    assert state["walk"] and state["walk"]["cursor"]
    state["walk"]["cursor"] = "Zm9yZ2Vk"  # a cursor the store no longer knows
    cache.set(key, state)

    response = client.get(path, **HTMX)

    assert not board(response).has_attr("data-stale")
    assert row_ids(response)
    # The rejected walk is dropped (counts.py), not retried with its cursor in the same step ...
    assert cache.get(key)["walk"] is None
    # ... and the next refresh counts again from the first page.
    client.get(path, **HTMX)
    walk = cache.get(key)["walk"]
    assert walk["seen"] == counting.PAGES_PER_STEP * 5 and walk["cursor"] != "Zm9yZ2Vk"


def test_age_thresholds_have_a_sane_ceiling(signed_in):
    response = signed_in.post(
        "/wall/links/",
        {"name": "Huge", "filters": "status=open", "sort": "newest", "refresh_seconds": 30,
         "rotate_seconds": 60, "warn_after_hours": 4, "alert_after_hours": 10**12},
    )  # fmt: skip
    assert response.status_code == 400
    assert html.field_errors(page(response), "alert_after_hours")
    assert not DisplayLink.objects.filter(name="Huge").exists()


def test_an_oversized_filter_is_a_form_error_not_an_error_page(signed_in):
    filters = "&".join(f"status=open&n{n}=1" for n in range(2500))  # 5,000 parameters
    response = signed_in.post(
        "/wall/links/",
        {
            "name": "Too much",
            "filters": filters,
            "sort": "newest",
            "refresh_seconds": 20,
            "rotate_seconds": 60,
            "warn_after_hours": 4,
            "alert_after_hours": 24,
        },
    )
    assert response.status_code == 400
    errors = html.field_errors(page(response), "filters")
    assert any("too many parameters" in error for error in errors)
    assert not DisplayLink.objects.filter(name="Too much").exists()


# -- A screen never holds up a person --


@pytest.fixture
def waits_under_locks(monkeypatch):
    """Every wait for a budget slot made while a page's single-flight lock is held, with its
    lane: a background wait there is a person held up behind a screen."""
    from dashboard import budget
    from dashboard.budget import lanes

    backend = budget.backend()
    held, found = [], []
    take = backend.lock

    @contextlib.contextmanager
    def tracked(name, *args, **kwargs):
        with take(name, *args, **kwargs):
            held.append(name)
            try:
                yield
            finally:
                held.remove(name)

    def wait_for_slot(token_key):
        if not lanes._slot_in_hand.get() and any(n.startswith("flight:") for n in held):
            found.append(budget.current_lane())
        return wait(token_key)

    wait = budget.wait_for_slot
    monkeypatch.setattr(backend, "lock", tracked)
    monkeypatch.setattr(budget, "wait_for_slot", wait_for_slot)
    return found


def test_a_screen_waits_for_its_slot_before_it_takes_a_pages_lock(
    client, display, sandbox, waits_under_locks
):
    from dashboard import budget

    _, path = display
    assert client.get(path).status_code == 200
    assert budget.BACKGROUND not in waits_under_locks
    assert sandbox.stats()["calls"] >= 2  # the rows and the counts came from the store
