"""The desk as a lead works it all day, in a real browser: tabs named for what they show, keys
that never land in a text box by accident, and the focus where the person left it."""

import re
from urllib.parse import parse_qsl

import pytest
from playwright.sync_api import expect

from dashboard.models import SavedView
from tests.html import ROWS
from tests.test_browser import signed_in_page, subject_link, thread_panel  # noqa: F401
from tests.test_bulk import live_index, triager  # noqa: F401
from tests.test_index_counts import indexed  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("signed_in_page")]

FOCUSED_ROW = "() => document.activeElement.closest('tr[data-ticket-id]')?.dataset.ticketId"
SITE = "Support desk"


def ticket(sandbox, ticket_id):
    return next(t for t in sandbox.data.tickets if t["id"] == int(ticket_id))


def listed(sandbox, query):
    return sandbox.data.filter_tickets(parse_qsl(query))


def open_thread(page, sandbox, row):
    ticket_id = row.get_attribute("data-ticket-id")
    subject_link(row, ticket(sandbox, ticket_id)["subject"]).click()
    thread = thread_panel(page).locator(f"[data-thread-id='{ticket_id}']")
    expect(thread).to_be_visible()
    return ticket_id, thread


# --- Titles -----------------------------------------------------------------------------------


def test_the_tab_says_the_filters_the_total_and_the_open_thread(page, live_server, sandbox):
    sandbox.configure(page_size=50)  # the lists below fit on their first page
    total = len(listed(sandbox, "status=open"))
    assert 0 < total <= sandbox.page_size  # the whole list on one page: its total is exact
    expect(page).to_have_title(f"Status Open ({total}) · {SITE}")

    row = page.locator(ROWS).nth(1)
    ticket_id, _ = open_thread(page, sandbox, row)
    subject = " ".join(ticket(sandbox, ticket_id)["subject"].split())
    expect(page).to_have_title(re.compile(rf"^#{ticket_id} "))
    title = page.title()
    assert title == f"#{ticket_id} {subject} · Status Open ({total}) · {SITE}"
    assert title.startswith(f"#{ticket_id} ")
    assert title.endswith(f" · Status Open ({total}) · {SITE}")

    # The same address opened fresh: the server names it so, without waiting for a script.
    fresh = page.context.new_page()
    fresh.route(re.compile(r"/static/dashboard/app\.js"), lambda route: route.abort())
    fresh.goto(page.url)
    assert fresh.title() == title
    fresh.close()

    page.get_by_role("link", name="Close the thread").click()
    expect(thread_panel(page)).to_be_hidden()
    expect(page).to_have_title(f"Status Open ({total}) · {SITE}")

    # Other filters, swapped in place: the title follows them.
    page.check("input[name=status][value=new]")
    expect(page).to_have_url(re.compile(r"status=new&status=open"))
    both = len(listed(sandbox, "status=new&status=open"))
    assert both <= sandbox.page_size  # one page: the swapped list's total is exact
    expect(page).to_have_title(f"Status New, Open ({both}) · {SITE}")


def test_a_saved_view_is_named_with_its_count(page, live_server, sandbox, lead):
    view = SavedView.objects.create(
        owner=lead, name="Urgent for me", query="priority=high", shared=False
    )
    total = len(listed(sandbox, "priority=high"))
    assert total
    page.goto(f"{live_server.url}{view.get_absolute_url()}")
    expect(page).to_have_title(f"Urgent for me ({total}) · {SITE}")
    row = page.locator(ROWS).first
    ticket_id, _ = open_thread(page, sandbox, row)
    expect(page).to_have_title(re.compile(rf"^#{ticket_id} .* · Urgent for me \({total}\) · "))


def test_a_total_the_ticket_index_knows_is_in_the_title(
    page, live_server, sandbox, indexed  # noqa: F811
):  # fmt: skip
    indexed(live=False)
    page.goto(f"{live_server.url}/?status=closed")
    expect(page.locator(ROWS).first).to_be_visible()
    total = len(listed(sandbox, "status=closed"))
    assert total > sandbox.page_size  # more than a page: the index knows the total
    expect(page.locator("#list-total")).to_have_attribute("data-total", str(total))
    assert page.title() == f"Status Closed ({total}) · {SITE}"


