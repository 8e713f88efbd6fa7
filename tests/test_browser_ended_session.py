"""An ended session in a real browser: Load more takes the whole page to the sign-in page, and
signing in comes back to the list it was on, with its filters."""

from urllib.parse import parse_qsl, quote

import pytest
from django.contrib.sessions.backends.base import SessionBase
from playwright.sync_api import expect

from dashboard.sessions import SessionStore
from tests.html import ROWS

pytestmark = pytest.mark.browser

LIST = "/?status=new&status=open&priority=high"


def sign_in(page):
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()


def end_session(page, how):
    """As a sign-out in another tab or an expiry does: the server forgets the session, or
    the browser its cookie."""
    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    if how == "cookie":
        page.context.clear_cookies(name="sessionid")
    else:
        store: SessionBase = SessionStore(cookie["value"])
        assert store.exists(cookie["value"])
        store.delete()


@pytest.mark.parametrize("how", ["server", "cookie"])
def test_load_more_after_the_session_ended_signs_in_and_comes_back(
    page, live_server, lead, sandbox, how
):
    page.set_default_timeout(10_000)
    sandbox.configure(page_size=4)
    expected = sandbox.data.filter_tickets(parse_qsl(LIST[2:]))
    assert len(expected) > 2 * sandbox.page_size  # Load more, before and after signing in
    sign_in_page = f"{live_server.url}/accounts/login/?next={quote(LIST, safe='/')}"
    page.goto(f"{live_server.url}{LIST}")
    expect(page).to_have_url(sign_in_page)
    sign_in(page)
    expect(page).to_have_url(f"{live_server.url}{LIST}")
    rows = page.locator(ROWS)
    expect(rows).to_have_count(sandbox.page_size)

    end_session(page, how)
    page.get_by_role("link", name="Load more").click()

    # The whole page went to sign in: one sign-in form, no list around it.
    expect(page).to_have_url(sign_in_page)
    expect(page.get_by_label("Password")).to_have_count(1)
    expect(rows).to_have_count(0)
    sign_in(page)

    # Back on the list, its filters kept, and Load more loads more again.
    expect(page).to_have_url(f"{live_server.url}{LIST}")
    expect(page.locator("input[name=status][value=new]")).to_be_checked()
    expect(page.locator("select[name=priority]")).to_have_value("high")
    expect(rows).to_have_count(sandbox.page_size)
    page.get_by_role("link", name="Load more").click()
    expect(rows).to_have_count(2 * sandbox.page_size)
    ids = [int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.ticketId)")]
    assert ids == [t["id"] for t in expected[: 2 * sandbox.page_size]]
