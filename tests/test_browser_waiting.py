"""What waits on the team, in Chromium: the list's marks, "Needs reply" and the wall leading
with it, axe-core clean, CSP-clean and usable from the keyboard. Screenshots go to
`SCREENSHOT_DIR` when it is set."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.html import ROWS
from tests.test_browser import signed_in_page  # noqa: F401
from tests.test_browser_index_counts import screenshot
from tests.test_browser_wall import HEIGHT, WIDTH, assert_fits, axe_violations, display_link
from tests.test_index_counts import indexed  # noqa: F401

pytestmark = pytest.mark.browser

WAITED = re.compile(r"^Waiting \d+ (min|h|d)$")


@pytest.fixture
def csp_watched(page):
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    return page


def test_the_list_marks_waiting_rows_and_needs_reply_lists_them(
    csp_watched, signed_in_page, live_server, sandbox, indexed, tmp_path  # noqa: F811
):  # fmt: skip
    indexed(live=True, walked=timedelta(0))
    page = signed_in_page
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/?status=new&status=open")
    waiting = page.locator(f"{ROWS}[data-waiting-since]")
    expect(waiting.first).to_be_visible()
    expect(waiting.first.locator(".waiting time")).to_have_text(WAITED)
    overdue = page.locator(f"{ROWS}[data-overdue]").first
    expect(overdue.get_by_text("Overdue", exact=True)).to_be_visible()
    # The exact time shows while the row has the focus.
    exact = overdue.locator(".waiting-exact")
    assert exact.bounding_box()["width"] <= 1  # read out, not shown
    overdue.locator("a.subject").focus()
    assert exact.bounding_box()["width"] > 100
    screenshot(page, "list-waiting", tmp_path)

    # The sidebar leads to Needs reply; Load more by keyboard.
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Needs reply").click()
    expect(page).to_have_url(f"{live_server.url}/views/waiting/")
    expect(page.get_by_role("heading", name="Needs reply")).to_be_visible()
    rows = page.locator(f"#ticket-rows {ROWS}")
    expect(rows).to_have_count(25)
    screenshot(page, "needs-reply", tmp_path)
    assert axe_violations(page) == []
    more = page.get_by_role("link", name="Load more")
    more.focus()
    page.keyboard.press("Enter")
    expect(rows).not_to_have_count(25)
    ids = rows.evaluate_all("rs => rs.map(r => Number(r.dataset.ticketId))")
    assert len(ids) == len(set(ids))
    assert page.evaluate("window.__violations") == []
    assert axe_violations(page) == []
    # A row's subject opens its thread beside the view, with its wait.
    first = rows.first
    first.locator("a.subject").click()
    thread = page.locator(f"#thread-panel [data-thread-id='{ids[0]}']")
    expect(thread).to_be_visible()
    expect(thread.locator("dd[data-waiting-since]")).to_be_visible()


def test_the_wall_leads_with_what_waits_fits_the_screen_and_is_axe_clean(
    browser, live_server, sandbox, indexed, tmp_path  # noqa: F811
):  # fmt: skip
    indexed(live=False, walked=timedelta(minutes=3))
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(live_server.url + display_link())
    board = page.locator("#board")
    expect(board.locator("[data-waiting-count]")).to_be_visible()
    expect(board.locator("[data-overdue-count]")).to_be_visible()
    expect(page.get_by_role("img", name="Waiting on us, by how long")).to_be_visible()
    expect(board.locator("[data-more]")).to_be_visible()
    screenshot(page, "wall-1920x1080", tmp_path)
    assert_fits(page)
    for scheme in ("dark", "light"):
        page.emulate_media(color_scheme=scheme)
        assert axe_violations(page) == [], scheme
    context.close()
