"""What waits on the team: the definitions (dashboard.index.attention), the index's columns,
and the settings they read."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dashboard.index import attention, freshness, rows
from dashboard.index.attention import Said
from dashboard.models import IndexedTicket
from dashboard.settings import first_reply_hours
from tests import html
from tests.test_arrivals import index_from, ticket_calls

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CUSTOMER, AGENT, OTHER_AGENT = 501, 7, 8
EMAIL = "ana@example.com"


@pytest.fixture(autouse=True)
def index_state_read_afresh():
    """Whether the index answers is kept for a few seconds per process: not across tests."""
    freshness.forget()
    yield
    freshness.forget()


def at(minutes):
    return START + timedelta(minutes=minutes)


def customer(minutes, public=True):
    return Said(CUSTOMER, "", public, at(minutes))


def agent(minutes, public=True, who=AGENT):
    return Said(who, "", public, at(minutes))


def by_email(minutes, address, public=True):
    return Said(None, address, public, at(minutes))


def waits(comments, status="open", requester_email=""):
    return attention.attention(
        status, START, comments, CUSTOMER, EMAIL, requester_email
    ).waiting_since


def test_a_ticket_nobody_answered_waits_since_it_was_created():
    assert waits([customer(0)], status="new") == START
    assert waits([]) == START


def test_a_public_agent_reply_stops_the_wait():
    assert waits([customer(0), agent(30)]) is None
    found = attention.attention("open", START, [customer(0), agent(30)], CUSTOMER)
    assert found.first_reply_at == at(30)


def test_internal_notes_are_no_replies():
    found = attention.attention("open", START, [customer(0), agent(30, public=False)], CUSTOMER)
    assert found.waiting_since == START
    assert found.first_reply_at is None


def test_a_customer_writing_twice_waits_since_the_first_of_them():
    assert waits([customer(0), agent(30), customer(60), customer(90)]) == at(60)


def test_agent_reply_then_customer_again_waits_again():
    assert waits([customer(0), agent(30), customer(60), agent(70)]) is None
    assert waits([customer(0), agent(30), customer(60), agent(70), customer(80)]) == at(80)


def test_a_customers_internal_comment_does_not_restart_the_wait():
    assert waits([customer(0), agent(30), customer(60, public=False)]) is None


def test_authorless_emails_are_the_customers_by_either_address():
    assert waits([customer(0), agent(30), by_email(60, "ANA@example.com ")]) == at(60)
    assert waits([customer(0), agent(30), by_email(60, "bo@example.com")]) is None
    assert waits(
        [customer(0), agent(30), by_email(60, "bo@example.com")], requester_email="bo@example.com"
    ) == at(60)


def test_an_authorless_email_from_someone_else_is_no_reply():
    # Neither the customer's nor an agent's: it neither starts nor stops a wait.
    assert waits([customer(0), by_email(10, "stranger@example.com")]) == START


def test_any_other_author_is_an_agent():
    assert waits([customer(0), agent(30, who=OTHER_AGENT)]) is None


def test_pending_and_solved_tickets_do_not_wait():
    for status in ("pending", "solved", "closed"):
        assert waits([customer(0)], status=status) is None


def test_a_reopened_ticket_waits_since_the_customer_wrote_again():
    # Answered, solved, then the customer wrote back and the store reopened it.
    thread = [customer(0), agent(30), customer(2000)]
    assert waits(thread, status="solved") is None
    assert waits(thread, status="open") == at(2000)


def test_comments_count_in_time_order_whatever_order_they_came_in():
    assert waits([customer(60), agent(30), customer(0)]) == at(60)


def test_overdue_is_past_the_priority_target(settings):
    settings.SLA_FIRST_REPLY_HOURS = {"high": 1.0, "medium": 8.0, "low": 24.0}
    now = START + timedelta(hours=2)
    assert attention.is_overdue(START, "high", now)
    assert not attention.is_overdue(START, "low", now)
    assert not attention.is_overdue(now - timedelta(hours=1), "high", now)  # exactly: not past
    assert not attention.is_overdue(START, "", now)
    assert not attention.is_overdue(None, "high", now)


def test_the_targets_setting_reads_priority_hours():
    assert first_reply_hours("high=1,medium=8,low=24") == {"high": 1, "medium": 8, "low": 24}
    assert first_reply_hours(" low = 0.5 , high=2,medium=3") == {"low": 0.5, "high": 2, "medium": 3}


@pytest.mark.parametrize(
    "raw, words",
    [
        ("high=1,medium=8", "no target for low"),
        ("high=1,medium=8,low=0", "above 0"),
        ("high=1,medium=8,low=soon", "above 0"),
        ("high=1,medium=8,low=nan", "above 0"),
        ("urgent=1,medium=8,low=24", "priority=hours"),
        ("high=1,high=2,medium=8,low=24", "twice"),
        ("high", "priority=hours"),
    ],
)
def test_bad_targets_are_refused_with_a_clear_message(raw, words):
    with pytest.raises(ImproperlyConfigured, match=words):
        first_reply_hours(raw)


def test_the_dashboard_will_not_start_with_bad_targets():
    env = {**os.environ, "SLA_FIRST_REPLY_HOURS": "high=fast", "DJANGO_DEBUG": "1"}
    env.pop("DATABASE_URL", None)
    ran = subprocess.run(
        [sys.executable, "-c", "import dashboard.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode != 0
    assert "SLA_FIRST_REPLY_HOURS" in ran.stderr


def api_ticket(status="open", comments=()):
    return {
        "id": 91001,
        "status": status,
        "priority": "high",
        "requester": CUSTOMER,
        "from_email": EMAIL,
        "comments": [
            {
                "id": 1 + index,
                "author": c.author,
                "from_email": c.from_email or None,
                "is_public": c.is_public,
                "created_at": c.created_at.isoformat().replace("+00:00", "Z"),
            }
            for index, c in enumerate(comments)
        ],
    }


@pytest.mark.django_db
def test_the_index_keeps_when_each_ticket_began_to_wait():
    rows.write(api_ticket(comments=[customer(0), agent(30), customer(60)]), START, at(60))
    row = IndexedTicket.objects.get(pk=91001)
    assert (row.waiting_since, row.first_reply_at) == (at(60), at(30))
    rows.write(api_ticket(status="pending", comments=[customer(0), agent(30)]), START, at(90))
    row.refresh_from_db()
    assert (row.waiting_since, row.first_reply_at) == (None, at(30))


# --- The list's rows -----------------------------------------------------------------------


def expected_waiting(sandbox, ticket_id):
    """When a sandbox ticket waits since, worked out here from the store's own ticket."""
    whole = sandbox.data.ticket(ticket_id)
    comments = [
        Said(
            c.get("author"),
            c.get("from_email") or "",
            bool(c.get("is_public")),
            parse_datetime(c["created_at"]),
        )
        for c in whole["comments"]
    ]
    return attention.attention(
        whole["status"],
        parse_datetime(whole["created_at"]),
        comments,
        whole.get("requester"),
        whole.get("from_email") or "",
    ).waiting_since


