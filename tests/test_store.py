"""The service module at its HTTP border: what it asks the store and how answers become data or
errors. The store is mocked with `responses`; views meet the real sandbox elsewhere."""

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from django.core.cache import cache

from dashboard import budget, store
from tests.conftest import TEST_TOKEN, every_filter

BASE = "https://example.29next.store/api/admin/"
TICKETS = BASE + "tickets/"


def ticket_json(**overrides):
    ticket = {
        "id": 7,
        "subject": "Where is my order?",
        "status": "open",
        "priority": "high",
        "channel": "email",
        "requester": 31,
        "from_email": "anna@example.com",
        "assignee": 4,
        "order": "100482",
        "products": [12],
        "tags": ["vip"],
        "ticket_type": 2,
        "created_at": "2026-11-20T09:14:00Z",
        "updated_at": "2026-11-21T10:00:00Z",
        "comments": [
            {
                "id": 70,
                "body": "Hello",
                "author": 31,
                "from_email": None,
                "created_at": "2026-11-20T09:14:00Z",
                "is_public": True,
                "attachments": [{"id": 1, "file": "https://cdn.test/a.jpg", "file_name": "a.jpg"}],
            }
        ],
    }
    ticket.update(overrides)
    return ticket


def page_json(results=None, next_url=None, previous_url=None):
    return {
        "next": next_url,
        "previous": previous_url,
        "results": [ticket_json()] if results is None else results,
    }


def sent_params(mocked):
    return parse_qsl(urlsplit(mocked.calls[-1].request.url).query, keep_blank_values=True)


@pytest.fixture(autouse=True)
def mocked(fake_store, settings):
    settings.STORE_RATE_LIMIT = 0  # the budget's own tests count turns instead of waiting
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_every_filter_reaches_the_api_under_its_own_name(mocked):
    mocked.get(TICKETS, json=page_json())
    query = every_filter(cursor="cD00ODY=")

    store.list_tickets(query)

    assert sent_params(mocked) == [
        ("filter_text", "anna"),
        ("id", "7"),
        ("subject", "order"),
        ("status", "new"),
        ("status", "open"),
        ("requester", "31"),
        ("assignee", "4"),
        ("order_number", "100482"),
        ("product", "12"),
        ("product", "40"),
        ("tags", "3"),
        ("tags", "8"),
        ("ticket_type", "2"),
        ("priority", "high"),
        ("channel", "email"),
        ("created_from", "2026-11-01"),
        ("created_to", "2026-11-30"),
        ("cursor", "cD00ODY="),
    ]
    assert {name for name, _ in sent_params(mocked)} == set(store.FILTER_NAMES) | {"cursor"}


def test_empty_values_are_left_out(mocked):
    mocked.get(TICKETS, json=page_json())
    store.list_tickets(store.TicketQuery(filter_text="", status=(), priority=""))
    assert sent_params(mocked) == []
    assert mocked.calls[-1].request.url == TICKETS


def test_sends_token_version_user_agent_and_timeouts(mocked, settings):
    settings.NEXT_API_CONNECT_TIMEOUT = 2.5
    settings.NEXT_API_READ_TIMEOUT = 9.0
    mocked.get(TICKETS, json=page_json())

    store.list_tickets(store.TicketQuery())

    request = mocked.calls[-1].request
    assert request.headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert request.headers["X-29next-API-Version"] == "unstable"
    assert request.headers["User-Agent"].startswith("tickets-dashboard/")
    assert request.req_kwargs["timeout"] == (2.5, 9.0)


def test_connecting_never_outlasts_the_call_deadline(mocked, settings):
    settings.NEXT_API_CONNECT_TIMEOUT = 3.0
    settings.NEXT_API_READ_TIMEOUT = 1.5
    mocked.get(TICKETS, json=page_json())

    store.list_tickets(store.TicketQuery())

    assert mocked.calls[-1].request.req_kwargs["timeout"] == (1.5, 1.5)


