"""Saved views in a real browser: saving one from the list, its count arriving in the sidebar,
the menu on narrow screens, the views page without JavaScript, and display links picked from
views (a view of "Mine" for an agent picked in its place), their URL copied, and revoked after
confirming."""

import re
from urllib.parse import parse_qsl

import pytest
from playwright.sync_api import expect

from dashboard.budget import worker
from dashboard.models import DisplayLink, SavedView
from tests.test_browser import signed_in_page  # noqa: F401

pytestmark = pytest.mark.browser


def sign_in(page, live_server, path="/"):
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}{path}")
    return page


def sidebar(page):
    return page.get_by_role("navigation", name="Views")


def csp_violations(page):
    found = []
    page.on("console", lambda m: "Content Security Policy" in m.text and found.append(m.text))
    return found


@pytest.fixture
def counting(settings):
    settings.STORE_VIEW_COUNTS = True
    yield
    worker.drain()


@pytest.mark.usefixtures("signed_in_page")  # on /?status=open
def test_save_a_view_and_watch_its_count_arrive(page, live_server, sandbox, counting):
    violations = csp_violations(page)
    sandbox.configure(page_size=5)  # a walk of several steps
    page.get_by_text("Save this view", exact=True).click()
    page.get_by_label("Name").fill("Waiting on us")
    page.get_by_label("Share with the team").check()
    page.get_by_role("button", name="Save view").click()

    view = SavedView.objects.get(name="Waiting on us")
    assert view.shared and view.query == "status=open"
    expect(page).to_have_url(f"{live_server.url}/views/{view.pk}/")
    link = sidebar(page).locator(f"a[data-view='{view.pk}']")
    expect(link).to_have_attribute("aria-current", "page")
    expect(link).to_contain_text("Waiting on us")
    expect(page.locator("input[name=status][value=open]")).to_be_checked()

    # The page came without a count; the sidebar's poller brings it, exact once counted.
    total = len(sandbox.data.filter_tickets(parse_qsl(view.query)))
    expect(link.locator("[data-view-count]")).to_have_text(str(total), timeout=20_000)
    # A longer walk says how far it has got meanwhile.
    expect(sidebar(page).locator("[data-view-count='all']")).to_have_text(
        re.compile(r"^at least \d+, counting$")
    )

    # Changing a filter leaves the view for the plain list.
    page.select_option("select[name=priority]", "high")
    expect(page).to_have_url(f"{live_server.url}/?status=open&priority=high")
    expect(link).not_to_have_attribute("aria-current", "page")
    assert violations == []


def test_narrow_screens_show_the_views_as_a_menu(browser, live_server, lead, sandbox):
    SavedView.objects.create(owner=lead, name="Open", query="status=open", shared=True)
    narrow = browser.new_context(viewport={"width": 390, "height": 844})
    page = sign_in(narrow.new_page(), live_server, "/views/all/")
    menu = sidebar(page).locator("summary")
    open_view = sidebar(page).get_by_role("link", name=re.compile("^Open"))
    expect(menu).to_be_visible()
    expect(menu).to_contain_text("All tickets")  # the view shown, named in the menu
    expect(open_view).to_be_hidden()
    menu.click()
    expect(open_view).to_be_visible()
    open_view.click()
    expect(page.locator("input[name=status][value=open]")).to_be_checked()
    narrow.close()

    wide = browser.new_context(viewport={"width": 1440, "height": 900})
    page = sign_in(wide.new_page(), live_server, "/views/all/")
    expect(sidebar(page).locator("summary")).to_be_hidden()
    expect(sidebar(page).get_by_role("link", name=re.compile("^Open"))).to_be_visible()
    wide.close()


