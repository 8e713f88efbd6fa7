"""Names in Chromium at 1440 px: a name that reverses what follows it leaves its neighbours in
their order, and names of any length keep rows short and pages from scrolling sideways, axe
clean. (The markup that isolates each name is checked page by page in `test_isolation.py`.)"""

import re

import pytest
from playwright.sync_api import expect

from dashboard import bidi, store
from dashboard.models import DisplayLink, SavedView
from tests.html import ROWS
from tests.test_accessibility import assert_no_axe_violations
from tests.test_browser import thread_panel
from tests.test_browser_views import sign_in

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1440, 900
RLO, PDI = bidi.RLO, bidi.PDI
LONG_NAME = "Bartholomew" * 909 + "xx"  # 10,001 characters, one unbreakable word
WORD_80 = "WM" * 40  # 80 characters, wide ones, and no place to break


@pytest.fixture
def desk(browser, live_server, lead):
    """A lead's browser at 1440x900, signed in."""
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    sign_in(page, live_server, "/views/")
    yield page
    context.close()


def new_ticket(sandbox, customer, **fields):
    """A ticket just arrived from `customer`, whose name is known (as once looked up)."""
    ticket = sandbox.data.add_ticket(
        status="new", requester=customer["id"], from_email=customer["email"], **fields
    )
    store.look_up_customer(customer["id"])
    return ticket


def reading_order(locator, word):
    """The left edges of `word`'s letters where the element shows it, in the word's order."""
    return locator.evaluate(
        """(element, word) => {
          const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const at = node.data.indexOf(word);
            if (at < 0) continue;
            return [...word].map((_, i) => {
              const range = document.createRange();
              range.setStart(node, at + i);
              range.setEnd(node, at + i + 1);
              return range.getBoundingClientRect().left;
            });
          }
          return null;
        }""",
        word,
    )


def assert_reads_left_to_right(locator, word):
    edges = reading_order(locator, word)
    assert edges, f"{word!r} not shown"
    assert edges == sorted(edges) and len(set(edges)) == len(edges), (word, edges)


def assert_reads_right_to_left(locator, word):
    edges = reading_order(locator, word)
    assert edges, f"{word!r} not shown"
    assert edges == sorted(edges, reverse=True) and len(set(edges)) == len(edges), (word, edges)


