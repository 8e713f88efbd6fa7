"""HTMX behaviour in a real browser: Playwright driving Debian's Chromium."""

import re
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import expect

from tests.html import ROWS

pytestmark = pytest.mark.browser


def thread_panel(page):
    return page.get_by_role("complementary", name="Ticket thread")


def subject_link(row, subject):
    """The link that opens a ticket's thread: its subject, as a person clicks it."""
    return row.get_by_role("link", name=" ".join(subject.split()) or "(no subject)", exact=True)


def until_held(page, held, count=1, timeout=10.0):
    """Until `count` requests are held by a route handler that appends them to `held`. The
    handler runs only while Playwright reads its events, which a short wait lets it do: the
    request may be under way, and the page already busy, before the handler has run."""
    deadline = time.monotonic() + timeout
    while len(held) < count:
        assert time.monotonic() < deadline, f"{len(held)} of {count} requests held"
        page.wait_for_timeout(10)


@pytest.fixture
def signed_in_page(page, live_server, lead):
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/?status=open")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/%3Fstatus%3Dopen")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/?status=open")
    return page


def test_filter_load_more_to_the_end_and_open_a_thread(signed_in_page, live_server, sandbox):
    page = signed_in_page
    sandbox.configure(page_size=4)  # several pages from a filter of a dozen tickets

    # Apply a filter with the form: the list swaps in place and the address bar is the bookmark.
    page.check("input[name=status][value=new]")
    expect(page).to_have_url(f"{live_server.url}/?status=new&status=open")
    page.select_option("select[name=priority]", "high")
    expect(page).to_have_url(f"{live_server.url}/?status=new&status=open&priority=high")
    query = urlsplit(page.url).query
    expected = [t["id"] for t in sandbox.data.filter_tickets(parse_qsl(query))]
    assert len(expected) > sandbox.page_size  # the walk below needs more than one page

    rows = page.locator(ROWS)
    expect(rows).to_have_count(sandbox.page_size)

    # Load more until the end of the list.
    more = page.get_by_role("link", name="Load more")
    while more.count():
        before = rows.count()
        more.click()
        expect(rows).not_to_have_count(before)
    expect(page.get_by_text("End of list.")).to_be_visible()

    ids = [int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.ticketId)")]
    assert ids == expected
    expect(page).to_have_url(f"{live_server.url}/?{query}")  # load more never moves the bookmark

    # Open a thread inline: the list stays, the thread appears beside it, and the address is
    # the list's with the thread.
    ticket = next(t for t in sandbox.data.tickets if t["id"] == expected[0])
    subject_link(rows.first, ticket["subject"]).click()
    thread = thread_panel(page).locator(f"[data-thread-id='{ticket['id']}']")
    expect(thread).to_be_visible()
    expect(thread.locator("[data-comment-id]").first).to_be_visible()
    expect(rows).to_have_count(len(expected))
    expect(page).to_have_url(f"{live_server.url}/?{query}&ticket={ticket['id']}")

    # Back closes the thread; the whole list stays.
    page.go_back()
    expect(thread).to_be_hidden()
    expect(page).to_have_url(f"{live_server.url}/?{query}")
    expect(rows).to_have_count(len(expected))

    # Back and forward walk the bookmarks, one per change of filter, with the form to match.
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/?status=new&status=open")
    expect(page.locator("select[name=priority]")).to_have_value("")
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/?status=open")
    expect(page.locator("input[name=status][value=new]")).not_to_be_checked()
    expect(rows.first).to_be_visible()
    page.go_forward()
    expect(page).to_have_url(f"{live_server.url}/?status=new&status=open")
    expect(rows.first).to_be_visible()
    page.go_forward()
    expect(page).to_have_url(f"{live_server.url}/?{query}")
    expect(page.locator("select[name=priority]")).to_have_value("high")
    page.go_forward()
    expect(page).to_have_url(f"{live_server.url}/?{query}&ticket={ticket['id']}")
    expect(thread).to_be_visible()


