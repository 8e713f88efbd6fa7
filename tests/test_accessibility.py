"""axe-core, with its default rules (best practices included), on every page people use, in
light and dark, under the pages' own strict Content Security Policy.

axe's source comes from the `axe-playwright-python` package. It is given to the page with
Playwright's `evaluate`, which no page's CSP governs, so nothing about the policy is loosened
for the test. A failure lists each rule broken, its impact and the elements that break it.
"""

from datetime import UTC, datetime, timedelta

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import expect

from tests import test_browser
from tests.html import ROWS
from tests.test_browser import hostile_ticket, subject_link, thread_panel

pytestmark = pytest.mark.browser

signed_in_page = test_browser.signed_in_page  # the fixture, shared

SCHEMES = ["light", "dark"]


def axe_violations(page):
    """What axe-core finds wrong with the page as it stands."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return results["violations"]


def describe(violations):
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            target = " > ".join(" ".join(part) if isinstance(part, list) else part
                                for part in node["target"])  # fmt: skip
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    {target}: {summary}")
    return "\n".join(lines)


def assert_no_axe_violations(page):
    """Zero violations of axe-core's default rules on `page`, or a readable list of them."""
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n{describe(violations)}"


@pytest.fixture(params=SCHEMES)
def scheme(request, page):
    page.emulate_media(color_scheme=request.param)
    return request.param


def open_list(page, url):
    page.goto(url)
    expect(page.locator(ROWS).first).to_be_visible()


def test_sign_in(page, live_server, scheme):
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert_no_axe_violations(page)


def test_the_list(signed_in_page, live_server, scheme):
    page = signed_in_page
    open_list(page, f"{live_server.url}/")  # every status, so every badge
    assert_no_axe_violations(page)


def test_the_list_in_compact_density(signed_in_page, live_server, scheme):
    page = signed_in_page
    open_list(page, f"{live_server.url}/")
    page.get_by_role("button", name="Compact rows").click()
    expect(page.locator("body.density-compact")).to_have_count(1)
    assert_no_axe_violations(page)


def test_the_list_on_a_narrow_screen(signed_in_page, live_server, scheme):
    page = signed_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    open_list(page, f"{live_server.url}/")
    assert_no_axe_violations(page)


def test_sign_in_after_a_wrong_password(page, live_server, lead, scheme):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_no_axe_violations(page)


def test_the_list_on_a_phone_with_its_filters_open(signed_in_page, live_server, scheme):
    page = signed_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    open_list(page, f"{live_server.url}/?status=open")
    page.locator(".filters-menu > summary").click()
    page.get_by_label("Priority").select_option("high")
    expect(page.locator(".filters-set")).to_have_text("2 set")
    assert_no_axe_violations(page)


def test_the_list_with_a_widened_thread_at_1280(signed_in_page, live_server, sandbox, scheme):
    page = signed_in_page
    page.set_viewport_size({"width": 1280, "height": 800})
    open_list(page, f"{live_server.url}/?status=open")
    row = page.locator(ROWS).first
    ticket = next(
        t for t in sandbox.data.tickets if t["id"] == int(row.get_attribute("data-ticket-id"))
    )
    subject_link(row, ticket["subject"]).click()
    thread_panel(page).get_by_role("button", name="Wider thread").click()
    expect(page.locator("body.thread-w-50")).to_have_count(1)
    assert_no_axe_violations(page)


def test_the_list_with_a_thread_open(signed_in_page, live_server, sandbox, scheme):
    page = signed_in_page
    # Pending has the palest badge colour: its row, selected, and the facts box.
    ticket = next(t for t in sandbox.data.tickets if t["status"] == "pending")
    open_list(page, f"{live_server.url}/?status=pending")
    row = page.locator(f"{ROWS}[data-ticket-id='{ticket['id']}']")
    subject_link(row, ticket["subject"]).click()
    expect(thread_panel(page).locator(f"[data-thread-id='{ticket['id']}']")).to_be_visible()
    assert_no_axe_violations(page)


def test_badges_and_marks_stay_readable_in_selected_and_current_rows(
    signed_in_page, live_server, sandbox, scheme
):
    """Every row at once as the open thread's row, then as the keyboard's current row: each
    status badge and age mark keeps its contrast on those backgrounds (a hovered row's is the
    selected one's)."""
    page = signed_in_page
    now = datetime.now(UTC)
    for hours, status in ((6, "pending"), (30, "pending"), (6, "closed"), (30, "open")):
        sandbox.data.add_ticket(status=status, created_at=now - timedelta(hours=hours))
    open_list(page, f"{live_server.url}/")
    expect(page.locator(f"{ROWS} .age-ageing").first).to_be_visible()
    expect(page.locator(f"{ROWS} .age-overdue").first).to_be_visible()
    for state in ("selected", "current"):
        page.locator(ROWS).evaluate_all(
            """(rows, state) => rows.forEach(row => {
                row.classList.toggle("is-selected", state === "selected");
                if (state === "current") row.setAttribute("aria-current", "true");
                else row.removeAttribute("aria-current");
            })""",
            state,
        )
        assert_no_axe_violations(page)


