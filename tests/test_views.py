"""The list and thread views through Django's test client, against the sandbox over real HTTP."""

import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.urls import reverse

from dashboard import store
from tests import html

HTMX = {"HTTP_HX_REQUEST": "true"}


def row_ids(response):
    return html.row_ids(html.page(response))


def more_url(response):
    """Where "Load more" leads, or None at the end of the list."""
    more = html.load_more(html.page(response))
    if more is None:
        return None
    href, hx_get = more
    assert href == hx_get  # the same URL with and without JavaScript
    return href


def expected_ids(sandbox, query_string):
    return [t["id"] for t in sandbox.data.filter_tickets(parse_qsl(query_string))]


def walk_load_more(client, query_string):
    """Load the list, then follow "Load more" as HTMX does, until the end of the list."""
    response = client.get(f"/?{query_string}" if query_string else "/", follow=True)
    assert response.status_code == 200
    walk_load_more.bookmark = response.request["QUERY_STRING"]
    ids = row_ids(response)
    url = more_url(response)
    pages = 1
    while url:
        response = client.get(url, **HTMX)
        assert response.status_code == 200
        assert not html.is_whole_page(html.page(response))
        ids += row_ids(response)
        url = more_url(response)
        pages += 1
    return ids, pages, response


def test_signed_out_people_are_sent_to_sign_in_with_the_bookmark_kept(client):
    response = client.get("/?status=open&priority=high")
    assert response.status_code == 302
    login = urlsplit(response["Location"])
    assert login.path == reverse("login")
    assert dict(parse_qsl(login.query))["next"] == "/?status=open&priority=high"