def test_views_are_saved_renamed_reordered_and_deleted_without_javascript(
    browser, live_server, lead, sandbox
):
    context = browser.new_context(java_script_enabled=False)
    page = sign_in(context.new_page(), live_server, "/?status=new")
    for name in ("New", "Also new"):
        page.get_by_text("Save this view", exact=True).click()
        page.get_by_label("Name").fill(name)
        page.get_by_role("button", name="Save view").click()
        expect(page).to_have_url(re.compile(r"/views/\d+/$"))
        page.goto(f"{live_server.url}/?status=new")

    page.goto(f"{live_server.url}/views/")
    page.get_by_role("button", name="Move “Also new” up").click()
    names = page.locator("#my-views ~ table .view-title")
    expect(names).to_have_text(["Also new", "New"])

    page.locator("[data-view-row] details.rename").first.locator("summary").click()
    page.get_by_label("New name for “Also new”").fill("Fresh")
    page.get_by_role("button", name="Save name").first.click()
    expect(names).to_have_text(["Fresh", "New"])

    page.get_by_role("link", name="Delete “New”").click()
    expect(page.get_by_role("heading", name="Delete “New”?")).to_be_visible()
    page.get_by_role("button", name="Delete view").click()
    expect(names).to_have_text(["Fresh"])
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Fresh"]
    context.close()


@pytest.mark.usefixtures("signed_in_page")
def test_a_display_link_is_made_from_views_and_revoked_after_confirming(
    page, live_server, lead, sandbox
):
    SavedView.objects.create(owner=lead, name="High", query="priority=high", shared=True)
    SavedView.objects.create(owner=lead, name="Open", query="status=open", position=1)
    page.goto(f"{live_server.url}/wall/links/")
    page.get_by_role("checkbox", name=re.compile("^High")).check()
    page.get_by_role("checkbox", name=re.compile("^Open")).check()
    # "Open" is the person's own: everyone sees the link's name, so it needs one of its own.
    page.get_by_label("Name").fill("Floor screen")
    page.get_by_role("button", name="Create display link").click()
    expect(page.get_by_label("Display link URL")).to_have_value(re.compile("/display/"))
    link = DisplayLink.objects.get()
    assert link.filters == "priority=high\nstatus=open"
    row = page.locator(f"[data-link-id='{link.pk}']")
    expect(row).to_contain_text("Priority: High")

    row.get_by_role("link", name=re.compile("Revoke")).click()
    expect(page.get_by_role("heading", name=re.compile("Revoke"))).to_be_visible()
    page.get_by_role("link", name="Keep it").click()
    link.refresh_from_db()
    assert not link.is_revoked

    page.locator(f"[data-link-id='{link.pk}']").get_by_role(
        "link", name=re.compile("Revoke")
    ).click()
    page.get_by_role("button", name="Revoke display link").click()
    expect(page.locator(f"[data-link-id='{link.pk}']")).to_contain_text("Revoked")
    link.refresh_from_db()
    assert link.is_revoked


def test_a_sidebar_left_open_keeps_its_counts_past_the_agents_expiry_and_a_store_outage(
    page, live_server, sandbox, lead, counting, monkeypatch
):
    from dashboard import budget, store
    from dashboard.tickets import counts
    from dashboard.views import sidebar as sidebar_module

    monkeypatch.setattr(sidebar_module, "COUNTED_POLL", "1s")  # a minute, shortened
    maya = next(a for a in sandbox.data.agents if a["first_name"] == "Maya")
    lead.email = maya["email"]
    lead.save()
    SavedView.objects.create(owner=lead, name="My open", query="assignee=mine&status=open")
    view = SavedView.objects.get()
    expected = str(sum(1 for t in sandbox.data.tickets
                       if t["assignee"] == maya["id"] and t["status"] == "open"))  # fmt: skip
    sign_in(page, live_server)
    count = sidebar(page).locator(f"[data-view-count='{view.pk}']")
    expect(count).to_have_text(expected, timeout=30_000)
    mine = sidebar(page).locator("[data-view-count='mine']")
    expect(mine).to_have_text(re.compile(r"^\d+$"), timeout=30_000)

    # Fifteen minutes on: the agents' shared answer is gone (ten minutes), nothing but the
    # poller asks; then the store fails every count.
    store.forget_local()
    budget.forget(store.client.cache_key("users/", [("user_type", "dashboard")]))
    monkeypatch.setattr(counts, "MAX_AGE", 0)
    monkeypatch.setattr(counts, "STALE_AFTER", 2)
    sandbox.set_fault("server_error")
    expect(count).to_contain_text("stale", timeout=30_000)
    expect(count).to_contain_text(expected)
    expect(mine).not_to_be_empty()
    assert count.get_attribute("title").startswith("Counted")


