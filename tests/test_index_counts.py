"""Every count read from the ticket index once it answers: the list's total on a filter's
first view, the saved views' sidebar and the wall, with no count walk and no store call of
their own; "counts as of" while no webhook keeps the index live; a search still walked, and
saying so; and everything as before when the index does not answer, or fails."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dashboard import store
from dashboard.budget import state, worker
from dashboard.index import counts as index_counts
from dashboard.index import freshness, rows
from dashboard.models import DisplayLink, IndexSync, SavedView
from dashboard.tickets import ages, counts
from tests import html
from tests.refs import count_url, without_ref
from tests.test_prefetch import prefetching, ticket_calls  # noqa: F401

SECRET = "index-counts-test-secret"


@pytest.fixture
def indexed(sandbox, db, settings):
    """`fill(live=True, walked=timedelta(0))`: the sandbox's tickets written into the index,
    and a whole walk of them ended `walked` ago; `live`: the store's webhooks keep it (a
    secret is set)."""

    def fill(live=True, walked=timedelta(0)):
        settings.NEXT_WEBHOOK_SECRET = SECRET if live else ""
        rows.write_many(
            [
                (t, parse_datetime(t["created_at"]), parse_datetime(t["updated_at"]))
                for t in sandbox.data.tickets
            ]
        )
        finished = timezone.now() - walked
        IndexSync.objects.create(store=freshness.store_name(), finished_at=finished)
        freshness.forget()
        return finished

    yield fill
    freshness.forget()  # the next test reads the index's state afresh


def in_milliseconds(moment):
    """`moment` as a `<time datetime>` gives it: HTML allows three digits of a second."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@pytest.fixture
def walks(monkeypatch):
    """The keys of the count walks asked for in this process's background (they still run)."""
    asked = []
    submit = worker.submit

    def recorded(key, job, *args, **kwargs):
        if key[0] == "count":
            asked.append(key)
        return submit(key, job, *args, **kwargs)

    monkeypatch.setattr(worker, "submit", recorded)
    yield asked
    worker.drain()


def expected(sandbox, query_string):
    return len(sandbox.data.filter_tickets(parse_qsl(query_string)))


def total_of(doc):
    return doc.select_one("#list-total")


def summary(doc):
    return html.text(doc.select_one(".results-head .summary"))


def walked(query_string):
    """Whether a count walk of the filter left any progress in the shared state."""
    query = store.TicketQuery(**_query_fields(query_string))
    return state.cache_get(counts.state_key(query)) is not None


def _query_fields(query_string):
    fields = {}
    for name, value in parse_qsl(query_string):
        if name == "status":
            fields["status"] = (*fields.get("status", ()), value)
        else:
            fields[name] = value
    return fields


# --- The list's total ---------------------------------------------------------------------


def test_a_filters_first_view_is_exact_with_its_page_and_the_next_only(
    signed_in, sandbox, indexed, prefetching, walks, settings  # noqa: F811
):  # fmt: skip
    settings.STORE_VIEW_COUNTS = True  # the sidebar's counts cost the store nothing either
    indexed()
    query_string = "status=closed&priority=medium"
    assert expected(sandbox, query_string) > sandbox.page_size  # more than a page: not exact
    sandbox.reset_stats()

    doc = html.page(signed_in.get(f"/?{query_string}"))
    prefetching(1)

    total = total_of(doc)
    assert total["data-total"] == str(expected(sandbox, query_string))
    assert total["data-count-source"] == "index"
    assert total.get("data-hx-get") is None  # nothing left to count: no poller
    assert summary(doc) == f"25 shown of {expected(sandbox, query_string)}"
    calls = ticket_calls(sandbox)
    assert len(calls) == 2, calls  # its page, and the next fetched ahead
    assert "cursor=" in calls[1]
    assert walks == [] and not walked(query_string)


def test_a_total_past_the_walks_cap_is_exact(signed_in, sandbox, indexed, monkeypatch):
    monkeypatch.setattr(counts, "CAP", 50)  # the walk would stop and say "50+"
    indexed()
    doc = html.page(signed_in.get("/?status=closed"))
    assert total_of(doc)["data-total"] == str(expected(sandbox, "status=closed"))
    assert expected(sandbox, "status=closed") > counts.CAP


def test_an_htmx_swap_of_the_list_reads_the_index_too(signed_in, sandbox, indexed, walks):
    indexed()
    doc = html.page(signed_in.get("/?status=solved", HTTP_HX_REQUEST="true"))
    assert total_of(doc)["data-total"] == str(expected(sandbox, "status=solved"))
    assert walks == []


def test_the_count_poller_of_a_page_shown_before_the_index_answered_gets_its_total(
    signed_in, sandbox, indexed, walks
):
    doc = html.page(signed_in.get("/?status=closed"))
    assert (
        without_ref(total_of(doc)["data-hx-get"]) == "/count/?status=closed"
    )  # counting by walking
    indexed()
    answer = html.page(signed_in.get(count_url(signed_in, "status=closed")))
    assert total_of(answer)["data-total"] == str(expected(sandbox, "status=closed"))
    assert total_of(answer).get("data-hx-get") is None  # counted: it stops asking
    assert walks == []


