"""What waits on the team: the definitions (dashboard.index.attention), the index's columns,
and the settings they read."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from dashboard.index import attention, rows
from dashboard.index.attention import Said
from dashboard.models import IndexedTicket
from dashboard.settings import first_reply_hours

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CUSTOMER, AGENT, OTHER_AGENT = 501, 7, 8
EMAIL = "ana@example.com"


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
