import time
from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dashboard import store
from dashboard.tickets import lookups
from dashboard.tickets.filters import (
    FilterContext,
    TagCatalogue,
    TicketFilterForm,
    plain_bookmark,
    querystring,
)
from tests.conftest import every_filter

# Form validation never needs the store.
pytestmark = pytest.mark.usefixtures("fake_store")

TYPES = {
    1: store.TicketType(id=1, name="Refund request"),
    2: store.TicketType(id=2, name="Shipping & delivery"),
}


TAGS = TagCatalogue({3: "refund", 8: "vip", 12: "VIP gold"})
AGENTS = {4: store.Person(id=4, first_name="Aiko", last_name="Tanaka", email="aiko@x.test")}


def form_for(query_string, ticket_types=TYPES, **context):
    context = FilterContext(ticket_types=ticket_types, tags=TAGS, agents=AGENTS, **context)
    return TicketFilterForm(QueryDict(query_string), context=context)


def test_empty_fields_leave_a_canonical_empty_query():
    form = form_for("filter_text=&status=&priority=&channel=&ticket_type=&product=&created_from=")
    assert form.is_valid(), form.errors
    assert form.query() == store.TicketQuery()
    assert querystring(form.query()) == ""


def test_every_field_becomes_its_api_parameter():
    form = form_for(
        "filter_text=+anna+&id=7&subject=order&status=open&status=new&requester=31&assignee=4"
        "&order_number=100482&product=40,12&product=12&tags=vip,+refund&ticket_type=2"
        "&priority=high&channel=email&created_from=2026-11-01&created_to=2026-11-30&cursor=abc%3D"
    )
    assert form.is_valid(), form.errors
    query = form.query()
    assert query == every_filter(cursor="abc=")
    assert querystring(query.filters) == (
        "filter_text=anna&id=7&subject=order&status=new&status=open&requester=31&assignee=4"
        "&order_number=100482&product=12&product=40&tags=3&tags=8&ticket_type=2"
        "&priority=high&channel=email&created_from=2026-11-01&created_to=2026-11-30"
    )


def test_the_same_filters_in_any_order_give_one_bookmark():
    one = form_for("status=open&status=new&tags=vip,refund")
    two = form_for("tags=3&tags=VIP&status=new&status=open&status=new")
    assert one.is_valid() and two.is_valid()
    assert querystring(one.query()) == querystring(two.query())


@pytest.mark.parametrize(
    "query_string, field",
    [
        ("id=abc", "id"),
        ("id=0", "id"),
        ("id=99999999999999999999", "id"),
        ("requester=-3", "requester"),
        ("assignee=1.5", "assignee"),
        ("status=bogus", "status"),
        ("status=open&status=<script>", "status"),
        ("priority=urgent", "priority"),
        ("channel=fax", "channel"),
        ("ticket_type=99", "ticket_type"),
        ("ticket_type=abc", "ticket_type"),
        ("created_from=2026-13-01", "created_from"),
        ("created_from=yesterday", "created_from"),
        ("created_to=01/11/2026", "created_to"),
        ("created_from=2026-11-30&created_to=2026-11-01", "created_to"),
        ("product=12,%2B3", "product"),
        ("product=3.0", "product"),
        ("requester=３", "requester"),
        ("tags=-1", "tags"),
        ("tags=%2B3", "tags"),
        ("tags=3.0", "tags"),
        ("tags=３", "tags"),
        ("tags=platinum", "tags"),
        ("tags=99999999999", "tags"),
        ("assignee=mine", "assignee"),
        ("product=0", "product"),
        ("tags=" + ",".join(f"t{i}" for i in range(21)), "tags"),
        ("subject=" + "x" * 201, "subject"),
        ("filter_text=a%00b", "filter_text"),
        ("cursor=abc%20def", "cursor"),
        ("cursor=https://evil.test/", "cursor"),
    ],
)
def test_invalid_input_is_refused_with_a_field_error(query_string, field):
    form = form_for(query_string)
    assert not form.is_valid()
    assert field in form.errors


def test_unknown_ticket_type_id_is_kept_while_types_are_not_known():
    form = form_for("ticket_type=5", ticket_types=None)
    assert form.is_valid(), form.errors
    assert form.query().ticket_type == 5
    assert ("5", "Type #5") in form.fields["ticket_type"].choices


def test_ticket_types_are_offered_by_name():
    form = form_for("")
    assert form.fields["ticket_type"].choices == [
        ("", "Any type"),
        ("1", "Refund request"),
        ("2", "Shipping & delivery"),
    ]


def test_a_bad_cursor_is_reported_as_a_stale_page_link():
    form = form_for("status=open&cursor=not%20a%20cursor")
    assert not form.is_valid()
    assert form.cursor_error
    assert "start again from the top" in form.errors["cursor"][0]


def test_tags_are_read_by_name_from_the_catalogue_or_as_ids():
    form = form_for("tags=VIP, 3,vip gold")
    assert form.is_valid(), form.errors
    assert form.query().tags == (3, 8, 12)
    assert querystring(form.query()) == "tags=3&tags=8&tags=12"
    assert form["tags"].value() == ("VIP, 3,vip gold",) or form["tags"]


def test_a_tag_the_catalogue_lacks_is_named_in_the_error():
    form = form_for("tags=platinum")
    assert not form.is_valid()
    assert "platinum" in form.errors["tags"][0]
    assert "catalogue" in form.errors["tags"][0]


def test_the_form_shows_tag_names_for_the_ids_it_knows():
    form = form_for("tags=3&tags=77")
    assert form.is_valid(), form.errors
    assert form.fields["tags"].prepare_value(form.cleaned_data["tags"]) == "refund, 77"


