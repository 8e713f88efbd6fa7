"""Pages that hold still as they load: nothing the page's script shows moves what is already
on screen (Cumulative Layout Shift, measured by the browser itself)."""

import pytest
from playwright.sync_api import expect

from tests.html import ROWS
from tests.test_browser import until_held

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

# Every layout shift the page makes, from its first paint, as Lighthouse counts them (none
# within half a second of a person's input).
WATCH_SHIFTS = """
window.layoutShifts = [];
window.shiftWatch = new PerformanceObserver(list => {
  for (const entry of list.getEntries()) {
    if (entry.hadRecentInput) continue;
    window.layoutShifts.push({
      value: entry.value,
      moved: entry.sources.map(s => (s.node && (s.node.outerHTML || s.node.nodeName) || "?")
        .slice(0, 80)),
    });
  }
});
window.shiftWatch.observe({type: "layout-shift", buffered: true});
"""

PAINTED = "() => performance.getEntriesByName('first-contentful-paint').length > 0"

# The shifts seen so far, those not yet reported included.
SHIFTS = """() => {
  for (const entry of window.shiftWatch.takeRecords()) {
    if (!entry.hadRecentInput) window.layoutShifts.push({value: entry.value, moved: []});
  }
  return window.layoutShifts;
}"""


@pytest.fixture
def phone(browser, live_server, lead):
    """A page at a phone's width, signed in by another page of the same browser: the page
    measured has had no input at all."""
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(10_000)
    signing_in = context.new_page()
    signing_in.goto(f"{live_server.url}/accounts/login/?next=/")
    signing_in.get_by_label("Username").fill("lead")
    signing_in.get_by_label("Password").fill("a-long-test-password")
    signing_in.get_by_role("button", name="Sign in").click()
    expect(signing_in.locator(ROWS).first).to_be_visible()
    signing_in.close()
    yield context.new_page()
    context.close()


def test_the_list_holds_still_as_it_loads_on_a_phone(phone, live_server, settings):
    """As on a phone's network: the page paints before its script has arrived (held here
    until then), and what the script then shows takes no place from what is on screen."""
    settings.SANDBOX = False  # a real store's header: no badge, the links beside the name
    held = []
    phone.route("**/dashboard/app.js", lambda route: held.append(route))
    phone.add_init_script(WATCH_SHIFTS)
    phone.goto(f"{live_server.url}/?status=new&status=open", wait_until="commit")
    first = phone.locator(ROWS).first
    expect(first).to_be_visible()
    phone.wait_for_function(PAINTED)
    painted = first.bounding_box()
    until_held(phone, held)
    assert len(held) == 1
    held[0].continue_()
    expect(phone.get_by_role("button", name="Keyboard shortcuts")).to_be_visible()
    assert first.bounding_box() == painted  # the script's controls had their place already
    # What comes later still: the total, the views' counts, names.
    expect(phone.locator("#list-total[data-total]")).to_have_count(1)
    phone.wait_for_load_state("networkidle")
    shifts = phone.evaluate(SHIFTS)
    assert sum(shift["value"] for shift in shifts) < 0.1, shifts