def test_each_thread_keeps_one_pooled_session_of_its_own(mocked):
    mocked.get(TICKETS, json=page_json())
    store.list_tickets(store.TicketQuery())
    session = store.transport.session()
    store.list_tickets(store.TicketQuery())
    assert store.transport.session() is session  # kept alive between a thread's calls
    assert isinstance(session, requests.Session)
    with ThreadPoolExecutor(4) as pool:
        others = list(pool.map(lambda _: store.transport.session(), range(4)))
    assert session not in others  # never shared between threads
    assert len({id(other) for other in others}) == len(set(others))


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("http://127.0.0.1:8001/api/admin/tickets/", []),
        ("http://127.0.0.1:8001/api/admin/tickets/", [("status", "open"), ("status", "new")]),
        ("https://shop.29next.store/api/admin/tickets/", [("search", "refund? 50% & more")]),
        ("https://shop.29next.store/api/admin/tickets/", [("search", "Ümlaut ✓ ~x+y")]),
        ("https://shop.29next.store/api/admin/users/12/", [("cursor", "cD0yMDI2LTA%3D")]),
        ("https://bücher.example/api/admin/tickets/?a=1", [("b", "2")]),
        ("https://shop.29next.store/api/admin/a path/", [("c", "d")]),
        ("https://shop.29next.store/api/admin/tickets/#part", [("e", "f")]),
        ("https://shop.29next.store/api/admin/tickets/?g=1#part?x", [("h", "i")]),
    ],
)
def test_a_request_is_prepared_as_requests_prepares_it(url, params):
    headers = {"Authorization": "Bearer x", "X-29next-API-Version": "unstable"}
    ours = store.transport.prepare(url, params, headers).request
    sent = {**store.transport.session().headers, **headers}  # as Session.get merges them
    theirs = requests.Request("GET", url, params=params, headers=sent).prepare()
    assert ours.url == theirs.url and ours.method == theirs.method == "GET"
    assert ours.body is None and dict(ours.headers) == dict(theirs.headers)
    assert ours.headers["Authorization"] == "Bearer x"


def test_an_address_requests_refuses_is_refused_every_time():
    for _ in range(2):
        with pytest.raises(requests.RequestException):
            store.transport.prepare("not an address", [("a", "b")], {})


def test_page_carries_cursors_taken_out_of_next_and_previous(mocked):
    mocked.get(
        TICKETS,
        json=page_json(
            next_url="http://api.example.org/accounts/?cursor=cD00ODY%3D%22",
            previous_url="https://example.29next.store/api/admin/tickets/?status=open&cursor=cj0xJnA9NDg3",
        ),
    )
    page = store.list_tickets(store.TicketQuery())
    assert page.next_cursor == 'cD00ODY="'
    assert page.previous_cursor == "cj0xJnA9NDg3"


def test_next_page_is_asked_of_the_configured_store_never_the_link_host(mocked):
    """A `next` link naming another host must not receive the token: only its cursor is used."""
    mocked.get(TICKETS, json=page_json(next_url="https://evil.test/steal/?cursor=abc"))
    page = store.list_tickets(store.TicketQuery(status=("open",)))

    store.list_tickets(store.TicketQuery(status=("open",), cursor=page.next_cursor))

    assert [urlsplit(call.request.url).netloc for call in mocked.calls] == [
        "example.29next.store",
        "example.29next.store",
    ]
    assert sent_params(mocked) == [("status", "open"), ("cursor", "abc")]


def test_end_of_list_has_no_next_cursor(mocked):
    mocked.get(TICKETS, json=page_json(next_url=None, previous_url=None))
    page = store.list_tickets(store.TicketQuery())
    assert page.next_cursor is None
    assert page.previous_cursor is None


def test_a_link_without_cursor_is_a_bad_response(mocked):
    mocked.get(TICKETS, json=page_json(next_url="https://example.29next.store/api/admin/tickets/"))
    with pytest.raises(store.BadResponse):
        store.list_tickets(store.TicketQuery())


