"""The index's queries match the store's list: for random filters the index answers, its count
is the sandbox's own (a hypothesis property), and the edges (tags the catalogue does not know,
days in UTC with both ends included, subjects in any case) one by one."""

import io
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.utils.dateparse import parse_datetime
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dashboard import store
from dashboard.index import counts as index_counts
from dashboard.index import query, rows
from dashboard.models import Tag
from tests.test_index_counts import indexed  # noqa: F401
from tools.sandbox.filters import CHANNELS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sandbox_tags(db, monkeypatch):
    """The sandbox's tags in the team's catalogue, imported as `make run` does:
    `python -m tools.sandbox --print-tags | manage.py import_tags -`."""
    printed = subprocess.run(
        [sys.executable, "-m", "tools.sandbox", "--print-tags"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    monkeypatch.setattr(sys, "stdin", io.StringIO(printed))
    call_command("import_tags", "-", stdout=io.StringIO())
    return Tag.catalogue()


def sandbox_count(sandbox, ticket_query):
    """The sandbox's own count of its list for the query: its control API, no call of the
    token's budget."""
    answer = requests.get(
        f"{sandbox.root_url}__sandbox__/count", params=ticket_query.params(), timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["count"]


# --- The property -------------------------------------------------------------------------


@st.composite
def fragments(draw, texts):
    """A piece of one of `texts`, in some case, as a person types it (trimmed)."""
    text = draw(st.sampled_from(texts))
    start = draw(st.integers(0, len(text) - 1))
    end = draw(st.integers(start + 1, min(len(text), start + 14)))
    case = draw(st.sampled_from([str.lower, str.upper, str.swapcase, str.title, str]))
    return case(text[start:end]).strip()


@st.composite
def answerable_queries(draw, tickets, catalogue):
    """A query the index answers: one to four of the documented filters but the search, with
    values mostly taken from the store's own tickets."""
    days = sorted(datetime.fromisoformat(t["created_at"]).date() for t in tickets)
    some_of = lambda values, most=3: st.lists(  # noqa: E731
        st.sampled_from(sorted(values)), min_size=1, max_size=most, unique=True
    ).map(tuple)
    of_tickets = lambda name: sorted({t[name] for t in tickets if t[name] is not None})  # noqa: E731
    a_day = st.dates(days[0] - timedelta(days=2), days[-1] + timedelta(days=2))
    choices = {
        "status": some_of(store.STATUSES),
        "priority": st.sampled_from(store.PRIORITIES),
        "channel": st.sampled_from(CHANNELS),
        "requester": st.sampled_from(of_tickets("requester")),
        "assignee": st.sampled_from(of_tickets("assignee")),
        "tags": some_of(catalogue.by_id),
        "product": some_of({p for t in tickets for p in t["products"]} | {999_999}),
        "subject": fragments([t["subject"] for t in tickets if t["subject"]]),
        "order_number": st.one_of(
            st.sampled_from([t["order"] for t in tickets if t["order"]]), st.just("A-00000")
        ),
        "ticket_type": st.sampled_from(of_tickets("ticket_type")),
        "created_from": a_day,
        "created_to": a_day,
        "id": st.sampled_from([t["id"] for t in tickets]),
    }
    names = draw(st.lists(st.sampled_from(sorted(choices)), min_size=1, max_size=4, unique=True))
    fields = {name: draw(choices[name]) for name in names}
    if fields.get("subject") == "":
        del fields["subject"]
    return store.TicketQuery(**fields)


PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.also_sqlite
@PROPERTY
@given(data=st.data())
def test_the_index_counts_what_the_stores_list_holds(data, sandbox, sandbox_tags, indexed):  # noqa: F811
    if not index_counts.freshness.current().answers:
        indexed()  # once: hypothesis runs every example inside one test
    ticket_query = data.draw(answerable_queries(sandbox.data.tickets, sandbox_tags))
    assert query.answerable(ticket_query)
    expected = sandbox_count(sandbox, ticket_query)
    event("matches some" if expected else "matches none")
    assert index_counts.total(ticket_query).total == expected, ticket_query
    # And one ticket at a time, as a delivery is matched against an open list.
    matching = [t for t in sandbox.data.tickets if query.matches(ticket_query, t)]
    assert len(matching) == expected, ticket_query


# --- The edges ----------------------------------------------------------------------------


def index(*tickets):
    for ticket in tickets:
        moment = parse_datetime(ticket["created_at"])
        rows.write(ticket, moment, moment)


def ticket(ticket_id, created_at="2026-11-30T12:00:00Z", **fields):
    return {
        "id": ticket_id,
        "subject": "",
        "status": "open",
        "priority": "medium",
        "channel": "email",
        "requester": 1,
        "assignee": None,
        "ticket_type": None,
        "tags": [],
        "products": [],
        "order": None,
        "from_email": None,
        "created_at": created_at,
        "updated_at": created_at,
        "comments": [],
        **fields,
    }


def listed(ticket_query, catalogue=None):
    """The ids the index lists, checked against `matches` on every indexed ticket."""
    from dashboard.models import IndexedTicket

    found = list(query.tickets(ticket_query, catalogue).values_list("id", flat=True))
    one_by_one = [
        row.id
        for row in IndexedTicket.objects.all()
        if query.matches(ticket_query, query.as_ticket(row), catalogue)
    ]
    assert sorted(found) == sorted(one_by_one)
    return sorted(found)


def test_a_tag_the_catalogue_does_not_know_is_not_answered(db, tag_catalogue):
    index(ticket(1, tags=["vip"]))
    unknown = store.TicketQuery(tags=(tag_catalogue["vip"], 4242))
    assert not query.answerable(unknown)
    assert query.tickets(unknown) is None
    assert query.matches(unknown, ticket(1, tags=["vip"])) is None
    assert listed(store.TicketQuery(tags=(tag_catalogue["vip"],))) == [1]


def test_a_search_is_not_answered(db):
    search = store.TicketQuery(filter_text="anna")
    assert not query.answerable(search)
    assert query.tickets(search) is None


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_created_dates_are_days_in_utc_both_ends_included(db, settings, zone):
    settings.TIME_ZONE = zone  # the dashboard's own zone changes nothing: the API's days are UTC
    index(
        ticket(1, created_at="2026-11-29T23:59:59Z"),
        ticket(2, created_at="2026-11-30T00:00:00Z"),
        ticket(3, created_at="2026-11-30T23:59:59Z"),
        ticket(4, created_at="2026-12-01T00:00:00Z"),
    )
    day = date(2026, 11, 30)
    assert listed(store.TicketQuery(created_from=day, created_to=day)) == [2, 3]
    assert listed(store.TicketQuery(created_from=day)) == [2, 3, 4]
    assert listed(store.TicketQuery(created_to=day)) == [1, 2, 3]
    assert listed(store.TicketQuery(created_from=day, created_to=day - timedelta(days=1))) == []


# Matched by each database's own regular expressions: on SQLite too.
@pytest.mark.also_sqlite
@pytest.mark.parametrize(
    ("fragment", "found"),
    [
        ("café", [1]),
        ("CAFÉ CRÈME", [1]),  # letters beyond ASCII in any case, as the store folds them
        ("cAfÉ", [1]),
        ("cafe", []),  # an accent is a letter of its own
        ("RÜCKERSTATTUNG", [2]),
        ("(again)?", [3]),  # the pattern's characters are only characters
        ("[X]", [3]),
        ("50%", [3]),
        ("a.b", [4]),
        ("a_b", [5]),  # neither _ nor % is a wildcard
        ("\\", [6]),
        ("^", [6]),
        ("שלום", [7]),
        ("", [1, 2, 3, 4, 5, 6, 7]),  # no subject filter at all
    ],
)
def test_a_subject_matches_in_any_case_and_literally(db, fragment, found):
    index(
        ticket(1, subject="Un café crème froid"),
        ticket(2, subject="Rückerstattung für Bestellung 102573"),
        ticket(3, subject="50% off (AGAIN)? [x] twice"),
        ticket(4, subject="a.b"),
        ticket(5, subject="a_b axb"),
        ticket(6, subject="back\\slash ^caret$"),
        ticket(7, subject="שלום, הזמנה"),
    )
    assert listed(store.TicketQuery(subject=fragment)) == found


def test_an_order_number_equals_in_any_case(db):
    index(ticket(1, order="WH-1024"), ticket(2, order="WH-10245"), ticket(3, order=None))
    assert listed(store.TicketQuery(order_number="wh-1024")) == [1]