def assert_no_sideways_scroll(page):
    width = page.evaluate(
        "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    assert width[0] <= width[1], f"{page.url} scrolls sideways: {width}"


# --- Right-to-left overrides ------------------------------------------------------------------


def test_a_name_that_reverses_text_leaves_its_neighbours_in_order(
    desk, live_server, sandbox, monkeypatch, lead
):
    customer = next(u for u in sandbox.data.customers if u["first_name"] and u["last_name"])
    # "hello" backwards with RIGHT-TO-LEFT OVERRIDE, after an isolate-closer of no isolate.
    monkeypatch.setitem(customer, "first_name", f"{PDI}{RLO}olleh")
    ticket = new_ticket(sandbox, customer, assignee=None, subject=f"{RLO}lecrap ym si erehW")
    view = SavedView.objects.create(owner=lead, name=f"{RLO}maet", query="status=new", shared=True)
    page = desk

    page.goto(f"{live_server.url}/?status=new&ticket={ticket['id']}")
    facts = thread_panel(page).locator(".ticket-facts")
    expect(facts).to_contain_text(customer["email"])
    # The name reads "hello": its override holds inside it, and ends with it, so the e-mail
    # beside it keeps its own order.
    assert_reads_right_to_left(facts.locator(".person"), "olleh")
    assert_reads_left_to_right(facts.locator(".email"), customer["email"])

    # The tab's title, written by the server and then by the page's script as a thread opens
    # in place: the subject's override taken out, the rest of the title in its order.
    title = f"#{ticket['id']} lecrap ym si erehW · Status New"
    assert page.title().startswith(title)
    page.get_by_role("link", name="Close the thread").click()
    expect(page).not_to_have_title(re.compile(rf"^#{ticket['id']}"))
    page.locator(f"{ROWS}[data-ticket-id='{ticket['id']}'] a.subject").click()
    expect(page).to_have_title(re.compile(rf"^{re.escape(title)}"))
    page.goto(f"{live_server.url}{view.get_absolute_url()}")
    expect(page).to_have_title(re.compile(r"^maet \(\d+\) · Support desk$"))

    page.goto(f"{live_server.url}/wall/?status=new")
    row = page.locator(f"#board {ROWS}[data-ticket-id='{ticket['id']}']")
    expect(row).to_contain_text("Unassigned")
    assert_reads_left_to_right(row.locator(".w-who"), "Unassigned")

    page.goto(f"{live_server.url}/wall/links/")
    choice = page.locator(f"label.view-choice:has(input[value='{view.pk}'])")
    expect(choice).to_contain_text("Status: New")
    assert_reads_left_to_right(choice, "team · Status:")


# --- Names of any length -----------------------------------------------------------------------


@pytest.fixture
def long_names(sandbox, monkeypatch, lead):
    """A customer named with 10,001 characters (one word), an agent, a tag, team and own views
    and a display link each named with 80 characters (100, a link's most) that cannot break."""
    data = sandbox.data
    customer = next(u for u in data.customers if u["first_name"] and u["last_name"])
    monkeypatch.setitem(customer, "first_name", LONG_NAME)
    agent = data.agents[0]
    monkeypatch.setitem(agent, "first_name", WORD_80)
    ticket = new_ticket(sandbox, customer, assignee=agent["id"], tags=[WORD_80])
    team = SavedView.objects.create(owner=lead, name=WORD_80, query="status=new", shared=True)
    own = SavedView.objects.create(
        owner=lead, name=WORD_80[::-1], query=f"status=new&filter_text={WORD_80}", shared=False
    )
    link = DisplayLink(name=(WORD_80 * 2)[:100], filters="status=new", created_by=lead)
    secret = link.issue_secret()
    link.save()
    return {
        "ticket": ticket,
        "last_name": customer["last_name"],
        "team": team,
        "own": own,
        "link": link,
        "secret": secret,
    }


def assert_cards_hold_their_content(page):
    """No card's content (a table of views or links, say) spills past its edge."""
    spilled = page.evaluate(
        """[...document.querySelectorAll('.card')]
             .filter(card => card.scrollWidth > card.clientWidth)
             .map(card => card.querySelector('h2')?.textContent || card.className)"""
    )
    assert spilled == [], f"{page.url}: {spilled}"


def test_a_ten_thousand_character_name_keeps_its_row_short(desk, live_server, long_names):
    page = desk
    ticket_id = long_names["ticket"]["id"]
    for density in ("comfortable", "compact"):
        if density == "compact":
            page.get_by_role("button", name="Compact rows").click()
            expect(page.locator("body.density-compact")).to_have_count(1)
        else:
            page.goto(f"{live_server.url}/?status=new")
        row = page.locator(f"{ROWS}[data-ticket-id='{ticket_id}']")
        expect(row).to_be_visible()
        heights = dict(
            page.evaluate(
                """[...document.querySelectorAll('#ticket-rows tr[data-ticket-id]')]
                     .map(row => [row.dataset.ticketId, row.getBoundingClientRect().height])"""
            )
        )
        ours = heights.pop(str(ticket_id))
        # Before: 11,732 px. Now no taller than the page's rows of ordinary names.
        assert ours <= max(heights.values()), (density, ours, max(heights.values()))
        cell = row.locator(".col-people .person")
        lines = cell.evaluate(
            "e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)"
        )
        assert lines <= 2.05, (density, lines)  # clamped as subjects are
        assert_no_sideways_scroll(page)
    assert_no_axe_violations(page)

    # The whole name is in the ticket's thread.
    page.goto(f"{live_server.url}/tickets/{ticket_id}/")
    requester = page.locator(".ticket-facts .person")
    expect(requester).to_have_text(f"{LONG_NAME} {long_names['last_name']}")
    assert_no_sideways_scroll(page)


def test_long_unbreakable_names_make_no_page_scroll_sideways(desk, live_server, long_names):
    page = desk
    link = long_names["link"]
    for path in (
        "/views/",
        "/wall/links/",
        f"/views/{long_names['team'].pk}/",  # the sidebar, beside the list
        f"/wall/links/{link.pk}/revoke/",
        f"/views/{long_names['own'].pk}/delete/",
    ):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("h1")).to_have_count(1)
        assert_no_sideways_scroll(page)
        assert_cards_hold_their_content(page)
        assert_no_axe_violations(page)
    # The whole name, where a page clamps it: on hover.
    page.goto(f"{live_server.url}/views/")
    title = page.locator(f"[data-view-row='{long_names['team'].pk}'] .view-title")
    expect(title).to_have_attribute("title", WORD_80)

    for path in (link.path_for(long_names["secret"]), "/wall/?status=new"):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator(f"#board {ROWS}").first).to_be_visible()
        assert_no_sideways_scroll(page)
