"""Reading all day, in a real browser: the summary that follows Load more and the total counted
in the background, and threads whose quoted text is folded until asked for."""

import re

import pytest
from playwright.sync_api import expect

from tests.html import ROWS
from tests.test_browser import signed_in_page, subject_link, thread_panel  # noqa: F401
from tests.test_reading import EXACT_AND_AGO, quoted_comment

pytestmark = pytest.mark.browser


@pytest.fixture
def reader(request):
    """A lead signed in, on the list (`signed_in_page`, by name: imported, not redefined)."""
    return request.getfixturevalue("signed_in_page")


def test_the_summary_follows_load_more_and_the_total_arrives_by_itself(
    reader, live_server, sandbox
):
    page = reader
    sandbox.configure(page_size=5)
    expected = len(sandbox.data.filter_tickets([("status", "new"), ("status", "open")]))
    assert expected > 3 * sandbox.page_size  # several pages, and a walk of several steps

    page.goto(f"{live_server.url}/?status=new&status=open")
    rows = page.locator(ROWS)
    shown = page.get_by_role("status").filter(has_text="shown")
    total = page.locator("#list-total")
    expect(shown).to_have_text("5 shown")

    # The total is counted in the background and arrives without a reload; then nothing polls.
    expect(total).to_have_text(f"of {expected}", timeout=15_000)
    expect(page.locator("#list-total[data-hx-get]")).to_have_count(0)

    # Each Load more: the count of rows shown follows the rows.
    more = page.get_by_role("link", name="Load more")
    while more.count():
        before = rows.count()
        more.click()
        expect(rows).not_to_have_count(before)
        expect(shown).to_have_text(f"{rows.count()} shown")
    expect(shown).to_have_text(f"{expected} shown")
    expect(page.locator(".results-head .summary")).to_have_text(
        re.compile(rf"^\s*{expected} shown\s+of {expected}\s*$")
    )


def test_quoted_text_is_folded_until_asked_for(reader, live_server, sandbox):
    page = reader
    ticket, comment = quoted_comment(sandbox)
    page.goto(f"{live_server.url}/?id={ticket['id']}")
    subject_link(page.locator(ROWS).first, ticket["subject"]).click()

    shown = thread_panel(page).locator(f"[data-comment-id='{comment['id']}']")
    own_words = comment["body"].split("\n\nOn ", 1)[0]
    quoted = shown.locator("details .quoted-text")
    expect(shown.locator(".comment-text")).to_have_text(own_words)
    expect(quoted).to_be_hidden()  # in the page, folded
    expect(quoted).to_have_count(1)

    shown.get_by_text("Show quoted text").click()
    expect(quoted).to_be_visible()
    expect(quoted).to_contain_text("wrote:")

    # The exact time is read at a glance, the relative time beside it.
    for time in shown.locator(".comment-time time").all():
        assert EXACT_AND_AGO.match(" ".join(time.inner_text().split()))
