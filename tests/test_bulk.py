"""Bulk changes from the list, against the sandbox over real HTTP: who may, what is refused
before anything is sent, one PATCH per ticket within the store's budget, each ticket's outcome
in the store's own words, and the progress page."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from dashboard import store
from dashboard.models import BulkChange, BulkItem, TicketChange
from dashboard.triage import bulk
from dashboard.views.bulk import STOP_POLLING
from tests import html
from tests.test_arrivals import index_from
from tests.test_webhooks import SECRET

# A bulk runs in threads of its own, which see only what is committed.
pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def no_bulk_left_running():
    yield
    for thread in list(bulk._running.values()):
        thread.join(timeout=60)


@pytest.fixture
def triager(lead, django_user_model):
    lead.user_permissions.add(Permission.objects.get(codename="triage_tickets"))
    return django_user_model.objects.get(pk=lead.pk)  # its permissions read afresh


@pytest.fixture
def triaging(client, triager):
    client.force_login(triager)
    return client


@pytest.fixture
def live_index(settings, sandbox):
    """The index as a whole walk left it, kept current by the store's webhooks."""
    settings.NEXT_WEBHOOK_SECRET = SECRET
    index_from(sandbox)
    yield
    from dashboard.index import freshness

    freshness.forget()


def patches(sandbox):
    return [r for r in sandbox.received() if r.method == "PATCH"]


def ticked_on_the_list(client, url, count):
    """The ids of the first `count` rows' boxes on the list at `url`, as a person ticks them."""
    page = html.page(client.get(url))
    boxes = page.select("#ticket-rows input[name=ids]")
    assert len(boxes) >= count, f"{url} shows {len(boxes)} rows to tick"
    assert all(box["form"] == "bulk-form" for box in boxes)
    assert page.select_one("form#bulk-form[method=post]") is not None
    return [int(box["value"]) for box in boxes[:count]]


def start(client, ids, **fields):
    return client.post("/bulk/", {"ids": [str(i) for i in ids], **fields})