@pytest.mark.usefixtures("signed_in_page")
def test_a_view_of_mine_is_shown_for_an_agent_and_the_new_links_url_is_copied(
    page, live_server, lead, sandbox, browser
):
    """A screen has nobody to be "Mine": the view says so and takes an agent instead. The new
    link's URL, shown once, is copied by a button that says so to screen readers."""
    from tests.test_accessibility import assert_no_axe_violations

    aiko = next(a for a in sandbox.data.agents if a["first_name"] == "Aiko")
    view = SavedView.objects.create(
        owner=lead, name="My open", query="status=open&assignee=mine", shared=True
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{live_server.url}/wall/links/")
    picker = page.locator(f"[data-view-needs-agent='{view.pk}']")
    expect(picker).to_contain_text("Uses Mine, which a wall has no one to be.")
    expect(page.get_by_text("No saved views to show yet")).to_have_count(0)
    assert_no_axe_violations(page)

    page.get_by_label("My open: Show it for").select_option(label="Aiko Tanaka")
    page.get_by_role("button", name="Create display link").click()
    url = page.get_by_label("Display link URL")
    expect(url).to_have_value(re.compile("/display/"))
    link = DisplayLink.objects.get()
    assert link.filters == f"status=open&assignee={aiko['id']}"
    assert link.name == "My open (Aiko Tanaka)"

    copy = page.get_by_role("button", name="Copy", exact=True)
    expect(copy).to_be_visible()
    copy.click()
    status = page.locator("[data-copy-status]")
    expect(status).to_have_text("Copied")
    expect(status).to_have_attribute("role", "status")
    assert page.evaluate("navigator.clipboard.readText()") == url.input_value()
    assert_no_axe_violations(page)


def test_without_a_clipboard_copy_selects_the_url_to_copy_by_hand(browser, live_server, lead):
    """Over plain HTTP a browser has no clipboard for scripts: the button selects the URL."""
    context = browser.new_context()
    context.add_init_script("delete Navigator.prototype.clipboard;")
    page = sign_in(context.new_page(), live_server, "/wall/links/")
    page.get_by_label("Name").fill("Support room")
    page.get_by_text("Advanced: type filters").click()
    page.get_by_label("Or type filters").fill("status=open")
    page.get_by_role("button", name="Create display link").click()
    url = page.get_by_label("Display link URL")
    expect(url).to_have_value(re.compile("/display/"))

    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("[data-copy-status]")).to_contain_text("press Ctrl+C")
    expect(url).to_be_focused()
    selected = url.evaluate("field => field.value.slice(field.selectionStart, field.selectionEnd)")
    assert selected == url.input_value()
    context.close()


def test_without_javascript_no_copy_button_is_shown(browser, live_server, lead):
    context = browser.new_context(java_script_enabled=False)
    page = sign_in(context.new_page(), live_server, "/wall/links/")
    page.get_by_label("Name").fill("Support room")
    page.get_by_text("Advanced: type filters").click()
    page.get_by_label("Or type filters").fill("status=open")
    page.get_by_role("button", name="Create display link").click()
    expect(page.get_by_label("Display link URL")).to_have_value(re.compile("/display/"))
    expect(page.get_by_role("button", name="Copy", exact=True)).to_be_hidden()
    context.close()