def test_invalid_filter_shows_errors_in_place(signed_in_page, sandbox):
    page = signed_in_page
    expect(page.locator(ROWS).first).to_be_visible()
    page.get_by_text("More filters").click()
    products = page.get_by_label("Products")
    products.fill("12, twelve")
    products.press("Enter")
    expect(page.locator("[data-field-error=product]")).to_contain_text("twelve")
    expect(products).to_have_attribute("aria-invalid", "true")
    expect(page.locator(ROWS)).to_have_count(0)


@pytest.fixture
def wall_screen(browser, live_server):
    """A kiosk screen: 1920x1080, no session, nobody at the keyboard."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, errors
    context.close()


def test_display_link_board_refreshes_goes_stale_and_recovers(
    wall_screen, live_server, sandbox, settings, monkeypatch
):
    from dashboard.models import DisplayLink
    from dashboard.wall import board as wall_board

    monkeypatch.setattr(wall_board, "ROWS_MAX_AGE", 0)  # each refresh asks the store afresh
    settings.STORE_ERROR_TTL = 0
    # Refreshing faster than a link may (10 s at least), so that the three refreshes waited
    # for below take seconds, not half a minute.
    link = DisplayLink(name="Support room", filters="status=new&status=open", refresh_seconds=2)
    secret = link.issue_secret()
    link.save()
    page, errors = wall_screen

    page.goto(live_server.url + link.path_for(secret))
    board = page.locator("#board")
    rows = board.locator(ROWS)
    expect(rows).to_have_count(wall_board.ROWS)
    assert page.context.cookies() == []  # no session to expire

    # The board fits the screen: nothing to scroll.
    size = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight,"
        " innerWidth, innerHeight]"
    )
    assert size[0] <= size[2] and size[1] <= size[3]
    last_row = rows.last.bounding_box()
    assert last_row["y"] + last_row["height"] <= 1080

    # A refresh happens by itself: a new ticket appears at the top, marked new.
    added = sandbox.data.add_ticket(status="new", subject="Arrived while the wall was up")
    new_row = board.locator(f"[data-ticket-id='{added['id']}']")
    expect(new_row).to_be_visible(timeout=15_000)
    expect(rows.first).to_have_attribute("data-ticket-id", str(added["id"]))
    expect(board.locator("[data-new]")).to_have_count(1)
    expect(new_row).to_have_attribute("data-new", "")

    # The store fails: the rows stay, the board says since when it is stale.
    shown = rows.evaluate_all("rs => rs.map(r => r.dataset.ticketId)")
    sandbox.set_fault("unavailable")
    expect(board).to_have_attribute("data-stale", re.compile(r"^\d{4}-"), timeout=15_000)
    expect(board.get_by_role("status")).to_contain_text("no fresh data since")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.ticketId)") == shown

    # The dashboard itself cannot be reached: still the last board, still marked stale.
    sandbox.set_fault("none")
    page.route("**/display/**", lambda route: route.abort())
    page.evaluate("htmx.trigger('#board', 'refresh')")
    expect(board.get_by_role("status")).to_contain_text("cannot be reached")
    expect(rows).to_have_count(wall_board.ROWS)

    # Everything comes back: the stale mark goes by itself at the next refresh.
    page.unroute("**/display/**")
    expect(page.locator("#board:not([data-stale])")).to_be_visible(timeout=15_000)
    expect(rows).to_have_count(wall_board.ROWS)
    assert errors == []


def test_a_revoked_display_link_stops_its_screen(wall_screen, live_server, sandbox):
    from dashboard.models import DisplayLink

    link = DisplayLink(name="Lobby", filters="priority=high", refresh_seconds=10)
    secret = link.issue_secret()
    link.save()
    page, errors = wall_screen
    page.goto(live_server.url + link.path_for(secret))
    expect(page.locator(ROWS).first).to_be_visible()

    link.revoke()
    page.evaluate("htmx.trigger('#board', 'refresh')")
    expect(page.locator("#board[data-gone]")).to_contain_text("revoked")
    expect(page.locator(ROWS)).to_have_count(0)
    expect(page.locator("[data-hx-trigger]")).to_have_count(0)  # nothing polls any more


PAYLOADS = [
    "<script>alert('subject')</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg onload=alert(2)>",
    "' onmouseover='alert(3)' x='",
    "{{ request.user }} {% debug %}",
    "javascript:alert(4)",
]


# An http(s) URL that tries to break out of the href attribute it is rendered in.
BREAKOUT_URL = 'https://cdn.example-store.test/a.pdf" onclick="alert(11)'


def hostile_ticket(sandbox):
    body = "\n".join(PAYLOADS) + "\n<iframe src=javascript:alert(5)></iframe>"
    return sandbox.data.add_ticket(
        status="new",
        priority="high",
        from_email="attacker+<script>alert(6)</script>@example.com",
        subject=" ".join(PAYLOADS),
        tags=["<b onclick=alert(7)>tag</b>"],
        comments=[
            {
                "body": body,
                "is_public": True,
                "from_email": "attacker@example.com",
                "attachments": [
                    {"id": 9001, "file": "javascript:alert(8)", "file_name": PAYLOADS[1] + ".pdf"},
                    {"id": 9002, "file": "data:text/html,<script>alert(9)</script>",
                     "file_name": "<svg onload=alert(10)>.png"},
                    {"id": 9003, "file": BREAKOUT_URL, "file_name": "invoice.pdf"},
                ],
            },
            {"body": PAYLOADS[0], "is_public": False, "author": 3},
        ],
    )  # fmt: skip


@pytest.fixture
def watched(page):
    """Every dialog and every CSP violation the page causes."""
    events = {"dialogs": [], "violations": [], "console": []}
    page.on("dialog", lambda dialog: (events["dialogs"].append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: events["console"].append(message.text))
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    return events


def assert_inert(page, events):
    page.wait_for_timeout(300)
    violations = page.evaluate("window.__violations")
    assert events["dialogs"] == []
    assert violations == []
    assert not [m for m in events["console"] if "Content Security Policy" in m]
    # Nothing the payloads carried became an element or a handler.
    assert page.locator("[onerror], [onload], [onclick], [onmouseover]").count() == 0
    assert page.locator("iframe, svg script, img[src='x']").count() == 0
    assert page.locator("a[href^='javascript:'], a[href^='data:']").count() == 0


def test_a_swap_never_copies_an_inline_style_the_policy_would_refuse(
    signed_in_page, watched, live_server, sandbox
):
    """A style left on a field by the browser's own tools, an extension or a screenshot (set
    through the CSSOM, which the policy allows) is not copied onto the swapped-in field: htmx
    would copy it as an attribute, which `style-src 'self'` refuses, with a console error."""
    page = signed_in_page
    page.goto(f"{live_server.url}/?status=open")
    expect(page.locator(ROWS).first).to_be_visible()
    page.evaluate(
        "document.querySelectorAll('input[id], select[id]')"
        ".forEach(field => { field.style.caretColor = 'transparent'; })"
    )
    page.check("input[name=status][value=new]")
    expect(page).to_have_url(f"{live_server.url}/?status=new&status=open")
    expect(page.locator(ROWS).first).to_be_visible()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__violations") == []
    assert not [m for m in watched["console"] if "Content Security Policy" in m]


def test_hostile_content_is_inert_in_list_thread_and_wall(
    signed_in_page, watched, live_server, sandbox
):
    page = signed_in_page
    ticket = hostile_ticket(sandbox)

    page.goto(f"{live_server.url}/?status=new")
    row = page.locator(f"{ROWS}[data-ticket-id='{ticket['id']}']")
    expect(row).to_contain_text("<script>alert('subject')</script>")  # shown as text
    expect(row).to_contain_text("{{ request.user }} {% debug %}")
    assert_inert(page, watched)

    subject_link(row, ticket["subject"]).click()  # the thread inline
    thread = thread_panel(page).locator(f"[data-thread-id='{ticket['id']}']")
    expect(thread).to_contain_text("<iframe src=javascript:alert(5)></iframe>")
    attachments = thread.get_by_role("list", name="Attachments")
    expect(attachments.get_by_role("listitem")).to_have_count(3)
    assert_inert(page, watched)

    page.goto(f"{live_server.url}/tickets/{ticket['id']}/")  # the thread as a full page
    first_comment = page.locator(f"[data-comment-id='{ticket['comments'][0]['id']}']")
    expect(first_comment).to_contain_text("onerror=alert(1)")
    assert_inert(page, watched)

    page.goto(f"{live_server.url}/wall/?status=new")
    expect(page.locator(f"#board [data-ticket-id='{ticket['id']}']")).to_be_visible()
    assert_inert(page, watched)


LISTS_OF_MANY_PAGES = [("new", "open"), ("open",), ("pending",), ("solved",), ("closed",)]


def _third_page_brings_someone_new(statuses):
    from dashboard import store

    seen, query, shown = [], store.TicketQuery(status=statuses), None
    for _ in range(3):
        if seen and not shown.next_cursor:
            return False
        shown = store.list_tickets(query.with_cursor(shown.next_cursor) if seen else query)
        if len(shown.tickets) < 4:
            return False
        seen.append({t.requester for t in shown.tickets} - {None})
    return bool(seen[2] - seen[0] - seen[1])


def test_the_page_just_loaded_gets_its_names_however_many_pages_came_before(
    signed_in_page, live_server, sandbox, settings, monkeypatch
):
    """The server reads a bounded number of the pages' references: the newest go first."""
    from dashboard.views import names

    monkeypatch.setattr(names, "MAX_REFS", 1)
    settings.STORE_NAME_LOOKUPS_PER_MINUTE = 600
    sandbox.configure(page_size=4)
    # A list whose third page brings a customer the first two did not show, as the store has
    # its tickets now (other tests add some).
    statuses = next((s for s in LISTS_OF_MANY_PAGES if _third_page_brings_someone_new(s)), None)
    assert statuses, "no list's third page shows a customer its first two did not"
    page = signed_in_page
    page.goto(f"{live_server.url}/?{'&'.join(f'status={s}' for s in statuses)}")
    rows, waiting = page.locator(ROWS), page.locator("[data-requester-id][data-waiting]")
    for shown in (8, 12):
        expect(waiting).to_have_count(0, timeout=15_000)  # the pages so far are named
        page.get_by_role("link", name="Load more").click()
        expect(rows).to_have_count(shown)
        if shown == 12:  # the newest page brought customers nobody had named yet
            newest = rows.evaluate_all(
                "rs => rs.slice(8).filter(r => r.querySelector('[data-waiting]')).length"
            )
            assert newest > 0
    expect(waiting).to_have_count(0, timeout=15_000)


def test_names_replace_emails_and_ids_in_place_without_a_reload(
    signed_in_page, live_server, sandbox, settings
):
    settings.STORE_NAME_LOOKUPS_PER_MINUTE = 600
    page = signed_in_page
    page.goto(f"{live_server.url}/?status=new")
    page.evaluate("window.notReloaded = true")
    waiting = page.locator("[data-requester-id][data-waiting]")
    first_id = int(waiting.first.get_attribute("data-requester-id"))
    person = sandbox.data.user(first_id)

    expect(waiting).to_have_count(0, timeout=15_000)
    named = page.locator(f"{ROWS} [data-requester-id='{first_id}']").first
    expect(named).to_have_text(f"{person['first_name']} {person['last_name']}")
    expect(named).to_have_attribute("title", person["email"])
    assert page.evaluate("window.notReloaded") is True
