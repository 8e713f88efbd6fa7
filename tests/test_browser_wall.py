"""The wall on a 1920x1080 screen in Chromium: its pictures, every row on screen fresh or stale,
axe-core clean, and New on live arrivals."""

import re
import time
from pathlib import Path

import axe_playwright_python
import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_TOKEN
from tests.html import ROWS
from tests.test_browser import wall_screen  # noqa: F401

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1920, 1080
PICTURES = ("Open backlog by age", "Created per day, last 14 days")
AXE_SOURCE = Path(axe_playwright_python.__file__).with_name("axe.min.js").read_text()


def axe_violations(page):
    """axe-core's violations on the page as it is now. Its source goes in by `evaluate`: the
    CSP lets no script tag in."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        (violation["id"], violation["help"], [node["target"] for node in violation["nodes"]])
        for violation in result["violations"]
    ]


EVERY_STATUS = "status=new&status=open&status=pending&status=solved&status=closed"


def display_link(name="Support room", filters="status=new&status=open", refresh=10, **fields):
    from dashboard.models import DisplayLink

    link = DisplayLink(name=name, filters=filters, refresh_seconds=refresh, **fields)
    secret = link.issue_secret()
    link.save()
    return link.path_for(secret)


def assert_fits(page):
    """Nothing to scroll; every row, the counts and both pictures inside the screen."""
    size = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight,"
        " innerWidth, innerHeight]"
    )
    assert size == [WIDTH, HEIGHT, WIDTH, HEIGHT]
    rows = page.locator(f"#board {ROWS}")
    expect(rows).to_have_count(10)
    boxes = [rows.nth(i).bounding_box() for i in range(10)]
    boxes += [page.get_by_label("Counts").bounding_box()]
    # Both pictures: the backlog's first picture is how long tickets have waited on the team
    # when the ticket index answers the board.
    pictures = page.locator("#board svg[role=img]")
    expect(pictures).to_have_count(2)
    boxes += [pictures.nth(i).bounding_box() for i in range(2)]
    boxes += [page.locator("#board .board-side").bounding_box()]
    boxes += [more.bounding_box() for more in page.locator("#board [data-more]").all()]
    for box in boxes:
        assert box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box


def refresh(page):
    page.evaluate("htmx.trigger('#board', 'refresh')")


@pytest.fixture
def violations_watched(wall_screen):  # noqa: F811
    page, errors = wall_screen
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    return page, errors


def test_a_display_links_board_shows_both_pictures_fits_the_screen_and_is_axe_clean(
    violations_watched, live_server, sandbox
):
    page, errors = violations_watched
    page.goto(live_server.url + display_link())
    for name in PICTURES:
        picture = page.get_by_role("img", name=name)
        expect(picture).to_be_visible()
        assert picture.evaluate("el => el.tagName") == "svg"
    backlog = page.get_by_role("img", name=PICTURES[0])
    expect(backlog.locator("[data-bar]")).to_have_count(4)
    expect(backlog.locator("[data-bar='Under 4 h']")).to_contain_text(re.compile(r"\d"))
    expect(page.get_by_role("img", name=PICTURES[1]).locator("[data-bar]")).to_have_count(14)
    assert_fits(page)

    assert page.locator("#board [style], #board script").count() == 0
    assert page.evaluate("window.__violations") == []
    # The wall is dark whatever the screen's preference: both are checked.
    for scheme in ("dark", "light"):
        page.emulate_media(color_scheme=scheme)
        assert axe_violations(page) == [], scheme
    assert errors == []


def test_every_row_stays_on_the_screen_when_the_board_goes_stale(
    wall_screen,  # noqa: F811
    live_server,
    sandbox,
    settings,
    monkeypatch,
):
    from dashboard.wall import board as wall_board

    monkeypatch.setattr(wall_board, "ROWS_MAX_AGE", 0)  # each refresh asks the store afresh
    settings.STORE_ERROR_TTL = 0
    page, errors = wall_screen
    # The tallest board: every status and priority counted, and a note above the rows.
    page.goto(
        live_server.url + display_link(name="Everything", filters=EVERY_STATUS, sort="oldest")
    )
    expect(page.locator("[data-status-count]")).to_have_count(5)
    board = page.locator("#board")
    expect(board.locator(".wall-note")).to_be_visible()
    assert_fits(page)

    # The store fails: the board says so, and keeps all its rows on the screen.
    sandbox.set_fault("unavailable")
    refresh(page)
    expect(board).to_have_attribute("data-stale", re.compile(r"^\d{4}-"))
    expect(board.get_by_role("status")).to_contain_text("no fresh data since")
    assert_fits(page)
    assert axe_violations(page) == []

    # The dashboard cannot be reached: the screen's own longer note, still every row.
    sandbox.set_fault("none")
    page.route("**/display/**", lambda route: route.abort())
    refresh(page)
    expect(board.get_by_role("status")).to_contain_text("cannot be reached")
    assert_fits(page)
    page.unroute("**/display/**")
    assert errors == []


def test_live_arrivals_are_marked_new_on_every_screen_for_a_while(
    wall_screen,  # noqa: F811
    browser,
    live_server,
    settings,
    monkeypatch,
):
    """As a new user saw it: the sandbox's live arrivals, a screen refreshing by itself, and
    the board's rows served from the cache until `ROWS_MAX_AGE` seconds old, as in production
    (its times scaled down)."""
    from dashboard.wall import board as wall_board
    from tools.sandbox.server import SandboxServer

    # Production's times scaled down, to see several refreshes in a short test: a refresh
    # faster than a link may, rows up to four refreshes old, an arrival about every refresh.
    monkeypatch.setattr(wall_board, "ROWS_MAX_AGE", 8)
    arriving = SandboxServer(token=TEST_TOKEN, arrivals_every=2).start()
    settings.NEXT_API_BASE_URL = arriving.base_url
    try:
        path = display_link(name="Arrivals", filters="status=new", refresh=2)
        page, errors = wall_screen
        page.goto(live_server.url + path)
        rows = page.locator(f"#board {ROWS}")
        # What the board showed first is its baseline: tickets after it are arrivals.
        seeded = max(int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.ticketId)"))
        page.evaluate(
            "window.swaps = 0;"
            "document.body.addEventListener('htmx:afterSwap', () => window.swaps++)"
        )
        seen = {}  # arrival id -> [(when, marked New), one per refresh that showed it]
        for swap in range(1, 7):
            page.wait_for_function("n => window.swaps >= n", arg=swap, timeout=20_000)
            for ticket_id, new in rows.evaluate_all(
                "rows => rows.map(r => [Number(r.dataset.ticketId), r.hasAttribute('data-new')])"
            ):
                if ticket_id > seeded:
                    seen.setdefault(ticket_id, []).append((time.time(), new))

        assert len(seen) >= 2, seen  # arrivals did reach the board
        for ticket_id, shown in seen.items():
            assert all(new for _, new in shown[:2]), (ticket_id, shown)  # New, and New again
        assert max(len(shown) for shown in seen.values()) >= 2

        # Another screen switched on now marks the latest arrivals New too.
        recent = [i for i, shown in seen.items() if time.time() - shown[0][0] < 60]
        assert recent
        other = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}).new_page()
        other.goto(live_server.url + path)
        on_screen = [i for i in recent if other.locator(f"#board [data-ticket-id='{i}']").count()]
        assert on_screen
        for ticket_id in on_screen:
            row = other.locator(f"#board [data-ticket-id='{ticket_id}']")
            expect(row).to_have_attribute("data-new", "")
            expect(row.locator(".new-mark")).to_have_text("New")  # in words, not only colour
        other.context.close()
        assert errors == []
    finally:
        arriving.stop()