# --- Keys -------------------------------------------------------------------------------------


def test_esc_leaves_the_search_box_and_j_is_never_typed_into_it(page, live_server):
    search = page.locator("#filters [name=filter_text]")
    rows = page.locator(ROWS)
    expect(rows.first).to_be_visible()
    search.click()
    page.keyboard.type("refund")
    page.keyboard.press("Escape")
    expect(search).not_to_be_focused()
    expect(page).to_have_url(re.compile(r"filter_text=refund"))  # leaving it searched
    expect(rows.first).to_be_visible()
    page.keyboard.press("Control+a")  # nothing in particular: the page, not the box
    page.keyboard.press("j")
    expect(search).to_have_value("refund")
    expect(rows.first).to_have_attribute("aria-current", "true")
    page.keyboard.press("j")
    expect(search).to_have_value("refund")
    expect(page).not_to_have_url(re.compile(r"filter_text=[^&]*j"))

    # An empty box, the same: Esc, then j moves the list.
    search.click()
    search.fill("")
    page.keyboard.press("Escape")
    expect(search).not_to_be_focused()
    page.keyboard.press("j")
    expect(search).to_have_value("")


def test_keys_in_a_box_the_page_focused_are_the_lists(page, live_server):
    """A box that got the focus while new content was swapped in (not by the person) takes no
    j: that is the list's key."""
    search = page.locator("#filters [name=filter_text]")
    rows = page.locator(ROWS)
    expect(rows.first).to_be_visible()
    page.evaluate(
        """() => {
            const box = document.querySelector('#filters [name=filter_text]');
            document.addEventListener('htmx:afterSwap', () => box.focus(), { once: true });
        }"""
    )
    page.get_by_label("Priority").select_option("high")  # swaps the results in place
    expect(search).to_be_focused()
    page.keyboard.press("j")
    expect(search).to_have_value("")
    expect(search).not_to_be_focused()
    expect(rows.first).to_have_attribute("aria-current", "true")
    # A box the person puts the focus in takes every key.
    search.click()
    page.keyboard.type("jx")
    expect(search).to_have_value("jx")


def test_closing_the_shortcuts_returns_the_focus(page):
    rows = page.locator(ROWS)
    expect(rows.first).to_be_visible()
    page.keyboard.press("j")
    page.keyboard.press("j")
    second = rows.nth(1).get_attribute("data-ticket-id")
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate(FOCUSED_ROW) == second
    page.keyboard.press("?")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    assert page.evaluate(FOCUSED_ROW) == second

    button = page.get_by_role("navigation", name="Main").get_by_role(
        "button", name="Keyboard shortcuts"
    )
    button.click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(button).to_be_focused()


def test_j_and_k_move_the_open_thread_with_the_current_row(page, live_server, sandbox):
    rows = page.locator(ROWS)
    list_url = f"{live_server.url}/?status=open"
    first, thread = open_thread(page, sandbox, rows.first)
    ids = rows.evaluate_all("rs => rs.map(r => r.dataset.ticketId)")
    panel = thread_panel(page)

    page.keyboard.press("j")
    expect(panel.locator(f"[data-thread-id='{ids[1]}']")).to_be_visible()
    expect(rows.nth(1)).to_have_attribute("aria-current", "true")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bis-selected\b"))
    expect(page).to_have_url(f"{list_url}&ticket={ids[1]}")
    page.keyboard.press("j")
    expect(panel.locator(f"[data-thread-id='{ids[2]}']")).to_be_visible()
    page.keyboard.press("k")
    expect(panel.locator(f"[data-thread-id='{ids[1]}']")).to_be_visible()
    expect(page).to_have_url(f"{list_url}&ticket={ids[1]}")
    expect(page).to_have_title(re.compile(rf"^#{ids[1]} "))
    expect(rows.first).not_to_have_class(re.compile(r"\bis-selected\b"))

    # Stepping through threads is one entry in the history: Back is the list.
    page.go_back()
    expect(panel).to_be_hidden()
    expect(page).to_have_url(list_url)

    # j held down: the last thread asked for is the one shown.
    open_thread(page, sandbox, rows.first)
    for _ in range(4):
        page.keyboard.press("j")
    expect(panel.locator(f"[data-thread-id='{ids[4]}']")).to_be_visible()
    expect(page).to_have_url(f"{list_url}&ticket={ids[4]}")
    expect(rows.nth(4)).to_have_attribute("aria-current", "true")


