"""The list's density in a real browser: compact rows fit a working day's screen, the choice
is kept with the person, it works without JavaScript, and narrow screens label their times."""

import re

import pytest
from playwright.sync_api import expect

from tests import test_browser
from tests.html import ROWS

pytestmark = pytest.mark.browser

signed_in_page = test_browser.signed_in_page  # the fixture, shared

LAPTOP = {"width": 1440, "height": 900}


def rows_in_view(page):
    """How many ticket rows are whole inside the window, as the page first shows them."""
    return page.locator(ROWS).evaluate_all(
        "rows => rows.filter(row => row.getBoundingClientRect().bottom <= innerHeight).length"
    )


def sign_in(page, live_server, path="/"):
    page.goto(f"{live_server.url}/accounts/login/?next={path}")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(ROWS).first).to_be_visible()


def test_compact_density_shows_fifteen_rows_at_1440x900_and_is_remembered(
    signed_in_page, live_server, browser
):
    page = signed_in_page
    page.set_viewport_size(LAPTOP)
    page.goto(f"{live_server.url}/")
    expect(page.locator(ROWS).first).to_be_visible()
    switch = page.get_by_role("button", name="Compact rows")
    expect(switch).to_have_attribute("aria-pressed", "false")
    assert rows_in_view(page) < 15  # comfortable: the reason for the switch

    page.evaluate("window.notReloaded = true")
    switch.click()
    expect(page.locator("body")).to_have_class(re.compile(r"^page-list\b.*\bdensity-compact\b"))
    expect(switch).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.notReloaded") is True  # swapped in place by HTMX
    assert rows_in_view(page) >= 15
    assert page.locator(".table-scroll").evaluate("el => el.scrollWidth <= el.clientWidth")

    page.reload()
    expect(page.locator("body.density-compact")).to_have_count(1)
    assert rows_in_view(page) >= 15

    # Another browser, the same person: the density came along with the account.
    context = browser.new_context(viewport=LAPTOP)
    try:
        elsewhere = context.new_page()
        sign_in(elsewhere, live_server)
        expect(elsewhere.locator("body.density-compact")).to_have_count(1)
        expect(elsewhere.get_by_role("button", name="Compact rows")).to_have_attribute(
            "aria-pressed", "true"
        )
        # ...and back to comfortable from there.
        elsewhere.get_by_role("button", name="Compact rows").click()
        expect(elsewhere.locator("body.density-compact")).to_have_count(0)
        assert rows_in_view(elsewhere) < 15
    finally:
        context.close()


def test_compact_rows_keep_the_subject_as_the_links_name(signed_in_page, live_server, sandbox):
    ticket = sandbox.data.add_ticket(
        status="new", subject="A rather long subject that the compact row ends early " * 3
    )
    page = signed_in_page
    page.set_viewport_size(LAPTOP)
    page.get_by_role("button", name="Compact rows").click()
    expect(page.locator("body.density-compact")).to_have_count(1)
    page.goto(f"{live_server.url}/?status=new")
    row = page.locator(f"{ROWS}[data-ticket-id='{ticket['id']}']")
    link = test_browser.subject_link(row, ticket["subject"])
    expect(link).to_be_visible()
    box = row.bounding_box()
    assert box["height"] < 40  # one line
    link.click()
    expect(page.locator(f"[data-thread-id='{ticket['id']}']")).to_be_visible()

    # Beside the thread, the subject keeps its room, the list fits its pane, and the
    # clicked subject has not slid sideways in its cell.
    cell = row.locator("td.col-subject")
    assert cell.bounding_box()["width"] >= 200
    assert cell.evaluate("td => td.scrollLeft") == 0
    scroller = page.locator(".table-scroll")
    assert scroller.evaluate("el => el.scrollWidth <= el.clientWidth")


def test_density_works_without_javascript(browser, live_server, lead):
    context = browser.new_context(java_script_enabled=False, viewport=LAPTOP)
    try:
        page = context.new_page()
        sign_in(page, live_server, "/%3Fstatus%3Dopen")
        expect(page).to_have_url(f"{live_server.url}/?status=open")
        page.get_by_role("button", name="Compact rows").click()
        expect(page).to_have_url(f"{live_server.url}/?status=open")  # the same list
        expect(page.locator("body.density-compact")).to_have_count(1)
        assert rows_in_view(page) >= 15
        page.get_by_role("button", name="Compact rows").click()
        expect(page.locator("body.density-compact")).to_have_count(0)
    finally:
        context.close()


def test_narrow_screens_label_the_times_of_each_card(signed_in_page, live_server):
    page = signed_in_page
    page.goto(f"{live_server.url}/")
    first = page.locator(ROWS).first
    created, updated = first.locator("td.col-time").all()
    page.set_viewport_size({"width": 390, "height": 844})
    expect(created.get_by_text("Created", exact=True)).to_be_visible()
    expect(updated.get_by_text("Updated", exact=True)).to_be_visible()

    # On a wide screen the table's header says it once instead.
    page.set_viewport_size(LAPTOP)
    expect(created.get_by_text("Created", exact=True)).to_be_hidden()
    expect(page.get_by_role("columnheader", name="Created")).to_be_visible()


def test_age_marks_are_visible_words(signed_in_page, live_server, sandbox):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    overdue = sandbox.data.add_ticket(status="open", created_at=now - timedelta(hours=30))
    ageing = sandbox.data.add_ticket(status="open", created_at=now - timedelta(hours=5))
    solved = sandbox.data.add_ticket(status="solved", created_at=now - timedelta(hours=30))
    page = signed_in_page
    for ticket, words in ((overdue, "Overdue 1 d"), (ageing, "Ageing 5 h")):
        page.goto(f"{live_server.url}/?id={ticket['id']}")
        mark = page.locator(f"{ROWS}[data-ticket-id='{ticket['id']}'] .age")
        expect(mark).to_be_visible()
        expect(mark).to_have_text(words)
    page.goto(f"{live_server.url}/?id={solved['id']}")
    expect(page.locator(f"{ROWS}[data-ticket-id='{solved['id']}'] .age")).to_have_count(0)


def test_rtl_subjects_read_from_the_right_in_both_densities(signed_in_page, live_server, sandbox):
    hebrew = sandbox.data.add_ticket(status="new", subject="ההזמנה לא הגיעה", tags=[])
    english = sandbox.data.add_ticket(status="new", subject="The order never came", tags=[])
    page = signed_in_page
    page.set_viewport_size(LAPTOP)

    def left_gap(ticket):
        """How far the subject's words start from the left of their cell's content."""
        link = page.locator(f"{ROWS}[data-ticket-id='{ticket['id']}'] a.subject")
        return link.evaluate(
            """link => {
                const range = document.createRange();
                range.selectNodeContents(link);
                const cell = link.closest("td");
                const padding = parseFloat(getComputedStyle(cell).paddingLeft);
                return range.getBoundingClientRect().left - cell.getBoundingClientRect().left
                    - padding;
            }"""
        )

    page.goto(f"{live_server.url}/?status=new")
    expect(page.locator(ROWS).first).to_be_visible()
    for density in ("comfortable", "compact"):
        if density == "compact":
            page.get_by_role("button", name="Compact rows").click()
            expect(page.locator("body.density-compact")).to_have_count(1)
        assert left_gap(english) < 1, density  # left to right: from the cell's left
        assert left_gap(hebrew) > 40, density  # right to left: from its right