def test_agents_are_offered_by_name_and_mine_is_the_signed_in_agent():
    form = form_for("assignee=mine", me=4, my_email="aiko@x.test")
    assert ("4", "Aiko Tanaka") in form.fields["assignee"].choices
    assert ("mine", "Mine") in form.fields["assignee"].choices
    assert form.is_valid(), form.errors
    assert form.query().assignee == 4
    assert form.bookmark(form.query()) == "assignee=mine"  # everyone's own bookmark


def test_mine_says_why_when_no_agent_has_your_email():
    form = form_for("assignee=mine", my_email="temp@elsewhere.test")
    assert not form.is_valid()
    assert "temp@elsewhere.test" in form.errors["assignee"][0]


def test_an_agent_id_is_kept_while_agents_are_not_known():
    context = FilterContext(ticket_types=TYPES)
    form = TicketFilterForm(QueryDict("assignee=9"), context=context)
    assert form.is_valid(), form.errors
    assert form.query().assignee == 9


# Values a bookmark's parameters may hold, good and bad, in the order a bookmark writes them.
BOOKMARK_NAMES = [*store.FILTER_NAMES, "cursor"]
BOOKMARK_VALUES = st.one_of(
    st.sampled_from(
        [
            "", "open", "new", "closed", "solved", "bogus", "high", "low", "urgent", "email",
            "follow_up", "1", "2", "7", "0", "-3", "007", "2147483647", "2147483648", "12,40",
            "vip", "2026-01-01", "2026-12-31", "2026-02-30", "20260101", " x ", "x\x00", "a" * 201,
            "abc=", "Zm9yZ2Vk", "a b", "mine", "3.0",
        ]
    ),
    st.text(max_size=12),
)  # fmt: skip
BOOKMARK_PAIRS = st.lists(st.tuples(st.sampled_from(BOOKMARK_NAMES), BOOKMARK_VALUES), max_size=6)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=BOOKMARK_PAIRS)
@example(pairs=[("status", "new"), ("status", "open"), ("priority", "high")])
@example(pairs=[("id", "7"), ("product", "12"), ("product", "40"), ("ticket_type", "2")])
@example(pairs=[("status", "open"), ("cursor", "abc=")])
def test_a_plain_bookmark_is_exactly_what_the_form_makes_of_it(pairs):
    """A list is asked of the store before its form is checked only for a plain bookmark: the
    form must then take it as it is, into the same query and back into the same bookmark."""
    pairs.sort(key=lambda pair: BOOKMARK_NAMES.index(pair[0]))
    query_string = urlencode(pairs)
    plain = plain_bookmark(query_string, TYPES)
    if plain is None:
        return
    form = form_for(query_string)
    assert form.is_valid(), (query_string, form.errors)
    assert form.query() == plain
    assert form.bookmark(plain) == query_string


def test_what_only_the_form_can_tell_is_not_a_plain_bookmark():
    for query_string in (
        "status=open&status=new",  # not in the bookmark's order
        "priority=urgent",
        "requester=-3",
        "assignee=mine",
        "assignee=4",  # an agent: the form's choices
        "ticket_type=9",  # a ticket type nobody knows
        "requester=anna%40x.test",  # a name to look up
        "tags=vip",
        "product=40&product=12",
        "created_from=2026-12-01&created_to=2026-11-01",
        "status=open&foo=1",
    ):
        assert plain_bookmark(query_string, TYPES) is None, query_string
    assert plain_bookmark("status=new&status=open&ticket_type=2", TYPES) == store.TicketQuery(
        status=("new", "open"), ticket_type=2
    )


def known(person):
    """A customer the dashboard looked up before, as the names cache keeps them."""
    store.client.keep(f"users/{person.id}/", store.Found(person, time.time()), 3600)
    return person


GRACE = store.Person(id=1330, first_name="Grace", last_name="Reid", email="grace.reid@gmail.com")


def test_a_known_customer_id_is_shown_by_name_and_their_name_sent_back_stands_for_them():
    known(GRACE)
    form = form_for("requester=1330")
    assert form.is_valid(), form.errors
    assert form.shown_customer == lookups.Choice(1330, "Grace Reid", "grace.reid@gmail.com")

    # No store is reachable here: a look-up would be a field error.
    again = form_for("requester=grace+reid&shown_requester=1330&status=open")
    assert again.is_valid(), again.errors
    assert again.query().requester == 1330
    assert again.bookmark(again.query()) == "status=open&requester=1330"


def test_an_unknown_customer_id_is_shown_as_typed_and_a_stale_name_is_looked_up():
    form = form_for("requester=1330")
    assert form.is_valid(), form.errors
    assert form.shown_customer is None  # the name is not known: the id, as typed

    known(GRACE)
    typed_over = form_for("requester=Anna&shown_requester=1330", look_up=False)
    assert not typed_over.is_valid()  # "Anna" is a name to find, not Grace's id
    assert "requester" in typed_over.errors


def test_several_answers_are_a_question_and_the_other_filters_still_hold(monkeypatch):
    found = (
        store.Person(id=1330, first_name="Grace", last_name="Reid", email="g@gmail.test"),
        store.Person(id=1322, first_name="Grace", last_name="Reid", email="g@outlook.test"),
    )
    monkeypatch.setattr(store, "find_customers", lambda **by: found)
    form = form_for("requester=Grace+Reid&status=unsolved&priority=high")

    assert not form.is_valid()
    assert form.asks_only
    question = form.questions["requester"]
    assert [(c.id, c.email) for c in question.choices] == [
        (1330, "g@gmail.test"),
        (1322, "g@outlook.test"),
    ]
    assert form.query_apart_from("requester") == store.TicketQuery(
        status=("new", "open", "pending"), priority="high"
    )
    assert form_for("requester=Grace+Reid&id=abc").asks_only is False  # an error is an error
