import pytest
from django.http import QueryDict

from dashboard import store
from dashboard.filters import TicketFilterForm, querystring
from tests.conftest import every_filter

# Form validation never needs the store.
pytestmark = pytest.mark.usefixtures("fake_store")

TYPES = {
    1: store.TicketType(id=1, name="Refund request"),
    2: store.TicketType(id=2, name="Shipping & delivery"),
}


def form_for(query_string, ticket_types=TYPES):
    return TicketFilterForm(QueryDict(query_string), ticket_types=ticket_types)


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
        "&order_number=100482&product=12&product=40&tags=refund&tags=vip&ticket_type=2"
        "&priority=high&channel=email&created_from=2026-11-01&created_to=2026-11-30"
    )


def test_the_same_filters_in_any_order_give_one_bookmark():
    one = form_for("status=open&status=new&tags=b,a")
    two = form_for("tags=a&tags=b&status=new&status=open&status=new")
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
        ("product=12,abc", "product"),
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