def test_without_webhooks_a_total_says_what_time_it_is_as_of(signed_in, sandbox, indexed, settings):
    settings.TIME_ZONE = "Europe/Paris"
    finished = indexed(live=False, walked=timedelta(hours=2))
    doc = html.page(signed_in.get("/?status=closed"))
    total = total_of(doc)
    assert total["data-total"] == str(expected(sandbox, "status=closed"))
    moment = total.select_one("time[data-counts-as-of]")
    assert parse_datetime(moment["datetime"]) == in_milliseconds(finished)
    local = timezone.localtime(finished)
    shown = f"{local:%H:%M}" if local.date() == timezone.localdate() else f"{local:%-d %b, %H:%M}"
    assert html.text(moment) == shown
    assert summary(doc).endswith(f"· counts as of {shown}")


def test_a_live_index_shows_no_time(signed_in, indexed):
    indexed(live=True, walked=timedelta(hours=30))  # webhooks keep it: its walk's age is moot
    doc = html.page(signed_in.get("/?status=closed"))
    assert total_of(doc)["data-count-source"] == "index"
    assert total_of(doc).select_one("[data-counts-as-of]") is None


def test_a_search_is_walked_as_before_and_says_so(signed_in, indexed, walks):
    indexed()
    doc = html.page(signed_in.get(count_url(signed_in, "filter_text=order")))
    total = total_of(doc)
    assert total.get("data-count-source") != "index"
    # Counted by the walk, as before.
    assert without_ref(total["data-hx-get"]) == "/count/?filter_text=order"
    note = total.select_one("[data-count-source=walk]")
    assert html.text(note) == "· a search is counted by walking the store's list"
    assert walks  # its walk was asked for
    assert worker.drain()
    assert walked("filter_text=order")


@pytest.mark.parametrize(
    "state_of_index",
    ["never walked", "walked too long ago without webhooks", "walked for another store"],
)
def test_an_index_that_does_not_answer_leaves_the_walk_as_it_was(
    signed_in, sandbox, indexed, settings, state_of_index
):
    if state_of_index == "never walked":
        indexed()
        IndexSync.objects.update(finished_at=None)
    elif state_of_index == "walked too long ago without webhooks":
        indexed(live=False, walked=timedelta(hours=settings.INDEX_RESYNC_HOURS + 1))
    else:
        indexed()
        IndexSync.objects.update(store="another")
    freshness.forget()
    search = html.page(signed_in.get(count_url(signed_in, "filter_text=order")))
    assert total_of(search).select_one("[data-count-source]") is None  # nothing to say
    doc = html.page(signed_in.get("/?status=closed"))
    assert summary(doc) == "25 shown · counting the total…"
    assert without_ref(total_of(doc)["data-hx-get"]) == "/count/?status=closed"


def lose_the_index(execute, sql, params, many, context):
    """A database whose index of tickets is gone: each query of it fails in the database (on
    PostgreSQL, spoiling the transaction it runs in, were it not its own savepoint)."""
    sql = sql.replace("dashboard_indexedticket", "dashboard_indexedticket_gone")
    return execute(sql, params, many, context)


def test_a_database_fault_while_reading_the_index_falls_back_to_the_walk(
    signed_in, indexed, settings, walks
):
    settings.STORE_VIEW_COUNTS = True
    indexed()
    with connection.execute_wrapper(lose_the_index):
        doc = html.page(signed_in.get("/?status=closed"))
        assert summary(doc) == "25 shown · counting the total…"
        again = html.page(signed_in.get(count_url(signed_in, "status=closed")))
        assert (
            without_ref(again.select_one("#list-total")["data-hx-get"]) == "/count/?status=closed"
        )
        views = html.page(signed_in.get("/views/counts/"))
        assert html.text(views.select_one("[data-view-count=all]")) == "counting…"
        wall = signed_in.get("/wall/?status=open")
        assert wall.status_code == 200
        assert html.page(wall).select("[data-status-count]")  # walked in the request
    assert walks  # the walks count instead


# --- Saved views' counts ------------------------------------------------------------------


def test_saved_views_counts_read_the_index_and_only_a_search_is_walked(
    signed_in, lead, sandbox, indexed, settings, walks, tag_catalogue
):
    settings.STORE_VIEW_COUNTS = True
    finished = indexed(live=False, walked=timedelta(minutes=5))
    filters = ["status=open", "priority=high&channel=email", "tags=1", "filter_text=refund"]
    views = [
        SavedView.objects.create(name=f"View {i}", query=q, owner=lead)
        for i, q in enumerate(filters)
    ]
    sandbox.reset_stats()
    doc = html.page(signed_in.get("/views/counts/"))
    shown = {e["data-view-count"]: e for e in doc.select("[data-view-count]")}
    for view in views[:3]:
        assert html.text(shown[str(view.pk)]) == str(expected(sandbox, view.query)), view.query
        assert shown[str(view.pk)].get("data-count-source") is None
    assert html.text(shown["all"]) == str(len(sandbox.data.tickets))
    search = shown[str(views[3].pk)]
    assert search["data-count-source"] == "walk"
    assert search["title"] == "A search is counted by walking the store's list"
    assert len(walks) == 1  # the search's walk, none other
    assert worker.drain()
    assert ticket_calls(sandbox)
    assert all("filter_text=refund" in call for call in ticket_calls(sandbox))

    as_of = doc.select_one("#views-as-of")
    assert as_of["data-hx-swap-oob"] == "true" and not as_of.has_attr("hidden")
    assert parse_datetime(as_of.select_one("time")["datetime"]) == in_milliseconds(finished)
    assert html.text(as_of).startswith("Counts as of ")