def finished(bulk_id, within=15.0):
    """The bulk once it has finished: waited for, at most `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = BulkChange.objects.get(pk=bulk_id)
        if found.finished_at is not None:
            return found
        assert time.monotonic() < deadline, f"bulk {bulk_id} not finished in {within} s"
        time.sleep(0.05)


def started_bulk(response):
    assert response.status_code == 303, response.content[:300]
    location = response["Location"]
    assert location.startswith("/bulk/")
    return int(location.split("/")[2])


def states(found):
    return dict(found.items.values_list("ticket_id", "state"))


# --- Who may ---------------------------------------------------------------------------------


def test_without_the_permission_there_are_no_boxes_no_form_and_a_forged_post_is_refused(
    signed_in, sandbox
):
    page = html.page(signed_in.get("/?status=new"))
    assert html.rows(page)
    assert page.select("input[name=ids]") == []
    assert page.select_one("#bulk-form") is None

    ids = [t["id"] for t in sandbox.data.filter_tickets([("status", "new")])[:3]]
    answer = start(signed_in, ids, status="open")
    assert answer.status_code == 403
    assert BulkChange.objects.count() == 0
    assert patches(sandbox) == []
    assert all(sandbox.data.ticket(i)["status"] == "new" for i in ids)


def test_a_post_without_its_csrf_token_is_refused(triager, sandbox):
    client = Client(enforce_csrf_checks=True)
    client.force_login(triager)
    ids = ticked_on_the_list(client, "/?status=new", 2)
    answer = start(client, ids, status="open")
    assert answer.status_code == 403
    assert BulkChange.objects.count() == 0
    assert patches(sandbox) == []


def test_its_page_is_for_whoever_started_it_and_staff(
    triaging, triager, sandbox, django_user_model
):
    ids = ticked_on_the_list(triaging, "/?status=new", 1)
    bulk_id = started_bulk(start(triaging, ids, priority="low"))
    finished(bulk_id)
    assert triaging.get(f"/bulk/{bulk_id}/").status_code == 200

    other = Client()
    other.force_login(django_user_model.objects.create_user("colleague", password="x" * 20))
    assert other.get(f"/bulk/{bulk_id}/").status_code == 404
    boss = Client()
    boss.force_login(
        django_user_model.objects.create_user("boss", password="x" * 20, is_staff=True)
    )
    assert boss.get(f"/bulk/{bulk_id}/").status_code == 200


# --- Refused before anything is sent ------------------------------------------------------------


def test_more_than_bulk_max_tickets_are_refused_in_words_and_nothing_is_sent(
    triaging, sandbox, settings
):
    ids = [t["id"] for t in sandbox.data.tickets[: settings.BULK_MAX + 1]]
    answer = start(triaging, ids, status="open")
    assert answer.status_code == 400
    alert = html.page(answer).select_one("[role=alert][data-error=bulk]")
    assert "At most 100 tickets can be changed at once, and 101 are ticked" in alert.text
    # The same, swapped in beside the list.
    fragment = triaging.post(
        "/bulk/", {"ids": [str(i) for i in ids], "status": "open"}, headers=HTMX
    )
    assert fragment.status_code == 400
    assert "At most 100 tickets" in html.page(fragment).select_one("[role=alert]").text
    assert not html.is_whole_page(html.page(fragment))
    assert BulkChange.objects.count() == 0
    assert patches(sandbox) == []


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"ids": [], "status": "open"}, "Tick at least one ticket"),
        ({"ids": ["7"]}, "Choose a status, a priority or an assignee"),
        ({"ids": ["7"], "status": "reopened"}, "Select a valid choice"),
        ({"ids": ["7", "-1"], "status": "open"}, "is not a valid ticket id"),
        ({"ids": ["7"], "assignee": "999999"}, "Select a valid choice"),
    ],
)
def test_a_bulk_that_cannot_be_made_says_why_and_sends_nothing(triaging, sandbox, fields, words):
    answer = triaging.post("/bulk/", fields)
    assert answer.status_code == 400
    assert words in html.page(answer).select_one("[role=alert]").text
    assert BulkChange.objects.count() == 0
    assert patches(sandbox) == []


# --- Sent, within the budget -------------------------------------------------------------------


def test_twelve_tickets_ticked_on_the_list_become_open_within_the_store_s_budget(
    triaging, triager, sandbox, store_pace
):
    sandbox.configure(rate_limit=4)  # the store's own limit: one call too many is a 429
    ids = ticked_on_the_list(triaging, "/?status=new", 12)
    sandbox.reset_stats()
    begun = time.monotonic()
    answer = start(triaging, ids, status="open")
    bulk_id = started_bulk(answer)
    found = finished(bulk_id, within=15.0)
    seconds = time.monotonic() - begun

    sent = patches(sandbox)
    assert sorted(int(r.path.rstrip("/").rsplit("/", 1)[1]) for r in sent) == sorted(ids)
    assert all(sandbox.data.ticket(i)["status"] == "open" for i in ids)
    assert set(states(found).values()) == {BulkItem.APPLIED}
    assert seconds <= 15.0
    stats = sandbox.stats()
    assert stats["peak_per_second"] <= 4
    assert stats["throttled"] == 0 and "429" not in stats["statuses"]

    # Each change is in the audit trail, from what it was to what it is, with its bulk.
    trail = TicketChange.objects.filter(bulk=found)
    assert sorted(trail.values_list("ticket_id", flat=True)) == sorted(ids)
    assert all(line.fields == {"status": ["new", "open"]} for line in trail)
    assert {line.username for line in trail} == {triager.username}

    page = html.page(triaging.get(f"/bulk/{bulk_id}/"))
    assert page.select_one("#bulk-summary").text.strip() == "12 of 12 changed"
    assert page.select_one("[data-bulk-state]")["data-bulk-state"] == "done"


def test_only_the_fields_chosen_are_sent(triaging, sandbox):
    agent_id = next(iter(store.staff()))
    ids = ticked_on_the_list(triaging, "/?status=new", 2)
    for ticket_id in ids:
        sandbox.data.update_ticket(ticket_id, {"assignee": None, "priority": "low"})
    sandbox.reset_stats()
    finished(started_bulk(start(triaging, ids, assignee=str(agent_id), priority="high")))
    bodies = [sandbox.data.ticket(i) for i in ids]
    assert all(t["assignee"] == agent_id and t["priority"] == "high" for t in bodies)
    assert all(t["status"] == "new" for t in bodies)  # untouched
    assert len(patches(sandbox)) == 2


def test_unassigned_is_sent_as_no_assignee(triaging, sandbox):
    ids = [t["id"] for t in sandbox.data.tickets if t["assignee"] is not None][:2]
    finished(started_bulk(start(triaging, ids, assignee="none")))
    assert all(sandbox.data.ticket(i)["assignee"] is None for i in ids)


def test_with_a_live_index_tickets_already_so_cost_no_write(triaging, sandbox, live_index):
    already = [t["id"] for t in sandbox.data.filter_tickets([("status", "open")])[:2]]
    new = [t["id"] for t in sandbox.data.filter_tickets([("status", "new")])[:2]]
    sandbox.reset_stats()
    found = finished(started_bulk(start(triaging, already + new, status="open")))

    assert sorted(int(r.path.rstrip("/").rsplit("/", 1)[1]) for r in patches(sandbox)) == sorted(
        new
    )
    # The index answered for each: no ticket was asked of the store.
    assert [r for r in sandbox.received() if "/tickets/" in r.path] == patches(sandbox)
    assert states(found) == {
        **dict.fromkeys(already, BulkItem.UNCHANGED),
        **dict.fromkeys(new, BulkItem.APPLIED),
    }
    page = html.page(triaging.get(f"/bulk/{found.pk}/"))
    assert page.select_one("#bulk-summary").text.strip() == "2 of 4 changed, 2 already so"
    assert TicketChange.objects.filter(bulk=found).count() == 2


# --- Refusals in the store's words ---------------------------------------------------------------


def test_a_ticket_the_store_no_longer_has_is_listed_with_the_store_s_words(
    triaging, sandbox, live_index
):
    ids = ticked_on_the_list(triaging, "/?status=new", 3)
    gone = ids[1]
    sandbox.data.tickets[:] = [t for t in sandbox.data.tickets if t["id"] != gone]
    found = finished(started_bulk(start(triaging, ids, status="pending")))

    assert states(found) == {ids[0]: "applied", gone: "failed", ids[2]: "applied"}
    page = html.page(triaging.get(f"/bulk/{found.pk}/"))
    assert page.select_one("#bulk-summary").text.strip() == "2 of 3 changed, 1 failed"
    failed = page.select("[data-bulk-failed-ticket]")
    assert [int(item["data-bulk-failed-ticket"]) for item in failed] == [gone]
    assert "No Ticket matches the given query." in failed[0].text


def test_a_refused_field_is_listed_with_the_store_s_words(triaging, sandbox, monkeypatch):
    agent_id = next(iter(store.staff()))  # the agents as the dashboard last read them
    ids = ticked_on_the_list(triaging, "/?status=new", 2)
    # Meanwhile the store's admin made that agent a customer.
    monkeypatch.setitem(sandbox.data.user(agent_id), "user_type", "customer")
    found = finished(started_bulk(start(triaging, ids, assignee=str(agent_id))))

    assert set(states(found).values()) == {BulkItem.FAILED}
    page = html.page(triaging.get(f"/bulk/{found.pk}/"))
    words = f'Assignee: Invalid pk "{agent_id}" - object does not exist.'
    assert [
        item.select_one(".bulk-words").text for item in page.select("[data-bulk-failed-ticket]")
    ] == [
        words,
        words,
    ]
    assert TicketChange.objects.count() == 0


def test_a_token_that_may_not_write_ends_the_bulk_at_its_first_refusal(triaging, sandbox):
    sandbox.configure(scopes=[s for s in sandbox.settings()["scopes"] if s != "tickets:write"])
    ids = ticked_on_the_list(triaging, "/?status=new", 5)
    sandbox.reset_stats()
    found = finished(started_bulk(start(triaging, ids, status="open")))

    assert len(patches(sandbox)) == 1  # the first; none after it
    assert set(states(found).values()) == {BulkItem.FAILED}
    messages = set(found.items.values_list("message", flat=True))
    assert messages == {
        "The store's token may not change tickets: it needs the tickets:write scope."
    }
    assert all(sandbox.data.ticket(i)["status"] == "new" for i in ids)

    # The list says so instead of offering boxes that would be refused.
    page = html.page(triaging.get("/?status=new"))
    assert "tickets:write" in page.select_one("[data-bulk-note]").text
    assert page.select("input[name=ids]") == []


def test_three_store_failures_in_a_row_end_the_bulk(triaging, sandbox):
    ids = ticked_on_the_list(triaging, "/?status=new", 5)
    sandbox.set_fault("server_error")
    sandbox.reset_stats()
    found = finished(started_bulk(start(triaging, ids, status="open")))

    assert len([r for r in sandbox.received() if "/tickets/" in r.path]) == 3
    items = list(found.items.order_by("pk").values_list("state", "message"))
    unavailable = "The store is unavailable right now; try again in a moment."
    assert items[:3] == [(BulkItem.FAILED, unavailable)] * 3
    assert (
        items[3:]
        == [(BulkItem.FAILED, f"Not tried: the store failed 3 times in a row ({unavailable})")] * 2
    )


def test_a_bulk_cut_off_by_its_process_s_exit_sends_nothing_more(triager, sandbox, monkeypatch):
    monkeypatch.setattr(bulk, "_stopping", type(bulk._stopping)())
    bulk._stopping.set()  # the process is ending: no bulk starts, and one under way stops
    ids = [t["id"] for t in sandbox.data.filter_tickets([("status", "new")])[:2]]
    found = bulk.start(triager, ids, {"status": "open"})
    assert not bulk.running(found.pk)
    bulk.run(found.pk)  # as a thread under way finds it at its next ticket

    found.refresh_from_db()
    assert found.finished_at is not None
    assert set(found.items.values_list("state", "message")) == {(BulkItem.FAILED, bulk.STOPPED)}
    assert sandbox.received() == []


# --- Progress ------------------------------------------------------------------------------------


def test_the_list_s_form_swaps_in_progress_that_polls_until_done(triaging, sandbox):
    ids = ticked_on_the_list(triaging, "/?status=new", 3)
    answer = triaging.post(
        "/bulk/",
        {"ids": [str(i) for i in ids], "status": "solved", "back": "/?status=new"},
        headers=HTMX,
    )
    assert answer.status_code == 201
    region = html.page(answer)
    assert not html.is_whole_page(region)
    section = region.select_one("#bulk-progress")
    assert section.select_one("#bulk-summary[role=status]") is not None
    bulk_id = int(section["data-bulk-id"])
    poller = section.select_one("[data-hx-trigger='every 2s']")
    assert poller["data-hx-get"] == f"/bulk/{bulk_id}/?back=%2F%3Fstatus%3Dnew"
    assert poller["data-hx-target"] == "#bulk-body"
    found = finished(bulk_id)

    poll = triaging.get(poller["data-hx-get"], headers=HTMX)
    assert poll.status_code == STOP_POLLING  # done: htmx swaps it and polls no more
    body = html.page(poll)
    assert body.select_one("[data-hx-trigger]") is None
    state = body.select_one("[data-bulk-state]")
    assert state["data-bulk-state"] == "done"
    assert sorted(map(int, state["data-bulk-settled"].split())) == sorted(ids)
    summary = body.select_one("[data-hx-swap-oob='innerHTML:#bulk-summary']")
    assert summary.text.strip() == "3 of 3 changed"
    assert body.select_one("a[href='/?status=new']") is not None
    assert poll["Cache-Control"] == "no-store"
    assert found.items.filter(state=BulkItem.APPLIED).count() == 3


def test_while_it_runs_its_page_polls_and_has_a_link_to_refresh(triaging, triager):
    found = BulkChange.objects.create(user=triager, changes={"status": "open"})
    BulkItem.objects.create(bulk=found, ticket_id=7, state=BulkItem.APPLIED, done_at=timezone.now())
    BulkItem.objects.create(bulk=found, ticket_id=8)  # its thread is still at it

    page = html.page(triaging.get(f"/bulk/{found.pk}/?back=/%3Fstatus%3Dnew"))
    assert page.select_one("#bulk-summary").text.strip() == "1 of 2 changed"
    refresh = page.select_one(f"a[href='/bulk/{found.pk}/?back=%2F%3Fstatus%3Dnew']")
    assert refresh.text == "Refresh"
    assert page.select_one("a[href='/?status=new']") is not None  # back to the list
    poller = page.select_one("[data-hx-trigger='every 2s']")
    assert poller["data-hx-get"] == f"/bulk/{found.pk}/?back=%2F%3Fstatus%3Dnew"
    poll = triaging.get(f"/bulk/{found.pk}/", headers=HTMX)
    assert poll.status_code == 200
    assert html.page(poll).select_one("[data-hx-trigger='every 2s']") is not None

    # A way back that leads elsewhere is not offered.
    page = html.page(triaging.get(f"/bulk/{found.pk}/?back=//evil.example/"))
    assert page.select("a[href*='evil']") == []


def test_a_bulk_that_lost_its_thread_is_settled_by_the_next_look(triaging, triager):
    long_ago = timezone.now() - bulk.LOST_AFTER - timedelta(seconds=1)
    found = BulkChange.objects.create(user=triager, changes={"status": "open"}, created_at=long_ago)
    BulkItem.objects.create(bulk=found, ticket_id=7, state=BulkItem.APPLIED, done_at=long_ago)
    BulkItem.objects.create(bulk=found, ticket_id=8)

    poll = triaging.get(f"/bulk/{found.pk}/", headers=HTMX)
    assert poll.status_code == STOP_POLLING
    assert states(found) == {7: BulkItem.APPLIED, 8: BulkItem.FAILED}
    assert found.items.get(ticket_id=8).message == bulk.LOST


def test_rows_that_load_more_adds_have_boxes_too(triaging, sandbox):
    sandbox.configure(page_size=5)
    first = html.page(triaging.get("/?status=new"))
    more = first.select_one("a.load-more")["data-hx-get"]
    rows = html.page(triaging.get(more, headers=HTMX))
    boxes = rows.select("input[name=ids]")
    assert len(boxes) == 5 and all(box["form"] == "bulk-form" for box in boxes)