@pytest.mark.also_sqlite
def test_signing_in_returns_to_the_bookmark(client, lead):
    response = client.post(
        "/accounts/login/",
        {"username": "lead", "password": "a-long-test-password", "next": "/?status=open"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/?status=open"


@pytest.mark.also_sqlite
def test_list_shows_the_first_page_of_the_api(signed_in, sandbox):
    response = signed_in.get("/")
    assert response.status_code == 200
    assert row_ids(response) == expected_ids(sandbox, "")[: sandbox.page_size]
    assert response["Vary"] and "HX-Request" in response["Vary"]
    doc = html.page(response)
    assert more_url(response)
    for row in html.rows(doc):  # machine-readable times, for the relative ones shown
        assert row.select("time[datetime]"), row["data-ticket-id"]


@pytest.mark.parametrize(
    "query_string",
    [
        "",
        "status=open&status=new",
        "priority=high",
        "channel=email",
        "status=closed&priority=low",
        "tags=vip",
        "filter_text=order",
        "created_from=2026-01-01",
    ],
)
def test_walking_load_more_yields_exactly_the_apis_tickets_in_order(
    signed_in, sandbox, tag_catalogue, query_string
):
    ids, pages, last = walk_load_more(signed_in, query_string)
    # As the store reads it: the bookmark the dashboard redirected to (tags by id).
    expected = expected_ids(sandbox, walk_load_more.bookmark)
    assert ids == expected
    assert len(ids) == len(set(ids))
    if len(expected) > sandbox.page_size:
        assert pages > 1
    if expected:
        assert "End of list." in html.text(html.page(last))


def test_every_filter_reaches_the_api_and_the_list_matches(signed_in, sandbox, tag_catalogue):
    ticket = next(
        t
        for t in sandbox.data.tickets
        if t["requester"]
        and t["assignee"]
        and t["order"]
        and t["products"]
        and t["tags"]
        and t["ticket_type"]
        and t["status"] in ("new", "open", "pending", "solved", "closed")
        and t["priority"]
        and t["channel"] in ("email", "api", "dashboard", "customer_account")
    )
    day = ticket["created_at"][:10]
    query_string = (
        f"filter_text={ticket['id']}&id={ticket['id']}&subject={ticket['subject'][:5]}"
        f"&status={ticket['status']}&requester={ticket['requester']}&assignee={ticket['assignee']}"
        f"&order_number={ticket['order']}&product={ticket['products'][0]}&tags={ticket['tags'][0]}"
        f"&ticket_type={ticket['ticket_type']}&priority={ticket['priority']}"
        f"&channel={ticket['channel']}&created_from={day}&created_to={day}"
    )
    sandbox.reset_stats()

    response = signed_in.get("/", dict(parse_qsl(query_string)), follow=True)

    assert row_ids(response) == [ticket["id"]]
    requests = sandbox.stats()["requests"]
    asked = [path for path in requests if path.startswith("/api/admin/tickets/?")]
    names = {name for name, _ in parse_qsl(urlsplit(asked[-1]).query)}
    assert names == {
        "filter_text", "id", "subject", "status", "requester", "assignee", "order_number",
        "product", "tags", "ticket_type", "priority", "channel", "created_from", "created_to",
    }  # fmt: skip


def test_a_non_canonical_query_redirects_to_the_bookmark(signed_in):
    response = signed_in.get("/?filter_text=&status=open&priority=&status=new&channel=")
    assert response.status_code == 302
    assert response["Location"] == "/?status=new&status=open"


def test_filter_form_swap_returns_the_results_fragment_and_pushes_the_bookmark(signed_in):
    form = html.labelled(html.page(signed_in.get("/")), "Filters").select_one("form")
    response = signed_in.get("/?filter_text=&status=open&priority=high&channel=", **HTMX)
    assert response.status_code == 200
    fragment = html.page(response)
    assert not html.is_whole_page(fragment)
    # The fragment is the element the form swaps out, nothing around it.
    assert "#" + html.root(fragment)["id"] == form["data-hx-target"]
    assert html.row_ids(fragment)
    assert response["HX-Push-Url"] == "/?status=open&priority=high"


def test_load_more_carries_filters_and_cursor(signed_in):
    response = signed_in.get("/?status=closed&priority=low")
    url = urlsplit(more_url(response))
    params = parse_qsl(url.query)
    assert url.path == "/"
    assert params[:-1] == [("status", "closed"), ("priority", "low")]
    assert params[-1][0] == "cursor" and params[-1][1]

    fragment = signed_in.get(more_url(response), **HTMX)
    rows = html.page(fragment)
    assert not html.is_whole_page(rows)
    assert html.root(rows).has_attr("data-ticket-id")  # rows only, to go in place of the link
    assert "HX-Push-Url" not in fragment


def test_without_javascript_the_load_more_link_renders_a_full_page(signed_in):
    url = more_url(signed_in.get("/?status=closed"))
    response = signed_in.get(url)
    assert response.status_code == 200
    doc = html.page(response)
    assert html.is_whole_page(doc)
    assert html.link(doc, "Back to the first page") == "/?status=closed"
    assert row_ids(response)


@pytest.mark.parametrize(
    "query_string",
    [
        "id=abc",
        "status=bogus",
        "created_from=2026-02-30",
        "product=3.0",
        "priority=urgent",
        "tags=unknown-tag",
        "requester=-3",
    ],  # fmt: skip
)
def test_invalid_input_shows_errors_and_calls_nothing_upstream(signed_in, sandbox, query_string):
    field = query_string.split("=")[0]
    sandbox.reset_stats()
    response = signed_in.get(f"/?{query_string}")
    assert response.status_code == 400
    doc = html.page(response)
    assert html.field_errors(doc, field)
    assert html.field_errors(doc) == html.field_errors(doc, field)  # beside that field only
    assert html.row_ids(doc) == []
    assert sandbox.stats()["calls"] == 0


def test_a_forged_cursor_says_start_again_from_the_top(signed_in):
    response = signed_in.get("/?status=open&cursor=Zm9yZ2Vk", **HTMX)
    assert response.status_code == 400
    doc = html.page(response)
    assert html.error_codes(doc) == ["invalid_cursor"]
    assert any("start again from the top" in alert for alert in html.alerts(doc))
    assert html.link(doc, "Start again from the top") == "/?status=open"


def test_a_cursor_that_is_not_even_a_cursor_is_refused_before_the_store(signed_in, sandbox):
    sandbox.reset_stats()
    response = signed_in.get("/?status=open&cursor=https://evil.test/x y")
    assert response.status_code == 400
    doc = html.page(response)
    assert html.link(doc, "Start again from the top") == "/?status=open"
    assert html.row_ids(doc) == []
    assert sandbox.stats()["calls"] == 0


def test_thread_opens_as_a_fragment_and_as_a_full_page(signed_in, sandbox):
    ticket = max(sandbox.data.tickets[:50], key=lambda t: len(t["comments"]))
    fragment = signed_in.get(f"/tickets/{ticket['id']}/", **HTMX)
    page = signed_in.get(f"/tickets/{ticket['id']}/")

    assert fragment.status_code == page.status_code == 200
    assert not html.is_whole_page(html.page(fragment))
    assert html.is_whole_page(html.page(page))
    for response in (fragment, page):
        thread = html.thread(html.page(response))
        assert int(thread["data-thread-id"]) == ticket["id"]
        assert sorted(html.comment_ids(thread)) == sorted(c["id"] for c in ticket["comments"])
    assert "HX-Request" in page["Vary"]


def test_public_replies_and_internal_notes_are_labelled_in_words(signed_in, sandbox):
    ticket = next(
        t for t in sandbox.data.tickets if {c["is_public"] for c in t["comments"]} == {True, False}
    )
    doc = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
    for comment in ticket["comments"]:
        shown = html.text(html.comment(doc, comment["id"]))
        if comment["is_public"]:
            assert "Public reply" in shown and "Internal note" not in shown, comment["id"]
        else:
            assert "Internal note" in shown and "Public reply" not in shown, comment["id"]


def test_an_unknown_ticket_is_a_clear_404(signed_in):
    response = signed_in.get("/tickets/987654321/")
    assert response.status_code == 404
    doc = html.page(response)
    assert html.error_codes(doc) == ["not_found"]
    assert any("no such ticket" in alert for alert in html.alerts(doc))


def folded(words):
    """Text with its white space folded, as `html.text` reads it from a page."""
    return " ".join((words or "").split())


def assert_inert(doc):
    """Nothing a ticket carried became an element, a handler or a link that runs code."""
    assert doc.select("script:not([src]), img[src='x'], svg, iframe") == []
    assert doc.select("[onerror], [onload], [onclick], [onmouseover]") == []
    assert doc.select("a[href^='javascript:'], a[href^='data:']") == []


def test_hostile_content_is_rendered_inert(signed_in, sandbox):
    hostile = [
        t
        for t in sandbox.data.tickets
        if "<script" in t["subject"].lower()
        or any("<script" in (c["body"] or "").lower() for c in t["comments"])
    ]
    assert hostile
    for ticket in hostile:
        doc = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
        assert_inert(doc)
        assert folded(ticket["subject"]) in html.text(html.thread(doc))  # shown as text
        for comment in ticket["comments"]:
            assert folded(comment["body"]) in html.text(html.comment(doc, comment["id"]))
    ticket = next(t for t in hostile if "<script" in t["subject"].lower())
    listing = html.page(signed_in.get("/", {"id": ticket["id"]}))
    assert_inert(listing)
    assert folded(ticket["subject"]) in html.text(html.row(listing, ticket["id"]))


TEMPLATE_SUBJECT = "Refund for {{ request.user }} {% debug %}"
TEMPLATE_BODY = "Hi {{ user.email }},\n{% debug %}\n{{ settings.SECRET_KEY }} {% load static %}"


def test_template_syntax_in_user_content_shows_as_typed(signed_in, sandbox):
    ticket = sandbox.data.add_ticket(
        status="new", subject=TEMPLATE_SUBJECT, comments=[{"body": TEMPLATE_BODY}]
    )
    listing = html.page(signed_in.get("/?status=new"))
    thread = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
    wall = html.page(signed_in.get("/wall/?status=new"))

    for doc in (listing, wall):
        assert TEMPLATE_SUBJECT in html.text(html.row(doc, ticket["id"]))
    assert TEMPLATE_SUBJECT in html.text(html.thread(thread))
    body = html.text(html.comment(thread, ticket["comments"][0]["id"]))
    assert folded(TEMPLATE_BODY) in body


def test_attachments_link_only_http_urls(signed_in, sandbox):
    ticket = next(
        t
        for t in sandbox.data.tickets
        if any(a["file"].startswith("javascript:") for c in t["comments"] for a in c["attachments"])
    )
    doc = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
    assert doc.select("a[href^='javascript:']") == []
    attachments = " ".join(html.text(item) for item in doc.select("[aria-label=Attachments]"))
    assert "javascript:alert(1)" in attachments  # shown as text, not a link


def test_store_faults_become_messages_never_500(signed_in, sandbox):
    sandbox.set_fault("server_error")
    response = signed_in.get("/?status=open")
    assert response.status_code == 503
    doc = html.page(response)
    assert html.error_codes(doc) == ["unavailable"]
    assert any("unavailable" in alert for alert in html.alerts(doc))
    assert html.link(doc, "Try again") == "/?status=open"
    assert b"Traceback" not in response.content


def test_threads_and_lists_name_the_agents(signed_in, sandbox):
    ticket = next(t for t in sandbox.data.tickets[:25] if t["assignee"] is not None)
    agent = sandbox.data.user(ticket["assignee"])
    name = f"{agent['first_name']} {agent['last_name']}"
    listing = html.page(signed_in.get("/"))
    thread = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
    assert name in html.text(html.row(listing, ticket["id"]))
    assert name in html.text(html.thread(thread))


def test_a_changed_ticket_is_never_shown_from_an_old_rendering(signed_in, sandbox):
    from django.core.cache import cache

    ticket = sandbox.data.tickets[0]
    before = html.page(signed_in.get("/"))
    assert "Brand new subject" not in html.text(html.row(before, ticket["id"]))
    # The page reaches the shared cache just after the person has it: wait for it.
    deadline = time.monotonic() + 5
    while store.cached_page(store.TicketQuery()) is None and time.monotonic() < deadline:
        time.sleep(0.02)

    original, ticket["subject"] = ticket["subject"], "Brand new subject"
    try:
        cache.clear()  # as when the cached page ages out
        after = html.page(signed_in.get("/"))
    finally:
        ticket["subject"] = original
    assert "Brand new subject" in html.text(html.row(after, ticket["id"]))


def test_a_history_restore_never_caches_a_raw_spelling_of_the_form(signed_in):
    restore = {"HTTP_HX_REQUEST": "true", "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}
    restored = signed_in.get("/?created_from=2026-1-7&priority=high&status=new", **restore)
    assert restored.status_code == 200
    assert html.value(html.page(restored), "created_from") == "2026-01-07"
    bookmark = signed_in.get("/?status=new&priority=high&created_from=2026-01-07")
    assert html.value(html.page(bookmark), "created_from") == "2026-01-07"


def test_a_ticket_url_redirects_to_its_canonical_form(signed_in):
    response = signed_in.get("/tickets/00001300/?x=1")
    assert response.status_code == 301
    assert response["Location"] == "/tickets/1300/?x=1"


def test_a_list_page_says_where_its_milliseconds_went(signed_in, sandbox):
    response = signed_in.get("/?status=open&ticket=1641")
    timing = dict(
        part.split(";dur=") for part in response["Server-Timing"].replace(" ", "").split(",")
    )
    assert list(timing) == [
        "request",
        "ask",
        "form",
        "frame",
        "store",
        "names",
        "rows",
        "thread",
        "response",
        "total",
    ]
    spent = {name: float(ms) for name, ms in timing.items()}
    assert all(ms >= 0 for ms in spent.values())
    assert abs(sum(spent.values()) - 2 * spent["total"]) < 0.5  # the parts add up to the whole


def test_a_list_page_asks_the_store_first_and_leaves_the_rest_until_it_is_sent(
    signed_in, sandbox, monkeypatch
):
    """The store's request goes before the page's frame is rendered; what does not need the
    answer (the frame, the list's name) is done before the view takes it; the answer is noted
    and cached for others only once the page is out, though before the request is over."""
    from dashboard.views import tickets

    happened = []
    # The order, whatever the machine's load: neither bounded wait may run out first.
    monkeypatch.setattr(tickets.Asked, "SENT_WAIT", 30.0)
    monkeypatch.setattr(tickets.Asked, "RELEASE_WAIT", 30.0)
    went, sidebar, render = tickets.Asked.went, tickets.sidebar, tickets.render_to_string
    result, describe = tickets.Asked.result, tickets.describe_query
    monkeypatch.setattr(
        tickets.Asked, "result", lambda self: happened.append("answer") or result(self)
    )
    monkeypatch.setattr(
        tickets, "describe_query", lambda *a, **k: happened.append("name") or describe(*a, **k)
    )

    def results(template, *args, **kwargs):
        happened.extend(["rows"] if template.endswith("#results") else [])
        return render(template, *args, **kwargs)

    monkeypatch.setattr(tickets.Asked, "went", lambda self: happened.append("sent") or went(self))
    monkeypatch.setattr(
        tickets, "sidebar", lambda *a, **k: happened.append("frame") or sidebar(*a, **k)
    )
    monkeypatch.setattr(tickets, "render_to_string", results)
    monkeypatch.setattr(store.tickets, "page_listeners", [lambda params: happened.append("noted")])

    response = signed_in.get("/?status=open&priority=low")
    assert response.status_code == 200 and row_ids(response)
    assert happened == ["sent", "frame", "name", "answer", "rows", "noted"]
    assert store.cached_page(store.TicketQuery(status=("open",), priority="low")) is not None


def test_a_bookmark_is_asked_of_the_store_before_its_filters_are_checked(
    signed_in, sandbox, monkeypatch
):
    from dashboard.views import tickets

    happened = []
    monkeypatch.setattr(tickets.Asked, "SENT_WAIT", 30.0)
    went, filter_form = tickets.Asked.went, tickets.filter_form
    monkeypatch.setattr(tickets.Asked, "went", lambda self: happened.append("sent") or went(self))
    monkeypatch.setattr(
        tickets, "filter_form", lambda *a, **k: happened.append("form") or filter_form(*a, **k)
    )
    sandbox.reset_stats()
    bookmark = signed_in.get("/?status=open&priority=high&ticket=1641")
    assert bookmark.status_code == 200 and row_ids(bookmark)
    assert happened[:2] == ["sent", "form"]
    asked = sandbox.stats()["paths"]  # with the ticket types and agents, read once a while
    assert asked["/api/admin/tickets/"] == 1 and asked["/api/admin/tickets/1641/"] == 1

    happened.clear()
    other = signed_in.get("/?priority=medium&status=open")  # not a bookmark: checked first
    assert other.status_code == 302
    assert happened == ["form"]
    assert sandbox.stats()["paths"]["/api/admin/tickets/"] == 1


def test_an_exact_total_is_on_the_list_total_hook(signed_in, sandbox):
    doc = html.page(signed_in.get("/?status=pending&priority=low"))
    shown = len(html.rows(doc))
    assert 0 < shown < 25  # the whole list fits on its first page: its total is exact
    assert doc.select_one("#list-total")["data-total"] == str(shown)
