"""A bulk change from the list in Chromium: rows ticked with x and with Shift+click, the change
sent, its progress beside the list and then each ticket's outcome; and the same without
JavaScript, by the progress page. axe-core checks the list with rows ticked and the result.
Screenshots go to `SCREENSHOT_DIR` when it is set."""

import re
import time

import pytest
from playwright.sync_api import expect

from dashboard.models import BulkChange
from tests.html import ROWS
from tests.test_accessibility import assert_no_axe_violations
from tests.test_browser_index_counts import screenshot
from tests.test_bulk import live_index, triager  # noqa: F401

pytestmark = pytest.mark.browser


def sign_in(page, live_server, url):
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}{url}")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(ROWS).first).to_be_visible()
    page.wait_for_load_state("domcontentloaded")  # the page's keys are heard from then on


def box(page, row):
    return page.locator(ROWS).nth(row).locator("input[name=ids]")


def test_rows_ticked_with_x_and_shift_click_change_with_progress_then_each_outcome(
    browser, live_server, sandbox, triager, live_index, tmp_path  # noqa: F811
):  # fmt: skip
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live_server, "/?status=new")
    ticked = page.locator("#ticket-rows input[name=ids]:checked")
    said = page.locator("[data-bulk-ticked]")

    # x ticks the current row, and again unticks it.
    page.keyboard.press("j")
    expect(page.locator(ROWS).nth(0)).to_have_attribute("aria-current", "true")
    page.keyboard.press("x")
    expect(box(page, 0)).to_be_checked()
    expect(said).to_have_text("1 ticked")
    page.keyboard.press("j")
    expect(page.locator(ROWS).nth(1)).to_have_attribute("aria-current", "true")
    page.keyboard.press("x")
    expect(box(page, 1)).to_be_checked()
    page.keyboard.press("x")
    expect(box(page, 1)).not_to_be_checked()

    # A click, then Shift+click further down, ticks every row between.
    box(page, 2).click()
    box(page, 6).click(modifiers=["Shift"])
    expect(ticked).to_have_count(6)
    expect(said).to_have_text("6 ticked")
    ids = [int(value) for value in ticked.evaluate_all("boxes => boxes.map(b => b.value)")]
    assert ids == [int(page.locator(ROWS).nth(i).get_attribute("data-ticket-id"))
                   for i in (0, 2, 3, 4, 5, 6)]  # fmt: skip

    page.locator("#bulk-status").select_option("pending")
    assert_no_axe_violations(page)
    screenshot(page, "bulk-ticked", tmp_path)

    # Meanwhile one of them went from the store: its change is refused in the store's words.
    gone = ids[3]
    sandbox.data.tickets[:] = [t for t in sandbox.data.tickets if t["id"] != gone]
    # A store slow enough (0.6 s a call, one ticket after another) for the poll two seconds
    # later to find the change under way.
    sandbox.configure(latency_ms=600)
    page.get_by_role("button", name="Change ticked tickets").click()
    progress = page.locator("#bulk-progress")
    summary = progress.locator("#bulk-summary")
    expect(progress.locator("[data-bulk-state=running]")).to_be_visible()
    expect(summary).to_have_text(re.compile(r"^[1-5] of 6 changed"))
    expect(progress.get_by_role("heading", level=2)).to_have_text("Status: Pending")
    screenshot(page, "bulk-progress", tmp_path)

    expect(summary).to_have_text("5 of 6 changed, 1 failed")
    expect(progress.locator("[data-bulk-state=done]")).to_be_visible()
    failed = progress.locator("[data-bulk-failed-ticket]")
    expect(failed).to_have_count(1)
    expect(failed).to_have_attribute("data-bulk-failed-ticket", str(gone))
    expect(failed).to_contain_text("No Ticket matches the given query.")
    # What changed is unticked; what the store refused stays ticked, to try again.
    expect(ticked).to_have_count(1)
    expect(ticked).to_have_value(str(gone))
    # The list hears of the new statuses from the index.
    for ticket_id in ids:
        if ticket_id != gone:
            row = page.locator(f"{ROWS}[data-ticket-id='{ticket_id}']")
            expect(row.locator(".badge.status")).to_have_text("Pending")
    assert all(sandbox.data.ticket(i)["status"] == "pending" for i in ids if i != gone)
    assert_no_axe_violations(page)
    screenshot(page, "bulk-result", tmp_path)

    # In a field, x is only a letter.
    search = page.locator("#filters [name=filter_text]")
    search.focus()
    page.keyboard.press("x")
    expect(search).to_have_value("x")
    expect(ticked).to_have_count(1)
    assert errors == []
    context.close()


def test_without_javascript_the_change_leads_to_its_page_which_a_link_refreshes(
    browser,
    live_server,
    sandbox,
    triager,  # noqa: F811
):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server, "/?status=new")
    for row in (0, 1, 2):
        box(page, row).check()
    ids = [int(page.locator(ROWS).nth(i).get_attribute("data-ticket-id")) for i in (0, 1, 2)]
    page.locator("#bulk-status").select_option("pending")
    page.get_by_role("button", name="Change ticked tickets").click()

    bulk_id = BulkChange.objects.get().pk
    expect(page).to_have_url(f"{live_server.url}/bulk/{bulk_id}/?back=%2F%3Fstatus%3Dnew")
    expect(page.get_by_role("heading", level=1)).to_have_text("Changing 3 tickets")
    summary = page.locator("#bulk-summary")
    deadline = time.monotonic() + 15
    while summary.text_content().strip() != "3 of 3 changed":  # a person following the link
        assert time.monotonic() < deadline, summary.text_content()
        page.get_by_role("link", name="Refresh").click()
        expect(page.locator("#bulk-progress")).to_be_visible()
    assert all(sandbox.data.ticket(i)["status"] == "pending" for i in ids)
    page.get_by_role("link", name="Show the list as it is now").click()
    expect(page).to_have_url(f"{live_server.url}/?status=new")
    context.close()
