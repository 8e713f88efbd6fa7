"""Counts read from the ticket index, in Chromium: the list's exact total, the sidebar's
counts and the wall's, each saying what time they are as of while no webhook keeps the index
live, with the wall still fitting its screen. Screenshots of both go to `SCREENSHOT_DIR` when
it is set."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboard.models import SavedView
from tests.test_browser_wall import assert_fits
from tests.test_index_counts import expected, indexed  # noqa: F401

pytestmark = pytest.mark.browser

WALL = "status=new&status=open&status=pending"


def screenshot(page, name, tmp_path):
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


def test_the_list_sidebar_and_wall_show_index_counts_as_of_their_walk(
    browser, live_server, sandbox, lead, indexed, settings, tmp_path  # noqa: F811
):  # fmt: skip
    settings.STORE_VIEW_COUNTS = True
    indexed(live=False, walked=timedelta(minutes=7))
    for position, query in enumerate(["status=open", "priority=high", "filter_text=refund"]):
        SavedView.objects.create(
            name=f"View {position + 1}", query=query, owner=lead, position=position
        )
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/?status=closed")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()

    total = page.locator("#list-total")
    expect(total).to_have_attribute("data-total", str(expected(sandbox, "status=closed")))
    expect(total).to_contain_text("counts as of")
    expect(total.locator("time[data-counts-as-of]")).to_be_visible()
    as_of = page.locator("#views-as-of")
    expect(as_of).to_be_visible()
    expect(as_of).to_contain_text("Counts as of")
    count = page.locator("[data-view-count='all']")
    expect(count).to_have_text(str(len(sandbox.data.tickets)))
    # The sidebar's poller swaps its counts and their time in place, and they stay.
    expect(page.locator("#views-poll[data-hx-trigger='load delay:1s']")).to_have_count(0)
    expect(as_of).to_be_visible()
    screenshot(page, "list-index-counts", tmp_path)

    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{live_server.url}/wall/?{WALL}")
    expect(page.locator(".count-total")).to_contain_text("counts as of")
    assert_fits(page)
    screenshot(page, "wall-index-counts", tmp_path)
    context.close()