@pytest.fixture
def frozen_now(monkeypatch):
    """The pages' clock, stopped at the start of a minute: marks are compared to the minute."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


@pytest.fixture
def urgent_and_slow(sandbox, frozen_now):
    """Two tickets nobody has answered for 2 h: one of high priority, one of low."""
    two_hours = (frozen_now - timedelta(hours=2)).isoformat()
    high = sandbox.data.add_ticket(created_at=two_hours, priority="high", status="open")
    low = sandbox.data.add_ticket(created_at=two_hours, priority="low", status="new")
    return high["id"], low["id"]


def test_rows_say_how_long_each_ticket_has_waited_to_the_minute(
    signed_in, sandbox, settings, frozen_now, urgent_and_slow
):
    client = signed_in
    settings.SLA_FIRST_REPLY_HOURS = {"high": 1.0, "medium": 8.0, "low": 24.0}
    index_from(sandbox)
    url, seen = "/?status=new&status=open", []
    for _ in range(2):  # two pages: the first, and the one "Load more" leads to
        assert url, "fewer than two pages"
        doc = html.page(client.get(url))
        for row in doc.select(html.ROWS):
            ticket_id = int(row["data-ticket-id"])
            seen.append(ticket_id)
            since = expected_waiting(sandbox, ticket_id)
            if since is None:
                assert not row.has_attr("data-waiting-since"), ticket_id
                assert not row.has_attr("data-overdue"), ticket_id
                continue
            assert parse_datetime(row["data-waiting-since"]) == since, ticket_id
            priority = sandbox.data.ticket(ticket_id)["priority"]
            assert row.has_attr("data-overdue") == attention.is_overdue(
                since, priority, frozen_now
            ), ticket_id
            minutes = int((frozen_now - since).total_seconds() // 60)
            shown = row.select_one(".waiting time").get_text()
            assert shown == f"Waiting {attention.waited_text(minutes * 60)}", ticket_id
        more = html.load_more(doc)
        url = more[0] if more else None
    assert len(seen) > sandbox.page_size
    listed = sandbox.data.filter_tickets([("status", "new"), ("status", "open")])
    assert seen == [ticket["id"] for ticket in listed][: len(seen)]
    high, low = urgent_and_slow
    rows_by_id = {}
    first = html.page(client.get("/?status=new&status=open"))
    for row in first.select(html.ROWS):
        rows_by_id[int(row["data-ticket-id"])] = row
    assert rows_by_id[high].has_attr("data-overdue")
    assert "Overdue" in rows_by_id[high].get_text()
    assert "Waiting 2 h" in rows_by_id[high].get_text()
    assert not rows_by_id[low].has_attr("data-overdue")
    assert "Waiting 2 h" in rows_by_id[low].get_text()
    assert "Overdue" not in rows_by_id[low].get_text()


def test_a_first_pages_marks_are_read_while_the_store_answers(signed_in, sandbox, monkeypatch):
    """The index lists the page as the store does: its rows' marks were read with the frame,
    and nothing is asked of the index once the store has answered. "Load more" asks."""
    from dashboard.views import tickets

    # A store slower than the frame, as a real one is (the sandbox here answers in a moment).
    monkeypatch.setattr(tickets.Asked, "answered", lambda self: False)
    index_from(sandbox)
    asked = []
    marks_sql = attention._marks_sql
    monkeypatch.setattr(
        attention, "_marks_sql", lambda *args: asked.append(args[1]) or marks_sql(*args)
    )
    doc = html.page(signed_in.get("/?status=new&status=open"))
    marked = doc.select("[data-waiting-since]")
    assert marked and asked == []
    for row in marked:
        since = expected_waiting(sandbox, int(row["data-ticket-id"]))
        assert parse_datetime(row["data-waiting-since"]) == since
    more = html.load_more(doc)
    assert html.page(signed_in.get(more[0], HTTP_HX_REQUEST="true")).select(html.ROWS)
    assert len(asked) == 1  # its rows, in one query (the index listed the first page only)


def test_a_page_from_the_cache_reads_its_marks_after_its_answer_only(
    signed_in, sandbox, monkeypatch
):
    """Its answer is in at once: nothing is left to do while the store answers, so its marks
    are read once, with the answer, and the index is not asked ahead of it."""
    from dashboard.views import tickets

    index_from(sandbox)
    signed_in.get("/?status=new&status=open")  # the page is in the shared cache now
    asked, ahead = [], tickets.index_known.page_ahead
    monkeypatch.setattr(
        tickets.index_known, "page_ahead", lambda *args: asked.append("ahead") or ahead(*args)
    )
    marks_sql = attention._marks_sql
    monkeypatch.setattr(
        attention, "_marks_sql", lambda *args: asked.append("marks") or marks_sql(*args)
    )
    doc = html.page(signed_in.get("/?status=new&status=open"))
    assert doc.select("[data-waiting-since]")
    assert asked == ["marks"]


def test_rows_show_no_waiting_marks_while_the_index_does_not_answer(signed_in, sandbox):
    doc = html.page(signed_in.get("/?status=new&status=open"))
    assert doc.select(html.ROWS)
    assert not doc.select("[data-waiting-since]")


# --- "Unsolved" in the filter form ---------------------------------------------------------


def test_unsolved_lists_new_open_and_pending_and_stays_one_word(signed_in, sandbox):
    doc = html.page(signed_in.get("/?status=unsolved&priority=high"))
    assert html.checked(doc, "status") == ["unsolved"]
    statuses = [("status", s) for s in ("new", "open", "pending")]
    expected = sandbox.data.filter_tickets([*statuses, ("priority", "high")])
    assert html.row_ids(doc) == [t["id"] for t in expected][: sandbox.page_size]
    form = doc.select_one("form[action='/views/save/']")
    assert html.control(form, "query")["value"] == "status=unsolved&priority=high"
    more = html.load_more(doc)
    assert more is None or "status=unsolved" in more[0]


def test_a_saved_view_keeps_unsolved(signed_in, sandbox):
    from tests.test_saved_views import save

    view = save(signed_in, "Urgent and unsolved", "priority=high&status=unsolved")
    assert view.query == "status=unsolved&priority=high"
    doc = html.page(signed_in.get(f"/views/{view.pk}/"))
    assert html.checked(doc, "status") == ["unsolved"]
    assert set(html.row_ids(doc)) <= {
        t["id"]
        for t in sandbox.data.filter_tickets(
            [("status", "new"), ("status", "open"), ("status", "pending")]
        )
    }
    assert html.row_ids(doc)


# --- "Needs reply" -------------------------------------------------------------------------


def waiting_order(sandbox):
    """Every waiting sandbox ticket, longest waiting first (then by id): the defined order."""
    found = []
    for ticket in sandbox.data.filter_tickets():
        since = expected_waiting(sandbox, ticket["id"])
        if since is not None:
            found.append((since, ticket["id"]))
    return [ticket_id for _, ticket_id in sorted(found)]


def test_needs_reply_lists_the_waiting_tickets_longest_first_a_page_at_a_time(
    signed_in, sandbox, settings, frozen_now, urgent_and_slow
):
    settings.SLA_FIRST_REPLY_HOURS = {"high": 1.0, "medium": 8.0, "low": 24.0}
    # More waiting tickets than two pages show, two of them waiting since the same second
    # (then the lower id is first).
    # (The seeded tickets' waits depend on the hour the sandbox is anchored to: the added ones
    # alone fill more than one page.)
    for hours in (5, 5, 30, 50, 70, 90, 100, 120, 150, 200, *range(210, 510, 10)):
        since = (frozen_now - timedelta(hours=hours, minutes=7)).isoformat()
        sandbox.data.add_ticket(created_at=since, priority="medium", status="open")
    index_from(sandbox)
    expected = waiting_order(sandbox)
    assert len(expected) > 50
    calls = ticket_calls(sandbox)
    response = signed_in.get("/views/waiting/")
    assert response.status_code == 200
    doc = html.page(response)
    shown = html.row_ids(doc)
    more = html.load_more(doc)
    assert more is not None and more[0] == more[1]
    assert "cursor=" in more[0]
    second = html.page(signed_in.get(more[0], HTTP_HX_REQUEST="true"))
    shown += html.row_ids(second)
    assert shown[:40] == expected[:40]
    assert ticket_calls(sandbox) == calls  # the index alone answered
    # Exact counts, overdue first, on the page and in the sidebar.
    overdue = sum(
        attention.is_overdue(
            expected_waiting(sandbox, ticket_id),
            sandbox.data.ticket(ticket_id)["priority"],
            frozen_now,
        )
        for ticket_id in expected
    )
    summary = doc.select_one(".summary[data-waiting-count]")
    assert int(summary["data-waiting-count"]) == len(expected)
    assert int(summary["data-overdue-count"]) == overdue
    entry = doc.select_one("[data-view='waiting']")
    assert entry["aria-current"] == "page"
    assert (
        html.text(entry.select_one("[data-view-count]")) == f"{overdue} overdue · {len(expected)}"
    )


def test_needs_reply_refuses_a_cursor_it_did_not_make(signed_in, sandbox):
    index_from(sandbox)
    response = signed_in.get("/views/waiting/?cursor=eyJhIjoxfQ")
    assert response.status_code == 400
    assert "not valid" in html.text(html.page(response).select_one("[role=alert]"))


def test_needs_reply_says_so_while_the_index_does_not_answer(signed_in, sandbox):
    response = signed_in.get("/views/waiting/")
    assert response.status_code == 503
    alert = html.page(response).select_one("[role=alert]")
    assert "ticket index is not ready" in html.text(alert)
    entry = html.page(response).select_one("[data-view='waiting']")
    assert "no index yet" in html.text(entry)


# --- The thread ----------------------------------------------------------------------------


def test_the_thread_shows_its_first_reply_and_how_long_it_has_waited(
    signed_in, sandbox, settings, frozen_now
):
    settings.SLA_FIRST_REPLY_HOURS = {"high": 1.0, "medium": 8.0, "low": 24.0}
    three_hours = frozen_now - timedelta(hours=3)
    ticket = sandbox.data.add_ticket(created_at=three_hours.isoformat(), priority="high")
    doc = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
    waits_dd = doc.select_one("dd[data-waiting-since]")
    assert parse_datetime(waits_dd["data-waiting-since"]) == three_hours
    assert waits_dd.has_attr("data-overdue")
    assert html.text(waits_dd).startswith("Overdue · 3 h since")
    assert html.text(doc.select_one("dd[data-first-reply]")) == "None yet"

    answered = sandbox.data.add_ticket(created_at=three_hours.isoformat(), priority="low")
    agent_id = sandbox.data.agents[0]["id"]
    sandbox.data.update_ticket(
        answered["id"],
        {"status": "open"},
        comment={"author": agent_id, "body": "On it.", "is_public": True},
    )
    doc = html.page(signed_in.get(f"/tickets/{answered['id']}/"))
    assert doc.select_one("[data-waiting-since]") is None
    assert doc.select_one("dd[data-first-reply] time") is not None


# --- The wall ------------------------------------------------------------------------------


def test_a_board_of_new_and_open_tickets_leads_with_what_waits(
    db, client, sandbox, settings, frozen_now, urgent_and_slow
):
    from tests.test_wall import make_link

    settings.SLA_FIRST_REPLY_HOURS = {"high": 1.0, "medium": 8.0, "low": 24.0}
    index_from(sandbox)
    link, path = make_link()  # longest waiting first, by default
    assert link.sort == "waiting"
    listed = {t["id"] for t in sandbox.data.filter_tickets([("status", "new"), ("status", "open")])}
    expected = [ticket_id for ticket_id in waiting_order(sandbox) if ticket_id in listed]
    overdue = [
        ticket_id
        for ticket_id in expected
        if attention.is_overdue(
            expected_waiting(sandbox, ticket_id),
            sandbox.data.ticket(ticket_id)["priority"],
            frozen_now,
        )
    ]
    response = client.get(path)
    assert response.status_code == 200
    doc = html.page(response)
    assert int(doc.select_one("[data-waiting-count]")["data-waiting-count"]) == len(expected)
    assert int(doc.select_one("[data-overdue-count]")["data-overdue-count"]) == len(overdue)
    rows = doc.select(f"#board {html.ROWS}")
    assert [int(row["data-ticket-id"]) for row in rows] == expected[:10]
    assert all(row.has_attr("data-waiting-since") for row in rows)
    assert [int(r["data-ticket-id"]) for r in rows if r.has_attr("data-overdue")] == [
        ticket_id for ticket_id in expected[:10] if ticket_id in overdue
    ]
    more = doc.select_one("[data-more]")
    assert html.text(more) == f"+{len(expected) - 10} more waiting"
    longest = frozen_now - expected_waiting(sandbox, expected[0])
    longest_text = attention.waited_text(longest.total_seconds())
    assert html.text(doc.select_one("[data-longest-wait] dd")) == longest_text
    assert doc.select_one("[role=img] title").get_text() == "Waiting on us, by how long"


def test_a_new_ticket_with_a_new_status_says_new_once(db, client, sandbox):
    from tests.test_wall import make_link

    link, path = make_link(filters="status=new", sort="newest")
    before = int(datetime.now(UTC).timestamp()) - 60
    ticket = sandbox.data.add_ticket(status="new")
    # A screen that had shown the board up to a minute ago: the ticket is new to it.
    doc = html.page(client.get(f"{path}?since={before}&view=0"))
    row = html.row(doc, ticket["id"])
    assert row.has_attr("data-new")
    assert html.text(row.select_one(".w-status")) == "New"


def test_a_database_fault_while_reading_what_waits_fails_no_page(signed_in, sandbox):
    from django.db import connection

    from tests.test_index_counts import lose_the_index

    index_from(sandbox)
    with connection.execute_wrapper(lose_the_index):
        waiting_page = signed_in.get("/views/waiting/")
        assert waiting_page.status_code == 503
        assert "cannot be read" in html.text(html.page(waiting_page).select_one("[role=alert]"))
        listed = html.page(signed_in.get("/?status=new&status=open"))
        assert listed.select(html.ROWS) and not listed.select("[data-waiting-since]")
        wall = signed_in.get("/wall/?status=new&status=open")
        assert wall.status_code == 200
        assert not html.page(wall).select("[data-waiting-count]")


def test_tickets_indexed_before_get_their_wait_from_the_comments_held(transactional_db):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = (
        [("dashboard", "0007_index_queries")],
        [("dashboard", "0008_waiting_on_the_team")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    ticket_model = old.get_model("dashboard", "IndexedTicket")
    comment_model = old.get_model("dashboard", "IndexedComment")
    for ticket_id, status in ((1, "open"), (2, "open"), (3, "pending")):
        ticket_model.objects.create(
            id=ticket_id,
            status=status,
            priority="high",
            requester=CUSTOMER,
            from_email=EMAIL,
            created_at=START,
            updated_at=at(90),
        )
    said = [
        (1, customer(0)),
        (1, agent(30)),
        (1, by_email(60, EMAIL)),
        (2, agent(10)),
        (3, customer(0)),
    ]
    for number, (ticket_id, c) in enumerate(said, 1):
        comment_model.objects.create(
            ticket_id=ticket_id,
            comment_id=number,
            author=c.author,
            from_email=c.from_email,
            is_public=c.is_public,
            created_at=c.created_at,
        )
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new = executor.loader.project_state(after).apps.get_model("dashboard", "IndexedTicket")
    found = {t.id: (t.waiting_since, t.first_reply_at) for t in new.objects.all()}
    assert found == {1: (at(60), at(30)), 2: (None, at(10)), 3: (None, None)}
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.also_sqlite
def test_the_rows_marks_read_as_the_orm_reads_them(db, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(freshness, "current", lambda: freshness.Freshness(True, True, at(0)))
    rows.write(api_ticket(comments=[customer(0), agent(30), customer(60)]), START, at(60))
    rows.write({**api_ticket(status="solved"), "id": 91002, "priority": ""}, START, at(60))
    found = attention.marks_of([91001, 91002, 91003])
    orm = IndexedTicket.objects.values_list("id", "waiting_since", "priority")
    assert found == {ticket_id: (since, priority) for ticket_id, since, priority in orm}
    assert found[91001] == (at(60), "high") and found[91001][0].tzinfo is not None
    assert found[91002] == (None, "")
    # Marks read ahead are taken as they are; only the others are read, and with all of them
    # there, nothing is.
    ahead = {91001: (at(5), "low"), 91004: (at(6), "low")}
    assert attention.marks_of([91001, 91002, 91003], ahead) == {**found, 91001: (at(5), "low")}
    with django_assert_num_queries(0):
        assert attention.marks_of([91001], ahead) == {91001: (at(5), "low")}