def test_tickets_parse_into_frozen_dataclasses(mocked):
    mocked.get(TICKETS, json=page_json())
    mocked.get(TICKETS + "7/", json=ticket_json())
    ticket = store.list_tickets(store.TicketQuery()).tickets[0]

    assert ticket.id == 7
    assert ticket.created_at.isoformat() == "2026-11-20T09:14:00+00:00"
    assert ticket.tags == ("vip",)
    assert ticket.comment_count == 1
    ticket = store.get_ticket(7)
    comment = ticket.comments[0]
    assert comment.is_public is True
    assert comment.attachments[0].url == "https://cdn.test/a.jpg"
    assert comment.attachments[0].is_link
    with pytest.raises(AttributeError):
        ticket.subject = "changed"


def test_unknown_enum_values_and_nulls_come_through_as_they_are(mocked):
    odd = ticket_json(
        status="on_hold",
        channel="sms",
        priority=None,
        requester=None,
        assignee=None,
        ticket_type=None,
        order=None,
        subject=None,
        from_email=None,
        created_at=None,
        tags=None,
        products=None,
        comments=[
            {"id": 1, "body": None, "author": None, "created_at": None, "attachments": []},
        ],
    )
    mocked.get(TICKETS, json=page_json(results=[odd]))
    mocked.get(TICKETS + "7/", json=odd)

    listed = store.list_tickets(store.TicketQuery()).tickets[0]
    ticket = store.get_ticket(7)

    assert listed == replace(ticket, comments=())
    assert (ticket.status, ticket.channel, ticket.priority) == ("on_hold", "sms", None)
    assert ticket.subject == "" and ticket.order is None and ticket.created_at is None
    assert ticket.tags == () and ticket.products == ()
    assert ticket.comments[0].body == ""
    assert ticket.comments[0].is_public is False  # not said to be public: shown as internal