def test_keys_rest_in_the_triage_form(page, live_server, sandbox, triager, live_index):  # noqa: F811
    page.reload()  # as one who may change tickets
    rows = page.locator(ROWS)
    ticket_id, thread = open_thread(page, sandbox, rows.first)
    form = thread.locator("form.triage-form")
    expect(form).to_be_visible()
    for field in form.locator("select, textarea, input:not([type=hidden])").all():
        if not field.is_visible():
            continue
        field.focus()
        for key in ("j", "k", "x"):
            field.press(key)
        expect(rows.first).to_have_attribute("aria-current", "true")  # the open thread's
        expect(page.locator(f"{ROWS}[aria-current='true']")).to_have_count(1)
        expect(thread_panel(page).locator(f"[data-thread-id='{ticket_id}']")).to_be_visible()
    picks = page.locator("#ticket-rows input.pick:checked")
    expect(picks).to_have_count(0)
    note = form.locator("textarea")
    if note.count():
        note.first.click()
        page.keyboard.type("jkx")
        expect(note.first).to_have_value(re.compile("jkx$"))
        page.keyboard.press("Escape")  # leaves the note for the thread, which stays open
        expect(note.first).not_to_be_focused()
        expect(thread.get_by_role("heading", level=2)).to_be_focused()

    # Out of the form, x still ticks the current row.
    page.keyboard.press("Escape")
    expect(thread_panel(page)).to_be_hidden()
    page.keyboard.press("x")
    expect(picks).to_have_count(1)


def test_a_wrong_password_puts_the_focus_in_the_password_box(browser, live_server, lead):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        expect(page.get_by_label("Username")).to_be_focused()
        page.get_by_label("Username").fill("lead")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()
        expect(page.get_by_label("Password")).to_be_focused()
        expect(page.get_by_label("Username")).to_have_value("lead")
    finally:
        context.close()


# --- The desk at 1280 and 1440 px --------------------------------------------------------------

NO_SIDEWAYS_SCROLL = """() => {
    const page = document.scrollingElement;
    const table = document.querySelector('.table-scroll');
    return page.scrollWidth <= page.clientWidth && table.scrollWidth <= table.clientWidth;
}"""

HIDDEN_COLUMNS = """() => [...document.querySelectorAll('.tickets thead th')]
    .filter(th => th.getBoundingClientRect().width < 1
        || getComputedStyle(th).visibility !== 'visible')
    .map(th => th.textContent.trim())"""


@pytest.mark.parametrize("width", [1280, 1440])
def test_the_default_density_fits_every_column_without_scrolling_sideways(
    page, live_server, sandbox, width, triager  # noqa: F811
):  # fmt: skip
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/?status=open")  # with the bulk boxes: the widest rows
    rows = page.locator(ROWS)
    expect(rows.first).to_be_visible()
    expect(page.locator("body.density-compact")).to_have_count(0)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    assert page.evaluate(HIDDEN_COLUMNS) == []
    updated = page.get_by_role("columnheader", name="Updated")
    expect(updated).to_be_in_viewport()
    box = updated.bounding_box()
    assert box["x"] + box["width"] <= width

    # Beside an open thread the list still fits, the subject the widest of its columns.
    ticket_id, _ = open_thread(page, sandbox, rows.first)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    subject = page.get_by_role("columnheader", name="Subject").bounding_box()["width"]
    status = page.get_by_role("columnheader", name="Status").bounding_box()["width"]
    assert subject > status and subject >= 200
    # No row grows tall from columns it hides.
    assert rows.first.bounding_box()["height"] < 120