def test_a_sidebar_of_a_live_index_says_no_time(signed_in, sandbox, indexed, settings):
    settings.STORE_VIEW_COUNTS = True
    indexed()
    doc = html.page(signed_in.get("/?status=open"))
    assert doc.select_one("#views-as-of").has_attr("hidden")
    assert html.text(doc.select_one("[data-view-count=all]")) == str(len(sandbox.data.tickets))


# --- The wall -----------------------------------------------------------------------------


WALL = "status=new&status=open&status=pending"


def test_the_walls_counts_and_pictures_read_the_index_with_one_store_call(
    signed_in, sandbox, indexed, walks
):
    indexed(live=False, walked=timedelta(minutes=10))
    sandbox.reset_stats()
    doc = html.page(signed_in.get(f"/wall/?{WALL}"))
    listed = sandbox.data.filter_tickets(parse_qsl(WALL))
    by_status = Counter(t["status"] for t in listed)
    by_priority = Counter(t["priority"] for t in listed)
    assert {
        e["data-status-count"]: int(html.text(e.select_one(".count-number")))
        for e in doc.select("[data-status-count]")
    } == by_status
    assert {
        e["data-priority-count"]: int(html.text(e.select_one(".count-number")))
        for e in doc.select("[data-priority-count]")
    } == by_priority
    total = html.text(doc.select_one(".count-total"))
    assert total.startswith(f"{len(listed)} tickets · counts as of ")
    assert "counting" not in html.text(doc.select_one(".counts"))
    assert len(ticket_calls(sandbox)) == 1  # the board's rows; nothing walked
    assert walks == [] and not walked(WALL)
    assert doc.select_one("[data-bar='Under 4 h']") is not None  # both pictures are drawn
    assert "≥" not in html.text(doc.select_one("#created-chart"))  # every day exact


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_the_walls_counts_from_the_index_are_the_walks_own(sandbox, indexed, settings, zone):
    """The same numbers as a whole walk of the store's list: statuses, priorities, the total,
    open tickets by age and tickets created per (local) day."""
    settings.TIME_ZONE = zone
    settings.STORE_RATE_LIMIT = 0
    query = store.TicketQuery(status=("new", "open", "pending", "solved"))
    walked_counts = None
    while walked_counts is None or not walked_counts.complete:
        walked_counts = counts.advance(query)
    indexed()
    from_index = index_counts.board(query, now=walked_counts.measured_at)
    for field in ("by_status", "by_priority", "total", "ages", "per_day", "complete", "capped"):
        assert getattr(from_index, field) == getattr(walked_counts, field), field
    assert sum(from_index.ages) == sum(
        n for status, n in from_index.by_status if status not in store.RESOLVED
    )
    assert len(from_index.ages) == len(ages.AGE_BUCKETS)


def test_a_board_of_the_oldest_waiting_shows_the_indexs_ten_oldest(client, sandbox, indexed):
    indexed()
    link = DisplayLink(name="Oldest", filters=WALL, sort="oldest")
    secret = link.issue_secret()
    link.save()
    doc = html.page(client.get(link.path_for(secret)))
    listed = sorted(
        sandbox.data.filter_tickets(parse_qsl(WALL)), key=lambda t: (t["created_at"], t["id"])
    )
    assert html.row_ids(doc) == [t["id"] for t in listed[:10]]
    assert "Finding the oldest" not in html.text(doc)


def test_a_search_on_the_wall_is_walked_and_says_so(signed_in, indexed, walks):
    indexed()
    doc = html.page(signed_in.get("/wall/?filter_text=refund"))
    note = doc.select_one(".counts [data-count-source=walk]")
    assert html.text(note) == "A search is counted by walking the store's list"


def test_the_oldest_tickets_from_the_index_are_the_stores_tickets(indexed, sandbox):
    indexed()
    board = index_counts.board(store.TicketQuery(status=("open",)), oldest=True)
    first = min(
        (t for t in sandbox.data.tickets if t["status"] == "open"),
        key=lambda t: (t["created_at"], t["id"]),
    )
    ticket = board.oldest[0]
    assert isinstance(ticket, store.Ticket)
    assert (ticket.id, ticket.subject, ticket.status, ticket.requester, ticket.assignee) == (
        first["id"], first["subject"], first["status"], first["requester"], first["assignee"]
    )  # fmt: skip
    assert ticket.created_at == datetime.fromisoformat(first["created_at"]).astimezone(UTC)