def test_a_thread_page(signed_in_page, live_server, sandbox, scheme):
    page = signed_in_page
    ticket = max(sandbox.data.tickets[:50], key=lambda t: len(t["comments"]))
    page.goto(f"{live_server.url}/tickets/{ticket['id']}/")
    expect(page.locator(f"[data-thread-id='{ticket['id']}']")).to_be_visible()
    assert_no_axe_violations(page)


def test_the_signed_in_wall(signed_in_page, live_server, scheme):
    page = signed_in_page
    page.goto(f"{live_server.url}/wall/?status=new&status=open")
    expect(page.locator(f"#board {ROWS}").first).to_be_visible()
    assert_no_axe_violations(page)


def test_the_display_links_page(signed_in_page, live_server, lead, scheme):
    from dashboard.models import DisplayLink, SavedView

    SavedView.objects.create(owner=lead, name="Open", query="status=open")
    SavedView.objects.create(owner=lead, name="My open", query="status=open&assignee=mine")
    lobby = DisplayLink(name="Lobby", filters="status=new")
    lobby.issue_secret()
    lobby.save()
    gone = DisplayLink(name="Old screen", filters="priority=high")
    gone.issue_secret()
    gone.save()
    gone.revoke()
    page = signed_in_page
    page.goto(f"{live_server.url}/wall/links/")
    expect(page.locator("[data-link-id]")).to_have_count(2)
    expect(page.get_by_label("My open: Show it for")).to_be_visible()  # a view of Mine
    assert_no_axe_violations(page)

    # Just made: its URL is shown once, with a button to copy it.
    page.get_by_label("Name").fill("Support room")
    page.get_by_text("Advanced: type filters").click()
    page.get_by_label("Filters").fill("status=open")
    page.get_by_role("button", name="Create display link").click()
    expect(page.get_by_label("Display link URL")).to_be_visible()
    expect(page.get_by_role("button", name="Copy", exact=True)).to_be_visible()
    assert_no_axe_violations(page)


def test_a_display_link_screen(page, live_server):
    from dashboard.models import DisplayLink

    link = DisplayLink(name="Support room", filters="status=new&status=open")
    secret = link.issue_secret()
    link.save()
    page.goto(live_server.url + link.path_for(secret))
    expect(page.locator(f"#board {ROWS}").first).to_be_visible()
    assert_no_axe_violations(page)


def test_hostile_content_leaves_the_pages_accessible(signed_in_page, live_server, sandbox):
    page = signed_in_page
    ticket = hostile_ticket(sandbox)
    open_list(page, f"{live_server.url}/?status=new")
    assert_no_axe_violations(page)

    row = page.locator(f"{ROWS}[data-ticket-id='{ticket['id']}']")
    subject_link(row, ticket["subject"]).click()
    expect(thread_panel(page).locator(f"[data-thread-id='{ticket['id']}']")).to_be_visible()
    assert_no_axe_violations(page)

    page.goto(f"{live_server.url}/tickets/{ticket['id']}/")
    assert_no_axe_violations(page)

    page.goto(f"{live_server.url}/wall/?status=new")
    expect(page.locator(f"#board [data-ticket-id='{ticket['id']}']")).to_be_visible()
    assert_no_axe_violations(page)


def test_the_check_finds_what_it_should(page, live_server):
    """The helper is not blind: a page made to break two rules fails with both named."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate("document.querySelector('h1').remove();document.querySelector('label').remove();")
    with pytest.raises(AssertionError) as failure:
        assert_no_axe_violations(page)
    message = str(failure.value)
    assert "page-has-heading-one (moderate)" in message
    assert "label (critical)" in message
    assert "#id_username" in message


def test_the_list_with_the_shortcuts_dialog_open(signed_in_page, live_server, scheme):
    page = signed_in_page
    open_list(page, f"{live_server.url}/")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    assert_no_axe_violations(page)


def test_a_thread_opened_from_its_address(signed_in_page, live_server, sandbox, scheme):
    page = signed_in_page
    ticket = next(t for t in sandbox.data.tickets if t["status"] == "pending")
    page.goto(f"{live_server.url}/?status=pending&ticket={ticket['id']}")
    expect(thread_panel(page).locator(f"[data-thread-id='{ticket['id']}']")).to_be_visible()
    assert_no_axe_violations(page)


def test_the_list_asking_which_customer_then_showing_the_one_picked(
    signed_in_page, live_server, sandbox, scheme
):
    from tests.test_names import namesakes

    name, people, _, _ = namesakes(sandbox, ("new", "open", "pending"))
    page = signed_in_page
    page.goto(f"{live_server.url}/?status=open&requester={name}")
    picks = page.locator("[data-question] [data-pick]")
    expect(picks).to_have_count(len(people))
    assert_no_axe_violations(page)

    picks.first.click()
    expect(page.get_by_label("Requester")).to_have_value(name)
    assert_no_axe_violations(page)
