"""Picking a customer by name in a real browser: several customers who share a name are a
question, each choice with their e-mail and how many tickets they have, and the one picked is
shown by name in the Requester box while the address holds their id, as the filters change
around it. axe-core checks the question and the list it leads to. The screens, at 1440x900, go
to `PICKER_SCREENSHOTS` when it is set (docs/images, for the README)."""

import os
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import expect

from tests.html import ROWS
from tests.test_accessibility import assert_no_axe_violations
from tests.test_index_counts import indexed  # noqa: F401
from tests.test_names import namesakes

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("PICKER_SCREENSHOTS", "")
UNSOLVED = ("new", "open", "pending")


def shot(page, name):
    if SHOTS:
        page.mouse.move(0, 0)  # no hover on the shot
        page.screenshot(path=os.path.join(SHOTS, name), full_page=False)


@pytest.fixture
def desk(browser, live_server, lead):
    """A person signed in at 1440x900, on the unsolved tickets."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/?status=unsolved")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(ROWS).first).to_be_visible()
    yield page
    context.close()


def test_a_shared_name_asks_which_customer_and_the_one_picked_keeps_their_name(
    desk,
    live_server,
    sandbox,
    indexed,  # noqa: F811
):
    indexed()
    page = desk
    name, people, theirs, kept = namesakes(sandbox, UNSOLVED)
    likelier = max(people, key=lambda c: len(kept[c["id"]]))

    page.get_by_text("More filters").click()
    box = page.get_by_label("Requester")
    box.fill(name)
    box.press("Enter")

    # A question, not an error: no red alert, the box is not marked invalid, and each choice
    # says who it is and how many of their tickets these filters keep.
    question = page.get_by_role("region", name=re.compile("Which customer"))
    expect(question).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(box).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("[data-field-question=requester]")).to_contain_text(name)
    picks = question.get_by_role("link")
    expect(picks).to_have_count(2)
    first = picks.first
    expect(first).to_contain_text(likelier["email"])
    listed = len(kept[likelier["id"]])
    expect(first).to_contain_text(f"{len(theirs[likelier['id']])} tickets, {listed} with")
    other = next(c for c in people if c is not likelier)
    expect(picks.nth(1)).to_contain_text(other["email"])
    expect(picks.nth(1)).to_contain_text("none with these filters")
    shot(page, "picker-after-choices.png")
    assert_no_axe_violations(page)

    # Picked: the address is the bookmark with their id, the box shows their name.
    first.click()
    expect(page).to_have_url(f"{live_server.url}/?status=unsolved&requester={likelier['id']}")
    expect(page.locator(ROWS)).to_have_count(min(listed, sandbox.page_size))
    box = page.get_by_label("Requester")
    expect(box).to_have_value(name)
    expect(page.locator("[data-shown-requester]")).to_have_text(likelier["email"])
    shot(page, "picker-after-picked.png")
    assert_no_axe_violations(page)

    # Another filter changes the list in place: the name still stands for the one picked, and
    # the address still holds their id (no question again).
    page.select_option("select[name=priority]", "low")
    expect(page).to_have_url(re.compile(r"priority=low"))
    query = dict(parse_qsl(urlsplit(page.url).query))
    assert query["requester"] == str(likelier["id"])
    expect(page.get_by_role("region", name=re.compile("Which customer"))).to_have_count(0)
    expected = [
        t["id"]
        for t in theirs[likelier["id"]]
        if t["status"] in UNSOLVED and t["priority"] == "low"
    ]
    expect(page.locator(ROWS)).to_have_count(min(len(expected), sandbox.page_size))
    expect(box).to_have_value(name)

    # And reloaded, the bookmark shows the name, not the id.
    page.reload()
    expect(page.get_by_label("Requester")).to_have_value(name)
