"""HTMX behaviour in a real browser: Playwright driving Debian's Chromium."""

from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def signed_in_page(page, live_server, lead):
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/?status=open")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/%3Fstatus%3Dopen")
    page.fill("input[name=username]", "lead")
    page.fill("input[name=password]", "a-long-test-password")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/?status=open")
    return page


def test_filter_load_more_to_the_end_and_open_a_thread(signed_in_page, live_server, sandbox):
    page = signed_in_page
    sandbox.configure(page_size=4)  # several pages from a filter of a dozen tickets

    # Apply a filter with the form: the list swaps in place and the address bar is the bookmark.
    page.check("input[name=status][value=new]")
    expect(page).to_have_url(f"{live_server.url}/?status=new&status=open")
    page.select_option("select[name=priority]", "high")
    expect(page).to_have_url(f"{live_server.url}/?status=new&status=open&priority=high")
    query = urlsplit(page.url).query
    expected = [t["id"] for t in sandbox.data.filter_tickets(parse_qsl(query))]
    assert len(expected) > sandbox.page_size  # the walk below needs more than one page

    rows = page.locator("tr[data-ticket-id]")
    expect(rows).to_have_count(sandbox.page_size)

    # Load more until the end of the list.
    while page.locator("a.load-more").count():
        before = rows.count()
        page.click("a.load-more")
        expect(rows).not_to_have_count(before)
    expect(page.locator("tr.list-end")).to_have_text("End of list.")

    ids = [int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.ticketId)")]
    assert ids == expected
    expect(page).to_have_url(f"{live_server.url}/?{query}")  # load more never moves the bookmark

    # Open a thread inline: the list stays, the thread appears beside it.
    first = rows.first
    ticket_id = first.get_attribute("data-ticket-id")
    first.locator("a.subject").click()
    thread = page.locator(f"#thread-panel article.thread[data-ticket-id='{ticket_id}']")
    expect(thread).to_be_visible()
    expect(thread.locator("[data-comment-id]").first).to_be_visible()
    expect(rows).to_have_count(len(expected))
    expect(page).to_have_url(f"{live_server.url}/?{query}")

    # Back and forward walk the bookmarks, one per change of filter, with the form to match.
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/?status=new&status=open")
    expect(page.locator("select[name=priority]")).to_have_value("")
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/?status=open")
    expect(page.locator("input[name=status][value=new]")).not_to_be_checked()
    expect(page.locator("tr[data-ticket-id]").first).to_be_visible()
    page.go_forward()
    page.go_forward()
    expect(page).to_have_url(f"{live_server.url}/?{query}")
    expect(page.locator("select[name=priority]")).to_have_value("high")


def test_invalid_filter_shows_errors_in_place(signed_in_page, sandbox):
    page = signed_in_page
    page.click("summary")
    page.fill("input[name=product]", "12, twelve")
    page.press("input[name=product]", "Enter")
    expect(page.locator(".field-error")).to_contain_text("twelve")
    expect(page.locator("tr[data-ticket-id]")).to_have_count(0)
