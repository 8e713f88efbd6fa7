"""The list a lead works in all day, in a real browser: the open thread in the address, Back
that keeps every loaded page, and the keyboard."""

import re

import pytest
from playwright.sync_api import expect

from tests.html import ROWS
from tests.test_browser import (  # noqa: F401
    signed_in_page,
    subject_link,
    thread_panel,
    until_held,
)

# Every test starts signed in, on the list of open tickets: `page` is that signed-in page.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("signed_in_page")]

FOCUSED_ROW = "() => document.activeElement.closest('tr[data-ticket-id]')?.dataset.ticketId"


def ticket(sandbox, ticket_id):
    return next(t for t in sandbox.data.tickets if t["id"] == int(ticket_id))


def row_ids(page):
    return page.locator(ROWS).evaluate_all("rs => rs.map(r => r.dataset.ticketId)")


def open_thread(page, sandbox, row):
    """Click a row's subject, as a person does; the thread that opens."""
    ticket_id = row.get_attribute("data-ticket-id")
    subject_link(row, ticket(sandbox, ticket_id)["subject"]).click()
    thread = thread_panel(page).locator(f"[data-thread-id='{ticket_id}']")
    expect(thread).to_be_visible()
    return ticket_id, thread


def test_an_open_thread_is_in_the_address_and_opens_fresh_from_it(page, live_server, sandbox):
    list_url = f"{live_server.url}/?status=open"
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    row = page.locator(ROWS).nth(2)
    ticket_id, thread = open_thread(page, sandbox, row)
    expect(page).to_have_url(f"{list_url}&ticket={ticket_id}")
    expect(row).to_have_class(re.compile(r"\bis-selected\b"))
    # The panel is announced by its heading taking the focus, not as a live region.
    panel = thread_panel(page)
    expect(panel).not_to_have_attribute("aria-live", re.compile(".*"))
    expect(panel).to_have_attribute("aria-busy", "false")
    expect(thread.get_by_role("heading", level=2)).to_be_focused()

    # "Copy link" copies that address, and says so.
    thread.get_by_role("link", name="Copy link").click()
    expect(thread.get_by_role("status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == page.url

    # Opened fresh, the address shows the same list, the same filters, the thread beside it.
    fresh = page.context.new_page()
    fresh.goto(page.url)
    expect(fresh).to_have_url(f"{list_url}&ticket={ticket_id}")
    expect(thread_panel(fresh).locator(f"[data-thread-id='{ticket_id}']")).to_be_visible()
    expect(fresh.locator("input[name=status][value=open]")).to_be_checked()
    assert row_ids(fresh) == row_ids(page)
    expect(fresh.locator(f"{ROWS}[data-ticket-id='{ticket_id}']")).to_have_class(
        re.compile(r"\bis-selected\b")
    )

    # Closing it there returns to the list's address, and the focus to its row.
    thread_panel(fresh).get_by_role("link", name="Close the thread").click()
    expect(thread_panel(fresh)).to_be_hidden()
    expect(fresh).to_have_url(list_url)
    assert fresh.evaluate(FOCUSED_ROW) == ticket_id
    fresh.go_back()  # Back reopens it: the thread was the page before
    expect(thread_panel(fresh).locator(f"[data-thread-id='{ticket_id}']")).to_be_visible()
    expect(fresh).to_have_url(f"{list_url}&ticket={ticket_id}")
    fresh.close()

    # Here, where it was opened from the list, Close is Back to the list; Forward reopens it.
    page.evaluate("window.notReloaded = true")
    thread.get_by_role("link", name="Close the thread").click()
    expect(page).to_have_url(list_url)
    expect(panel).to_be_hidden()
    page.go_forward()
    expect(page).to_have_url(f"{list_url}&ticket={ticket_id}")
    expect(thread_panel(page).locator(f"[data-thread-id='{ticket_id}']")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True


def test_back_closes_the_thread_and_keeps_every_loaded_page_and_the_scroll(
    page, live_server, sandbox
):
    sandbox.configure(page_size=20)
    list_url = f"{live_server.url}/?status=closed"
    page.goto(list_url)
    rows = page.locator(ROWS)
    for loaded in (40, 60):
        page.get_by_role("link", name="Load more").click()
        expect(rows).to_have_count(loaded)
    page.evaluate("window.notReloaded = true")

    row = rows.nth(50)
    row.scroll_into_view_if_needed()
    before_wheel = page.evaluate("window.scrollY")
    page.mouse.wheel(0, 200)
    # The wheel's scroll lands a moment later: measured once it has.
    page.wait_for_function("y => window.scrollY > 1000 && window.scrollY !== y", arg=before_wheel)
    scrolled = page.evaluate("window.scrollY")
    ticket_id, _ = open_thread(page, sandbox, row)
    expect(page).to_have_url(f"{list_url}&ticket={ticket_id}")

    page.go_back()
    expect(thread_panel(page)).to_be_hidden()
    expect(page).to_have_url(list_url)
    expect(rows).to_have_count(60)
    assert abs(page.evaluate("window.scrollY") - scrolled) < 50
    assert page.evaluate("window.notReloaded") is True  # the same page, not a fresh first page

    page.go_forward()  # and Forward opens it again, the list still whole
    expect(thread_panel(page).locator(f"[data-thread-id='{ticket_id}']")).to_be_visible()
    expect(rows).to_have_count(60)
    assert page.evaluate("window.notReloaded") is True


def test_changing_the_filters_keeps_the_thread_open_and_in_the_address(page, live_server, sandbox):
    ticket_id, thread = open_thread(page, sandbox, page.locator(ROWS).first)
    page.check("input[name=status][value=new]")
    expect(page).to_have_url(f"{live_server.url}/?status=new&status=open&ticket={ticket_id}")
    expect(thread).to_be_visible()
    # Back to the list as it was: another list, so the page is asked for afresh, thread and all.
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/?status=open&ticket={ticket_id}")
    expect(page.locator("input[name=status][value=new]")).not_to_be_checked()
    expect(thread_panel(page).locator(f"[data-thread-id='{ticket_id}']")).to_be_visible()


def test_keys_move_the_current_row_open_its_thread_and_close_it(page, live_server, sandbox):
    rows = page.locator(ROWS)
    current = page.locator(f"{ROWS}[aria-current='true']")
    expect(rows.first).to_be_visible()
    expect(current).to_have_count(0)  # none until the first key

    page.keyboard.press("j")
    expect(current).to_have_count(1)
    expect(rows.nth(0)).to_have_attribute("aria-current", "true")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows.nth(1)).to_have_attribute("aria-current", "true")
    expect(current).to_have_count(1)
    second = rows.nth(1).get_attribute("data-ticket-id")
    assert page.evaluate(FOCUSED_ROW) == second
    # Visibly marked, not only for assistive technology.
    assert rows.nth(1).evaluate("r => getComputedStyle(r).boxShadow") != "none"
    assert rows.nth(2).evaluate("r => getComputedStyle(r).boxShadow") == "none"

    page.keyboard.press("Enter")
    thread = thread_panel(page).locator(f"[data-thread-id='{second}']")
    expect(thread).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/?status=open&ticket={second}")
    expect(thread.get_by_role("heading", level=2)).to_be_focused()

    # With a thread open, j moves the current row and the thread with it, as a reading pane
    # does; the focus stays in the thread.
    page.keyboard.press("j")
    expect(rows.nth(2)).to_have_attribute("aria-current", "true")
    third = rows.nth(2).get_attribute("data-ticket-id")
    thread = thread_panel(page).locator(f"[data-thread-id='{third}']")
    expect(thread).to_be_visible()
    expect(thread.get_by_role("heading", level=2)).to_be_focused()
    expect(page).to_have_url(f"{live_server.url}/?status=open&ticket={third}")

    # Esc closes it and the focus returns to its row.
    page.keyboard.press("Escape")
    expect(thread_panel(page)).to_be_hidden()
    expect(page).to_have_url(f"{live_server.url}/?status=open")
    assert page.evaluate(FOCUSED_ROW) == third
    expect(rows.nth(2)).to_have_attribute("aria-current", "true")
    expect(page.locator(f"{ROWS}[data-ticket-id='{third}'] a.subject")).to_be_focused()


def test_slash_goes_to_the_search_and_keys_do_nothing_while_typing(page):
    search = page.locator("#filters [name=filter_text]")
    current = page.locator(f"{ROWS}[aria-current='true']")
    expect(page.locator(ROWS).first).to_be_visible()

    # In a select, or with a modifier held, the keys are not shortcuts.
    page.locator("select[name=priority]").focus()
    page.keyboard.press("j")
    page.locator("select[name=priority]").evaluate("field => field.blur()")
    page.keyboard.press("Alt+j")
    page.keyboard.press("Control+k")
    expect(current).to_have_count(0)

    page.keyboard.press("/")
    expect(search).to_be_focused()
    expect(search).to_have_value("")  # no slash typed into it
    page.keyboard.type("jko?/")
    expect(search).to_have_value("jko?/")
    expect(current).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_question_mark_lists_the_keys_in_a_dialog(page):
    expect(page.locator(ROWS).first).to_be_visible()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    keys = dialog.locator("kbd").all_inner_texts()
    for key in ("j", "k", "Enter", "Esc", "/", "?"):
        assert key in keys
    assert dialog.evaluate("d => d.open && d.matches(':modal')")
    page.keyboard.press("j")  # the list's keys rest while it is open
    expect(page.locator(f"{ROWS}[aria-current='true']")).to_have_count(0)
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # The main navigation offers it too; Esc closes it.
    page.get_by_role("navigation", name="Main").get_by_role(
        "button", name="Keyboard shortcuts"
    ).click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_skip_to_tickets_is_the_first_stop_and_lands_on_the_first_ticket(page):
    first = page.locator(ROWS).first
    expect(first).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to tickets")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box["y"] >= 0 and box["height"] > 10  # shown while it has the focus
    page.keyboard.press("Enter")
    expect(first.locator("a.subject")).to_be_focused()
    expect(page.locator(f"{ROWS}[aria-current='true']")).to_have_count(0)


def test_the_focus_stays_in_the_open_thread(page, sandbox):
    panel = thread_panel(page)
    _, thread = open_thread(page, sandbox, page.locator(ROWS).first)
    heading = thread.get_by_role("heading", level=2)
    expect(heading).to_be_focused()
    focusable = panel.locator("a[href], button, summary").evaluate_all(
        "els => els.filter(e => e.getClientRects().length).length"
    )
    in_panel = "() => document.getElementById('thread-panel').contains(document.activeElement)"
    for _ in range(focusable + 2):
        page.keyboard.press("Tab")
        assert page.evaluate(in_panel)
    heading.focus()
    page.keyboard.press("Shift+Tab")  # from the top, round to the last control
    assert page.evaluate(in_panel)
    assert page.evaluate(
        "() => { const all = [...document.querySelectorAll("
        "'#thread-panel :is(a[href], button:not([disabled]), summary)')]"
        ".filter(e => e.getClientRects().length); return document.activeElement === all.at(-1) }"
    )
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.locator(ROWS).first.locator("a.subject")).to_be_focused()


def test_the_panel_is_busy_while_a_thread_loads(page, sandbox):
    held = []
    page.route(re.compile(r"/tickets/\d+/"), lambda route: held.append(route))
    row = page.locator(ROWS).first
    ticket_id = row.get_attribute("data-ticket-id")
    subject_link(row, ticket(sandbox, ticket_id)["subject"]).click()
    expect(page.locator("#thread-panel")).to_have_attribute("aria-busy", "true")
    until_held(page, held)  # the thread was asked for
    held[0].continue_()
    expect(thread_panel(page).locator(f"[data-thread-id='{ticket_id}']")).to_be_visible()
    expect(thread_panel(page)).to_have_attribute("aria-busy", "false")


def test_a_corrected_filter_loses_its_error(page):
    expect(page.locator(ROWS).first).to_be_visible()
    page.get_by_text("More filters").click()
    products = page.get_by_label("Products")
    products.fill("twelve")
    products.press("Enter")
    error = page.locator("[data-field-error=product]")
    expect(error).to_contain_text("twelve")
    products.fill("12")
    products.press("Enter")
    expect(page).to_have_url(re.compile(r"product=12"))
    expect(error).to_have_count(0)
