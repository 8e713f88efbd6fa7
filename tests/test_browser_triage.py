"""Triage in a real browser: a change made from the thread beside the list updates the thread and
its row in place, and a ticket someone changed meanwhile is a conflict that keeps the person's
choices. axe-core checks the form, the result and the conflict."""

import os

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from tests.html import ROWS
from tests.test_accessibility import assert_no_axe_violations
from tests.test_browser import signed_in_page, subject_link, thread_panel  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Set to a directory to keep the screens a person sees (docs/images, for the README).
SHOTS = os.environ.get("TRIAGE_SCREENSHOTS", "")


@pytest.fixture
def triager_page(request, lead):
    # A browser test's database is emptied between tests (the migration's group with it);
    # Django makes the permissions again.
    lead.user_permissions.add(Permission.objects.get(codename="triage_tickets"))
    return request.getfixturevalue("signed_in_page")


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, name), full_page=False)


def new_ticket(sandbox):
    odd = set(sandbox.data.special_ticket_ids.values())
    return next(
        t
        for t in reversed(sandbox.data.tickets)
        if t["id"] not in odd
        and t["status"] == "new"
        and t["assignee"] is None
        and t["priority"] == "low"
    )


def open_thread(page, live_server, ticket):
    page.goto(f"{live_server.url}/?status=new")
    row = page.locator(f"{ROWS}[data-ticket-id='{ticket['id']}']")
    subject_link(row, ticket["subject"]).click()
    panel = thread_panel(page)
    expect(panel.locator(f"[data-thread-id='{ticket['id']}']")).to_be_visible()
    return row, panel


def test_a_change_from_the_thread_updates_the_thread_and_its_row_in_place(
    triager_page, live_server, sandbox
):
    page = triager_page
    page.set_viewport_size({"width": 1440, "height": 900})
    ticket = new_ticket(sandbox)
    row, panel = open_thread(page, live_server, ticket)
    form = panel.locator("form.triage-form")
    expect(form).to_be_visible()
    form.get_by_label("Status").select_option("open")
    form.get_by_label("Priority").select_option("high")
    form.get_by_label("Note", exact=True).fill("Asked the warehouse; back to the customer by noon.")
    expect(form.get_by_label("Internal note")).to_be_checked()
    shot(page, "triage-form.png")
    assert_no_axe_violations(page)

    form.get_by_role("button", name="Save changes").click()
    done = panel.locator("[data-triage-done]")
    expect(done).to_contain_text("status New → Open; priority Low → High")
    expect(done).to_contain_text("internal note added")
    # The thread shows the note, and the row beside it the new status, without a reload.
    expect(panel.locator(".comment-internal").last).to_contain_text("Asked the warehouse")
    expect(row.locator(".col-status")).to_contain_text("Open")
    assert sandbox.data.ticket(ticket["id"])["status"] == "open"
    assert_no_axe_violations(page)


def test_a_ticket_changed_meanwhile_is_a_conflict_that_keeps_the_choices(
    triager_page, live_server, sandbox
):
    page = triager_page
    page.set_viewport_size({"width": 1440, "height": 900})
    ticket = new_ticket(sandbox)
    _, panel = open_thread(page, live_server, ticket)
    form = panel.locator("form.triage-form")
    form.get_by_label("Status").select_option("solved")
    form.get_by_label("Note", exact=True).fill("Refund sent.")
    # A colleague changes the priority in the store's own admin meanwhile.
    agent = next(u["id"] for u in sandbox.data.users if u["user_type"] == "dashboard")
    sandbox.data.update_ticket(ticket["id"], {"priority": "high", "assignee": agent})
    form.get_by_role("button", name="Save changes").click()

    conflict = panel.locator("[data-conflict]")
    expect(conflict).to_contain_text("Someone changed this ticket while you had it open")
    expect(conflict).to_contain_text("Priority")
    expect(conflict).to_contain_text("High")
    form = panel.locator("form.triage-form")
    expect(form.get_by_label("Status")).to_have_value("solved")
    expect(form.get_by_label("Note", exact=True)).to_have_value("Refund sent.")
    expect(form.get_by_label("Priority")).to_have_value("high")  # the colleague's, kept
    assert sandbox.data.ticket(ticket["id"])["status"] == "new"  # nothing written
    shot(page, "triage-conflict.png")
    assert_no_axe_violations(page)

    form.get_by_role("button", name="Save changes").click()
    expect(panel.locator("[data-triage-done]")).to_contain_text("status New → Solved")
    changed = sandbox.data.ticket(ticket["id"])
    assert (changed["status"], changed["priority"], changed["assignee"]) == (
        "solved",
        "high",
        agent,
    )