def test_the_thread_panel_widens_and_stays_wide_for_the_person(
    page, live_server, sandbox, browser, lead
):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/?status=open")
    _, thread = open_thread(page, sandbox, page.locator(ROWS).first)
    panel = page.locator("#thread-panel")
    before = panel.bounding_box()["width"]
    assert before >= 440  # wider than it was (about 400 px) from the start

    page.evaluate("window.notReloaded = true")
    thread.get_by_role("button", name="Wider thread").click()
    expect(thread.locator(".width-switch[data-thread-width='50']")).to_have_count(1)
    page.wait_for_function(
        "w => document.getElementById('thread-panel').getBoundingClientRect().width > w + 50",
        arg=before,
    )
    assert page.evaluate("window.notReloaded") is True  # swapped in place
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    wider = panel.bounding_box()["width"]

    page.reload()
    expect(thread_panel(page).locator("[data-thread-id]")).to_be_visible()
    assert abs(panel.bounding_box()["width"] - wider) < 2

    # Another browser, the same person: the width came along with the account.
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        elsewhere = context.new_page()
        elsewhere.goto(f"{live_server.url}/accounts/login/?next=/%3Fstatus%3Dopen")
        elsewhere.get_by_label("Username").fill("lead")
        elsewhere.get_by_label("Password").fill("a-long-test-password")
        elsewhere.get_by_role("button", name="Sign in").click()
        expect(elsewhere.locator("body.thread-w-50")).to_have_count(1)
    finally:
        context.close()

    # Back to narrower, down to the narrowest, where the button rests.
    narrower = thread_panel(page).get_by_role("button", name="Narrower thread")
    for width in (42, 36):
        narrower.click()
        expect(page.locator(f"body.thread-w-{width}")).to_have_count(1)
    expect(narrower).to_be_disabled()
    assert panel.bounding_box()["width"] < before


def test_the_thread_width_works_without_javascript(browser, live_server, lead, sandbox):
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1440, "height": 900}
    )
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/%3Fstatus%3Dopen")
        page.get_by_label("Username").fill("lead")
        page.get_by_label("Password").fill("a-long-test-password")
        page.get_by_role("button", name="Sign in").click()
        ticket_id = page.locator(ROWS).first.get_attribute("data-ticket-id")
        page.goto(f"{live_server.url}/?status=open&ticket={ticket_id}")
        page.get_by_role("button", name="Wider thread").click()
        expect(page).to_have_url(f"{live_server.url}/?status=open&ticket={ticket_id}")
        expect(page.locator("body.thread-w-50")).to_have_count(1)
    finally:
        context.close()


# --- Phone ------------------------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}


def test_on_a_phone_the_results_come_first_and_the_filters_fold_behind_a_button(
    page, live_server, sandbox
):
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/?status=open")
    rows = page.locator(ROWS)
    expect(rows.first).to_be_visible()
    # The first ticket is on the first screen, whole.
    assert rows.first.bounding_box()["y"] + rows.first.bounding_box()["height"] <= PHONE["height"]
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")

    filters = page.locator(".filters-menu > summary")
    expect(filters).to_be_visible()
    expect(filters).to_have_text(re.compile(r"^Filters\s+1 set$"))
    search = page.locator("#filters [name=filter_text]")
    expect(search).to_be_hidden()

    filters.click()
    expect(search).to_be_visible()
    page.get_by_label("Priority").select_option("high")
    expect(page).to_have_url(re.compile(r"priority=high"))
    expect(filters).to_have_text(re.compile(r"^Filters\s+2 set$"))
    found = len(listed(sandbox, "status=open&priority=high"))
    show = page.get_by_role("link", name=f"Show {found} ticket{'s' if found != 1 else ''}")
    expect(show).to_be_visible()  # what the change found, where the person is looking
    page.locator("#filters input[name=status][value=open]").uncheck()
    expect(filters).to_have_text(re.compile(r"^Filters\s+1 set$"))
    show = page.locator(".show-results")
    expect(show).to_have_text(re.compile(rf"^Show {len(listed(sandbox, 'priority=high'))} "))
    show.click()
    expect(search).to_be_hidden()
    expect(rows.first).to_be_in_viewport()

    # No filter set: the button says just "Filters".
    page.goto(f"{live_server.url}/?status=open")
    filters.click()
    page.locator("#filters input[name=status][value=open]").uncheck()
    expect(filters).to_have_text(re.compile(r"^Filters\s*$"))


def test_on_a_wide_screen_the_filters_are_always_shown(page, live_server):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/?status=open")
    expect(page.locator("#filters [name=filter_text]")).to_be_visible()
    expect(page.locator(".filters-menu > summary")).to_be_hidden()
    expect(page.locator(".show-results")).to_be_hidden()
