"""A thread open beside the list has an address: `/?<filters>&ticket=<id>` is the list with that
thread open, rendered whole by the server (no JavaScript needed), and every link of a thread
keeps the list's filters."""

import uuid
from urllib.parse import parse_qsl

import pytest

from dashboard.tickets.filter_fields import MAX_ID
from tests import html

HTMX = {"HTTP_HX_REQUEST": "true"}


def open_ticket(sandbox, status="open"):
    return next(t for t in sandbox.data.tickets if t["status"] == status)


def test_the_list_with_a_ticket_shows_the_list_and_that_thread_beside_it(signed_in, sandbox):
    ticket = open_ticket(sandbox)
    response = signed_in.get(f"/?status=open&ticket={ticket['id']}")
    assert response.status_code == 200
    doc = html.page(response)
    assert html.row(doc, ticket["id"])  # the list, as at /?status=open
    assert html.row_ids(doc) == html.row_ids(html.page(signed_in.get("/?status=open")))
    assert html.checked(doc, "status") == ["open"]
    panel = html.labelled(doc, "Ticket thread")
    thread = html.thread(panel)
    assert int(thread["data-thread-id"]) == ticket["id"]
    assert sorted(html.comment_ids(thread)) == sorted(c["id"] for c in ticket["comments"])
    assert "thread-open" in doc.body["class"]
    # Announced by focus when it opens, never read out as a live region.
    assert not panel.has_attr("aria-live")
    assert panel["aria-busy"] == "false"
    # Its links: copy this address, open it alone (filters kept), close it back to the list.
    assert html.link(thread, "Copy link") == f"/?status=open&ticket={ticket['id']}"
    assert html.link(thread, "Open in a tab") == f"/tickets/{ticket['id']}/?status=open"
    assert html.link(thread, "Close") == "/?status=open"


def test_a_row_links_to_the_list_with_its_thread_and_fetches_the_thread_alone(signed_in):
    doc = html.page(signed_in.get("/?status=open&priority=high"))
    row = html.rows(doc)[0]
    ticket_id = row["data-ticket-id"]
    subject = row.select_one("a.subject")
    # Without JavaScript, in a new tab or copied, the link is the list with the thread open.
    assert subject["href"] == f"/?status=open&priority=high&ticket={ticket_id}"
    assert subject["data-hx-get"] == f"/tickets/{ticket_id}/?status=open&priority=high"
    assert subject["data-hx-target"] == "#thread-panel"
    assert html.link(row, ticket_id) == f"/tickets/{ticket_id}/?status=open&priority=high"


def test_rows_loaded_later_keep_the_filters_but_not_the_cursor(signed_in):
    first = html.page(signed_in.get("/?status=closed"))
    href, _ = html.load_more(first)
    rows = html.rows(html.page(signed_in.get(href, **HTMX)))
    subject = rows[0].select_one("a.subject")
    assert subject["href"] == f"/?status=closed&ticket={rows[0]['data-ticket-id']}"


@pytest.mark.parametrize(
    ("asked", "bookmark"),
    [
        ("ticket=7&status=open", "/?status=open&ticket=7"),
        ("status=open&ticket=007", "/?status=open&ticket=7"),
        ("ticket=%207", "/?ticket=7"),
        # Not a ticket id: dropped, and the list still shows.
        ("status=open&ticket=abc", "/?status=open"),
        ("status=open&ticket=0", "/?status=open"),
        ("status=open&ticket=-3", "/?status=open"),
        (f"status=open&ticket={MAX_ID + 1}", "/?status=open"),
        ("status=open&ticket=", "/?status=open"),
    ],
)
def test_the_ticket_parameter_is_kept_in_the_bookmark_as_an_id(signed_in, asked, bookmark):
    response = signed_in.get(f"/?{asked}")
    assert response.status_code == 302
    assert response["Location"] == bookmark


def test_the_ticket_is_not_a_filter_sent_to_the_store(signed_in, sandbox):
    ticket = open_ticket(sandbox)
    sandbox.reset_stats()
    # A filter no other test asks for: its page cannot be in the cache already.
    unique = f"status=open&order_number=9{uuid.uuid4().int % 10**8:08d}"
    assert signed_in.get(f"/?{unique}&ticket={ticket['id']}").status_code == 200
    lists = [r for r in sandbox.received() if r.path.endswith("/tickets/")]
    assert lists
    for request in lists:
        assert "ticket" not in dict(parse_qsl(request.query))


def test_a_missing_ticket_in_the_address_still_shows_the_list(signed_in):
    response = signed_in.get("/?status=open&ticket=987654321")
    assert response.status_code == 200
    doc = html.page(response)
    assert html.row_ids(doc)
    thread = html.thread(html.labelled(doc, "Ticket thread"))
    assert thread["data-thread-id"] == "987654321"
    assert html.error_codes(thread) == ["not_found"]


def test_the_filter_form_keeps_the_open_thread_in_the_pushed_address(signed_in, sandbox):
    ticket = open_ticket(sandbox)
    response = signed_in.get(f"/?status=open&priority=&ticket={ticket['id']}", **HTMX)
    assert response.status_code == 200
    assert html.root(html.page(response))["id"] == "results"  # the list alone is swapped
    assert response["HX-Push-Url"] == f"/?status=open&ticket={ticket['id']}"


def test_invalid_filters_start_again_without_the_thread(signed_in):
    response = signed_in.get("/?status=bogus&ticket=5")
    assert response.status_code == 400
    assert "ticket" not in html.link(html.page(response), "Clear filters")


def test_all_tickets_on_a_thread_page_keeps_the_filters(signed_in, sandbox):
    ticket = open_ticket(sandbox)
    url = f"/tickets/{ticket['id']}/?status=open&priority=high&cursor=abc&ticket=3&bogus=1"
    doc = html.page(signed_in.get(url))
    assert html.link(doc, "All tickets") == "/?status=open&priority=high"
    # Alone on its page, the thread has no panel's links.
    assert html.anchor(doc, "Copy link") is None
    assert html.link(html.page(signed_in.get(f"/tickets/{ticket['id']}/")), "All tickets") == "/"


def test_the_thread_fragment_links_back_to_the_list_it_came_from(signed_in, sandbox):
    ticket = open_ticket(sandbox)
    response = signed_in.get(f"/tickets/{ticket['id']}/?status=open&tags=3", **HTMX)
    thread = html.thread(html.page(response))
    assert html.link(thread, "Copy link") == f"/?status=open&tags=3&ticket={ticket['id']}"
    assert html.link(thread, "Close") == "/?status=open&tags=3"
    assert html.link(thread, "Open in a tab") == f"/tickets/{ticket['id']}/?status=open&tags=3"