@pytest.mark.parametrize(
    "url, is_link",
    [
        ("https://cdn.test/a.pdf", True),
        ("HTTP://cdn.test/a.pdf", True),
        ("javascript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("/relative/path.pdf", False),
        ("", False),
    ],
)
def test_only_http_attachments_are_links(url, is_link):
    assert store.Attachment(id=1, file_name="f", url=url).is_link is is_link


def test_comments_are_in_thread_order(mocked):
    comments = [
        {"id": 3, "created_at": "2026-11-21T10:00:00Z", "attachments": []},
        {"id": 1, "created_at": "2026-11-20T10:00:00Z", "attachments": []},
        {"id": 2, "created_at": "2026-11-20T10:00:00", "attachments": []},
    ]
    mocked.get(TICKETS + "7/", json=ticket_json(comments=comments))
    assert [c.id for c in store.get_ticket(7).comments] == [1, 2, 3]


@pytest.mark.parametrize(
    "status, error",
    [
        (401, store.TokenRejected),
        (403, store.ScopeMissing),
        (429, store.RateLimited),
        (500, store.StoreUnavailable),
        (502, store.StoreUnavailable),
        (503, store.StoreUnavailable),
        (504, store.StoreUnavailable),
        (400, store.FilterRefused),
    ],
)
def test_http_errors_become_the_exception_family(mocked, sleeps, status, error):
    mocked.get(TICKETS, status=status, json={"detail": "nope"}, headers={"Retry-After": "1"})
    with pytest.raises(error) as raised:
        store.list_tickets(store.TicketQuery())
    assert isinstance(raised.value, store.TicketsAPIError)
    assert raised.value.message


def test_404_with_a_cursor_is_an_invalid_cursor(mocked):
    mocked.get(TICKETS, status=404, json={"detail": "Invalid cursor"})
    with pytest.raises(store.InvalidCursor) as raised:
        store.list_tickets(store.TicketQuery(cursor="forged"))
    assert "start again from the top" in raised.value.message


def test_404_for_a_ticket_is_not_found(mocked):
    mocked.get(TICKETS + "99/", status=404, json={"detail": "No Ticket matches the given query."})
    with pytest.raises(store.TicketNotFound):
        store.get_ticket(99)


def test_timeout_and_connection_errors(mocked, sleeps):
    mocked.get(TICKETS, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(store.StoreTimeout):
        store.list_tickets(store.TicketQuery())
    mocked.replace(responses.GET, TICKETS, body=requests.ConnectionError("refused"))
    with pytest.raises(store.StoreUnavailable):
        store.list_tickets(store.TicketQuery())


@pytest.mark.parametrize(
    "body",
    [
        "<html>Gateway</html>",
        "[1, 2]",
        '{"data": []}',
        '{"results": {"id": 1}}',
        '{"results": [{"subject": "no id"}]}',
        '{"results": ["not an object"]}',
        '{"results": [{"id": 1, "comments": "nope"}]}',
    ],
)
def test_unreadable_answers_are_bad_responses(mocked, body):
    mocked.get(TICKETS, body=body, content_type="application/json")
    with pytest.raises(store.BadResponse):
        store.list_tickets(store.TicketQuery())


@pytest.mark.parametrize(
    "comments",
    [[{"id": 2, "attachments": "x"}], ["not a comment"], [{"body": "no id", "attachments": []}]],
)
def test_an_unreadable_thread_is_a_bad_response(mocked, comments):
    mocked.get(TICKETS + "7/", json=ticket_json(comments=comments))
    with pytest.raises(store.BadResponse):
        store.get_ticket(7)


def test_list_pages_carry_thread_sizes_not_threads(mocked):
    mocked.get(TICKETS, json=page_json())
    ticket = store.list_tickets(store.TicketQuery()).tickets[0]
    assert ticket.comment_count == 1
    assert ticket.comments == ()


def test_errors_and_logs_never_carry_the_token(mocked, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    for status in (401, 404, 429, 500):
        cache.clear()
        mocked.upsert(responses.GET, TICKETS, status=status, json={"detail": TEST_TOKEN})
        with pytest.raises(store.TicketsAPIError) as raised:
            store.list_tickets(store.TicketQuery(cursor="c"))
        assert TEST_TOKEN not in str(raised.value) + raised.value.message
    # The store's own lines about these answers were logged, so the check below reads them.
    assert any(record.name == "dashboard.store.client" for record in caplog.records)
    assert TEST_TOKEN not in caplog.text


def test_ticket_types_walk_every_page_and_are_cached(mocked):
    mocked.get(
        BASE + "tickettypes/",
        match=[responses.matchers.query_param_matcher({})],
        json={
            "next": BASE + "tickettypes/?cursor=p2",
            "previous": None,
            "results": [{"id": 1, "name": "Refund request"}],
        },
    )
    mocked.get(
        BASE + "tickettypes/",
        match=[responses.matchers.query_param_matcher({"cursor": "p2"})],
        json={"next": None, "previous": None, "results": [{"id": 2, "name": "Shipping"}]},
    )

    assert store.ticket_types(fetch=False) is None
    types = store.ticket_types()
    assert {i: t.name for i, t in types.items()} == {1: "Refund request", 2: "Shipping"}
    assert store.ticket_types() == types
    assert store.ticket_types(fetch=False) == types
    assert len(mocked.calls) == 2


# --- Sharing the budget: retries, pacing and the cache ------------------------------------


@pytest.fixture
def slots(monkeypatch):
    """Count the turns taken in the shared request budget."""
    taken = []
    monkeypatch.setattr(budget, "wait_for_slot", lambda key: taken.append(key) or 0.0)
    return taken


def test_a_429_is_retried_after_its_retry_after(mocked, sleeps, slots):
    mocked.get(TICKETS, status=429, headers={"Retry-After": "2"})
    mocked.get(TICKETS, json=page_json())
    page = store.list_tickets(store.TicketQuery())
    assert page.tickets
    assert sleeps == [2.0]
    assert len(mocked.calls) == 2
    assert len(slots) == 2  # the retry waited for its own turn too


def test_retry_after_as_an_http_date(mocked, sleeps):
    soon = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    mocked.get(TICKETS, status=429, headers={"Retry-After": soon})
    mocked.get(TICKETS, json=page_json())
    store.list_tickets(store.TicketQuery())
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 3.0


def test_a_429_storm_gives_up_after_a_bounded_number_of_retries(mocked, sleeps, settings):
    settings.STORE_429_RETRIES = 3
    mocked.get(TICKETS, status=429, headers={"Retry-After": "1"})
    with pytest.raises(store.RateLimited):
        store.list_tickets(store.TicketQuery())
    assert len(mocked.calls) == 4
    assert sleeps == [1.0, 1.0, 1.0]


def test_a_long_retry_after_goes_back_to_the_person_at_once(mocked, sleeps):
    mocked.get(TICKETS, status=429, headers={"Retry-After": "120"})
    with pytest.raises(store.RateLimited):
        store.list_tickets(store.TicketQuery())
    assert len(mocked.calls) == 1 and sleeps == []


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_error_is_retried_once_with_jitter(mocked, sleeps, status):
    mocked.get(TICKETS, status=status)
    mocked.get(TICKETS, json=page_json())
    assert store.list_tickets(store.TicketQuery()).tickets
    assert len(sleeps) == 1 and 0.2 <= sleeps[0] <= 0.6


def test_a_gateway_error_twice_is_reported(mocked, sleeps):
    mocked.get(TICKETS, status=503)
    with pytest.raises(store.StoreUnavailable):
        store.list_tickets(store.TicketQuery())
    assert len(mocked.calls) == 2


def test_a_500_is_not_retried(mocked, sleeps):
    mocked.get(TICKETS, status=500)
    with pytest.raises(store.StoreUnavailable):
        store.list_tickets(store.TicketQuery())
    assert len(mocked.calls) == 1


def test_a_connection_error_is_retried_once(mocked, sleeps):
    mocked.get(TICKETS, body=requests.ConnectionError("reset"))
    mocked.get(TICKETS, json=page_json())
    assert store.list_tickets(store.TicketQuery()).tickets
    assert len(mocked.calls) == 2


def test_a_read_timeout_is_not_retried(mocked, sleeps):
    mocked.get(TICKETS, body=requests.ReadTimeout("slow"))
    with pytest.raises(store.StoreTimeout):
        store.list_tickets(store.TicketQuery())
    assert len(mocked.calls) == 1


def test_no_turn_in_the_budget_in_time_is_busy(mocked, monkeypatch):
    def exhausted(key):
        raise budget.WaitTimeout("no slot")

    monkeypatch.setattr(budget, "wait_for_slot", exhausted)
    mocked.get(TICKETS, json=page_json())
    with pytest.raises(store.StoreBusy) as raised:
        store.list_tickets(store.TicketQuery())
    assert "try again" in raised.value.message
    assert len(mocked.calls) == 0


def test_the_budget_key_is_not_the_token(mocked, slots):
    mocked.get(TICKETS, json=page_json())
    store.list_tickets(store.TicketQuery())
    assert slots and TEST_TOKEN not in slots[0]


def test_identical_queries_are_answered_from_the_cache(mocked):
    mocked.get(TICKETS, json=page_json(next_url=TICKETS + "?cursor=n2"))
    first = store.list_tickets(store.TicketQuery(status=("open",)))
    again = store.list_tickets(store.TicketQuery(status=("open",)))
    assert again == first
    assert len(mocked.calls) == 1

    store.list_tickets(store.TicketQuery(status=("open",), cursor="n2"))
    store.list_tickets(store.TicketQuery(status=("new",)))
    assert len(mocked.calls) == 3


def test_the_cache_lasts_store_cache_ttl(mocked, settings):
    settings.STORE_CACHE_TTL = 0  # no caching at all
    mocked.get(TICKETS, json=page_json())
    store.list_tickets(store.TicketQuery())
    store.list_tickets(store.TicketQuery())
    assert len(mocked.calls) == 2


def test_a_failure_is_shared_briefly_rather_than_asked_again(mocked, settings):
    settings.STORE_ERROR_TTL = 5
    mocked.get(TICKETS, status=500)
    for _ in range(3):
        with pytest.raises(store.StoreUnavailable):
            store.list_tickets(store.TicketQuery())
    assert len(mocked.calls) == 1


def test_agent_names_come_from_the_users_list(mocked):
    mocked.get(
        BASE + "users/",
        match=[responses.matchers.query_param_matcher({"user_type": "dashboard"})],
        json={
            "next": None,
            "previous": None,
            "results": [
                {"id": 4, "first_name": "Aiko", "last_name": "Tanaka", "email": "a@x.test"},
                {"id": 5, "first_name": "", "last_name": "", "email": "ops@x.test"},
            ],
        },
    )
    agents = store.staff()
    assert {i: p.name for i, p in agents.items()} == {4: "Aiko Tanaka", 5: "ops@x.test"}
    assert agents[4].email == "a@x.test"
    assert store.staff(fetch=False) == store.staff()
    assert len(mocked.calls) == 1


def test_without_the_users_scope_pages_show_agent_ids(mocked, caplog):
    mocked.get(BASE + "users/", status=403, json={"detail": "missing scope users:read"})
    assert store.staff() == {}
    assert store.staff() == {}
    assert len(mocked.calls) == 1  # remembered, not asked again on every page


# --- Answers at the edges: never a 500 -----------------------------------------------------


def test_a_pagination_link_that_is_not_a_url_is_a_bad_response(mocked):
    mocked.get(TICKETS, json=page_json(next_url="http://[x?cursor=abc"))
    with pytest.raises(store.BadResponse):
        store.list_tickets(store.TicketQuery())


def test_an_attachment_url_that_is_not_a_url_is_plain_text():
    assert store.Attachment(id=1, file_name="f", url="http://[x").is_link is False


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_dates_at_the_ends_of_the_calendar_are_shown_as_unknown(mocked, moment):
    mocked.get(TICKETS, json=page_json(results=[ticket_json(created_at=moment)]))
    assert store.list_tickets(store.TicketQuery()).tickets[0].created_at is None


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "soon"])
def test_an_unreadable_retry_after_means_one_second(mocked, sleeps, value):
    mocked.get(TICKETS, status=429, headers={"Retry-After": value})
    mocked.get(TICKETS, json=page_json())
    store.list_tickets(store.TicketQuery())
    assert sleeps == [1.0]


def test_deeply_nested_json_is_a_bad_response(mocked):
    mocked.get(TICKETS, body="[" * 100_000 + "]" * 100_000, content_type="application/json")
    with pytest.raises(store.BadResponse):
        store.list_tickets(store.TicketQuery())


@pytest.mark.parametrize(
    "body",
    [
        '{"next": null, "previous": null, "results": [{"id": 7, "subject": "lone \\ud800"}]}',
        '{"next": null, "previous": null, "results": [{"id": 7, "subject": NaN}]}',
    ],
    ids=["lone-surrogate", "nan"],
)
def test_what_the_fast_json_reader_refuses_is_read_as_before(mocked, body):
    """orjson reads the store's answers; what it refuses and Python's json reads is read so."""
    mocked.get(TICKETS, body=body, content_type="application/json")
    (ticket,) = store.list_tickets(store.TicketQuery()).tickets
    assert (ticket.id, ticket.subject) == (7, str(json.loads(body)["results"][0]["subject"]))


def test_an_answer_in_another_charset_is_read_in_it(mocked):
    """Bytes that are UTF-8 too, in an answer that says they are Latin-1: read as Latin-1."""
    subject = "CafÃ©"  # b"Caf\xc3\xa9", "Café" in UTF-8
    body = json.dumps(page_json([{"id": 7, "subject": subject}]), ensure_ascii=False)
    mocked.get(
        TICKETS, body=body.encode("latin-1"), content_type="application/json; charset=latin-1"
    )
    (ticket,) = store.list_tickets(store.TicketQuery()).tickets
    assert ticket.subject == subject


def test_redirects_are_not_followed(mocked):
    mocked.get(TICKETS, status=302, headers={"Location": "https://elsewhere.test/tickets/"})
    mocked.get("https://elsewhere.test/tickets/", json=page_json())
    with pytest.raises(store.BadResponse):
        store.list_tickets(store.TicketQuery())
    assert len(mocked.calls) == 1


# --- What the store refuses, and what the token may not read ---------------------------------


def test_a_400_carries_the_stores_words_for_each_filter(mocked):
    message = "Select a valid choice. 99 is not one of the available choices."
    mocked.get(TICKETS, status=400, json={"tags": [message], "detail": "Bad filters."})
    with pytest.raises(store.FilterRefused) as raised:
        store.list_tickets(store.TicketQuery(tags=(99,)))
    assert raised.value.field_errors == {"tags": [message], "__all__": ["Bad filters."]}
    assert raised.value.http_status == 400


def test_a_400_that_is_not_field_errors_is_a_bad_response(mocked):
    mocked.get(TICKETS, status=400, body="<html>Bad Request</html>")
    with pytest.raises(store.BadResponse):
        store.list_tickets(store.TicketQuery())


@pytest.mark.parametrize(
    ("path", "call", "scope"),
    [
        ("users/31/", lambda: store.look_up_customer(31), "users:read"),
        ("products/40/", lambda: store.look_up_product(40), "catalogue:read"),
        ("tickets/", lambda: store.list_tickets(store.TicketQuery()), "tickets:read"),
    ],
)
def test_a_403_names_the_missing_scope_and_never_says_rejected(mocked, caplog, path, call, scope):
    caplog.set_level(logging.INFO)
    mocked.get(BASE + path, status=403, json={"detail": "no"})
    with pytest.raises(store.ScopeMissing) as raised:
        call()
    assert raised.value.scope == scope
    assert scope in raised.value.message
    assert "rejected" not in raised.value.message.lower()
    assert not any("rejected" in r.getMessage() for r in caplog.records)
    nicety = scope != "tickets:read"
    assert all(r.levelno < logging.WARNING for r in caplog.records) == nicety


def test_a_customer_is_looked_up_once_and_kept_by_id(mocked):
    mocked.get(
        BASE + "users/31/",
        json={"id": 31, "first_name": "Anna", "last_name": "Kowalski", "email": "anna@x.test"},
    )
    assert store.known_customers([31]) == {}
    found = store.look_up_customer(31)
    assert found.person.name == "Anna Kowalski" and found.person.short_name == "Anna K."
    assert store.known_customers([31, 32]) == {31: found}
    store.look_up_customer(31)
    assert len(mocked.calls) == 1  # once an hour is enough


def test_a_customer_the_store_does_not_have_is_remembered_as_such(mocked):
    mocked.get(BASE + "users/32/", status=404, json={"detail": "Not found."})
    assert store.look_up_customer(32).person is None
    assert store.known_customers([32])[32].person is None


def test_customers_are_found_by_email_or_name(mocked):
    results = [{"id": 31, "first_name": "Anna", "last_name": "K", "email": "anna@x.test"}]
    mocked.get(
        BASE + "users/",
        match=[responses.matchers.query_param_matcher({"email": "anna@x.test"})],
        json={"next": None, "previous": None, "results": results},
    )
    mocked.get(
        BASE + "users/",
        match=[responses.matchers.query_param_matcher({"name": "anna"})],
        json={"next": None, "previous": None, "results": results * 2},
    )
    assert [p.id for p in store.find_customers(email="anna@x.test")] == [31]
    assert len(store.find_customers(name="anna")) == 2


def test_products_by_id_and_by_title(mocked):
    mocked.get(BASE + "products/40/", json={"id": 40, "title": "Starter kit"})
    mocked.get(
        BASE + "products/",
        match=[responses.matchers.query_param_matcher({"title": "kit"})],
        json={"next": None, "previous": None, "results": [{"id": 40, "title": "Starter kit"}]},
    )
    assert store.look_up_product(40).product.title == "Starter kit"
    assert store.known_products([40])[40].product.title == "Starter kit"
    assert [p.title for p in store.find_products("kit")] == ["Starter kit"]
