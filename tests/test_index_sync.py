"""Backfill and drift: the walk of every ticket that fills the ticket index, against a sandbox
store of 637 tickets over real HTTP. It fills the index exactly within the budget, behind
people, resumes, keeps newer deliveries, removes what the store no longer has, and its faults
never reach a person."""

import copy
import io
import json
import threading
import uuid
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.db.backends.utils import CursorWrapper
from django.db.utils import OperationalError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dashboard import budget, store
from dashboard.budget import worker
from dashboard.index import freshness, receiver, rows, sync
from dashboard.models import (
    IndexedComment,
    IndexedProduct,
    IndexedTag,
    IndexedTicket,
    IndexSync,
)
from tests.conftest import TEST_TOKEN
from tests.redis_server import redis_url  # noqa: F401
from tools.processes import free_port, wait_until
from tools.sandbox.server import SandboxServer

TICKETS = 637
PAGES = 26  # 637 tickets, 25 a page


@pytest.fixture(scope="module")
def big_sandbox():
    server = SandboxServer(host="127.0.0.1", port=0, token=TEST_TOKEN, tickets=TICKETS)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def big_store(big_sandbox, store_on_sandbox, settings):
    """The dashboard pointed at the store of 637 tickets, with no walk remembered."""
    big_sandbox.reset()
    settings.NEXT_API_BASE_URL = big_sandbox.base_url
    sync.forget()
    freshness.forget()
    yield big_sandbox
    worker.forget()
    assert worker.drain(30)  # no step of this test's walk is left to run into the next
    big_sandbox.reset()


@pytest.fixture
def unpaced(settings):
    settings.STORE_RATE_LIMIT = 0  # what is walked is the point here, not the pace


def ticket_calls(sandbox):
    return [r for r in sandbox.stats()["requests"] if r.startswith("/api/admin/tickets/")]


def cursor_of(request):
    return dict(parse_qsl(urlsplit(request).query)).get("cursor")


def finished():
    return IndexSync.objects.filter(
        store=freshness.store_name(), finished_at__isnull=False
    ).exists()


def walked():
    sync_row = IndexSync.objects.filter(store=freshness.store_name()).first()
    return sync_row.walked if sync_row else 0


def assert_index_holds(tickets):
    """The index holds exactly `tickets` (the store's JSON), field for field where counts look."""
    assert IndexedTicket.objects.count() == len(tickets)
    assert Counter(IndexedTicket.objects.values_list("status", flat=True)) == Counter(
        t["status"] or "" for t in tickets
    )
    assert Counter(IndexedTicket.objects.values_list("priority", flat=True)) == Counter(
        t["priority"] or "" for t in tickets
    )
    assert Counter(IndexedTicket.objects.values_list("assignee", flat=True)) == Counter(
        t["assignee"] for t in tickets
    )
    assert IndexedTag.objects.count() == sum(len(set(t["tags"])) for t in tickets)
    assert IndexedProduct.objects.count() == sum(len(set(t["products"])) for t in tickets)
    assert IndexedComment.objects.count() == sum(len(t["comments"]) for t in tickets)


def deliver(ticket, **changes):
    """A signed-and-checked delivery of `ticket` with `changes`, as the receiver applies it."""
    data = {**copy.deepcopy(ticket), **changes}
    envelope = {
        "api_version": "unstable",
        "data": data,
        "event_id": str(uuid.uuid4()),
        "event_type": "ticket.updated",
        "object": "ticket",
        "webhook": {"events": ["ticket.updated"], "id": 1, "store": "example", "target": "x"},
    }
    answer = receiver.receive(json.dumps(envelope).encode())
    assert answer.status == 200, answer
    return answer.outcome


def plain_ticket(sandbox, index):
    """A ticket the spec's schema takes as it is (the sandbox has a few deliberately odd)."""
    plain = [t for t in sandbox.data.tickets if t["priority"] and isinstance(t["order"], str)]
    return plain[index]


def moment(text, **delta):
    return (parse_datetime(text) + timedelta(**delta)).isoformat().replace("+00:00", "Z")


def backdate_index(days=1):
    """As if everything in the index was last written `days` ago (a walk of yesterday)."""
    IndexedTicket.objects.update(indexed_at=timezone.now() - timedelta(days=days))


@pytest.mark.django_db(transaction=True)
def test_a_cold_start_fills_the_index_in_the_background_within_the_budget(
    client, big_store, settings, store_pace
):
    settings.INDEX_BACKFILL = True
    big_store.configure(rate_limit=4)  # the store's own limit: over it, a 429
    assert not freshness.read().complete

    assert client.get("/healthz").status_code == 200  # any request hands over the walk
    wait_until(finished, 60, "the index's first walk")

    assert_index_holds(big_store.data.tickets)
    state = freshness.read()
    assert state.complete and state.as_of is not None
    assert IndexSync.objects.get().finished_count == TICKETS
    stats = big_store.stats()
    assert len(ticket_calls(big_store)) == PAGES  # each page once
    assert stats["peak_per_second"] <= 4
    assert stats["throttled"] == 0 and "429" not in stats["statuses"]
    assert not sync.due()  # fresh: the next look walks nothing


@pytest.mark.django_db(transaction=True)
def test_a_persons_first_view_during_the_walk_goes_first(
    signed_in, big_store, settings, monkeypatch, store_pace
):
    settings.INDEX_BACKFILL = True
    store.ticket_types(), store.staff()  # known already: the person's view makes one call
    big_store.reset_stats()
    looks = []  # (thread, lane, seconds to wait) of every look at a slot
    backend = budget.backend()
    look = backend._try_slot

    def recorded(slot):
        wait = look(slot)
        looks.append((threading.current_thread().name, slot.lane, wait))
        return wait

    monkeypatch.setattr(backend, "_try_slot", recorded)

    signed_in.get("/healthz")
    wait_until(lambda: walked() >= 100, 30, "the walk under way")
    others = []  # other background work asked for while the walk goes on

    def other_work():
        others.append(finished())
        connections.close_all()

    worker.submit(("page", "x"), other_work, worker.Priority.PAGE)
    before = len(looks)
    response = signed_in.get("/?status=open")
    person = [wait for _, lane, wait in looks[before:] if lane == budget.INTERACTIVE]
    assert response.status_code == 200
    assert not finished()  # the view came during the walk, and the walk goes on after it
    wait_until(finished, 60, "the walk's end")

    assert person == [0]  # the person's call took its slot at the first look: no wait
    walk = [(lane, wait) for thread, lane, wait in looks if thread == "background"]
    assert walk and all(lane == budget.BACKGROUND for lane, _ in walk)  # never a person's
    assert others == [False]  # other work went between two steps of the walk
    assert_index_holds(big_store.data.tickets)
    assert big_store.stats()["peak_per_second"] <= 4


@pytest.mark.django_db(transaction=True)
def test_a_walk_that_gave_way_to_people_goes_on_with_nobody_asking(
    client, big_store, settings, monkeypatch, unpaced
):
    """The store was busy with people when the walk asked for a page (`StoreBusy`), and no
    request comes after: the walk still goes on by itself, `RETRY_SOON` seconds later."""
    settings.INDEX_BACKFILL = True
    monkeypatch.setattr(sync, "RETRY_SOON", 0.2)
    page = store.all_tickets_page
    busy = []

    def once_busy(cursor=""):
        if cursor and not busy:
            busy.append(cursor)
            raise store.StoreBusy()
        return page(cursor)

    monkeypatch.setattr(store, "all_tickets_page", once_busy)
    assert client.get("/healthz").status_code == 200  # the one request: it hands over the walk
    wait_until(finished, 60, "the walk's end, with no request after the first")
    assert busy
    assert_index_holds(big_store.data.tickets)


@pytest.mark.django_db
def test_a_walk_stopped_after_a_few_pages_goes_on_from_its_cursor(big_store, unpaced):
    stopped = sync.step(3, sync.ALWAYS)
    assert stopped.walking and stopped.walked == 75 and stopped.pages == 3
    saved = IndexSync.objects.get()
    assert saved.cursor and IndexedTicket.objects.count() == 75
    big_store.reset_stats()

    done = sync.run()  # as after a restart: nothing but the database remembers

    calls = ticket_calls(big_store)
    assert cursor_of(calls[0]) == saved.cursor  # it went on from the saved page
    assert len(calls) == PAGES - 3  # and read no page twice
    assert done.ended and done.walked == TICKETS
    assert_index_holds(big_store.data.tickets)


@pytest.mark.django_db
def test_a_cursor_the_store_forgot_starts_the_walk_again_from_the_top(big_store, unpaced):
    sync.step(2, sync.ALWAYS)
    IndexSync.objects.update(cursor="bm90IGEgY3Vyc29y")  # expired, as the store sees it
    big_store.reset_stats()

    done = sync.run()

    calls = ticket_calls(big_store)
    assert big_store.stats()["statuses"].get("404") == 1
    assert cursor_of(calls[1]) is None  # from the top, at once
    assert len(calls) == 1 + PAGES
    assert done.ended and done.walked == TICKETS
    assert_index_holds(big_store.data.tickets)


@pytest.mark.django_db
def test_a_delivery_newer_than_the_walked_page_is_kept(big_store, unpaced):
    newer, older = plain_ticket(big_store, 3), plain_ticket(big_store, 4)
    changed = "closed" if newer["status"] != "closed" else "open"
    assert deliver(newer, status=changed, updated_at=moment(newer["updated_at"], hours=1))
    assert deliver(older, status=changed, updated_at=moment(older["updated_at"], hours=-1))
    backdate_index(days=2)  # delivered long before the walk: only the walk's mark keeps it

    done = sync.run()

    assert done.ended and done.removed == 0
    assert IndexedTicket.objects.get(pk=newer["id"]).status == changed  # the delivery's
    assert IndexedTicket.objects.get(pk=older["id"]).status == older["status"]  # the store's
    assert IndexedTicket.objects.count() == TICKETS


@pytest.mark.django_db
def test_tickets_gone_from_the_store_are_removed_but_not_one_a_delivery_just_wrote(
    big_store, unpaced
):
    added = [big_store.data.add_ticket()["id"] for _ in range(3)]
    assert sync.run().walked == TICKETS + 3
    big_store.data.reset()  # the added tickets are gone from the store since
    backdate_index()  # that walk was yesterday's
    IndexSync.objects.update(finished_at=timezone.now() - timedelta(hours=25))
    assert sync.due()

    sync.step(2, sync.IF_DUE)
    arrived = {**plain_ticket(big_store, 0), "id": 990001}  # created while the walk goes on
    assert deliver(arrived) == "applied"
    done = sync.run()

    assert done.ended and done.removed == 3
    assert not IndexedTicket.objects.filter(pk__in=added).exists()
    assert IndexedTicket.objects.filter(pk=990001).exists()
    assert IndexedTicket.objects.count() == TICKETS + 1


@pytest.mark.django_db
def test_an_index_of_another_store_is_emptied_before_the_walk(big_store, unpaced):
    before = timezone.now() - timedelta(hours=1)
    IndexSync.objects.create(store="another-store", finished_at=before, finished_count=5)
    for ticket_id in range(1, 6):  # ids the sandbox does not have
        rows.write({"id": ticket_id, "tags": ["VIP"]}, before, before)
    assert not freshness.read().complete  # the dashboard's store has no walk of its own

    done = sync.run()

    assert done.ended
    assert not IndexedTicket.objects.filter(pk__lte=5).exists()
    assert list(IndexSync.objects.values_list("store", flat=True)) == [freshness.store_name()]
    assert_index_holds(big_store.data.tickets)


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["files", "redis"])
def test_one_walk_at_a_time(big_store, unpaced, settings, where, request):
    if where == "redis":
        settings.REDIS_URL = request.getfixturevalue("redis_url")
    with budget.backend().lock(sync.LOCK, timeout=1):
        assert sync.step(2, sync.ALWAYS) is None  # another process is taking a step
    assert not ticket_calls(big_store)
    assert sync.run().walked == TICKETS


def fault_of(kind, big_store, settings, monkeypatch):
    """Break what `kind` names; returns how to mend it."""
    if kind == "scope":
        big_store.configure(scopes=["users:read", "catalogue:read"])
        return big_store.reset
    if kind == "store down":
        big_store.set_fault("unavailable")
        return big_store.reset
    if kind == "redis down":
        settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
        return lambda: setattr(settings, "REDIS_URL", "")
    execute = CursorWrapper.execute

    def refused(self, *args, **kwargs):
        if threading.current_thread().name == "background":
            raise OperationalError("connection to server was lost")
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(CursorWrapper, "execute", refused)
    return lambda: monkeypatch.setattr(CursorWrapper, "execute", execute)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["scope", "store down", "redis down", "database down"])
def test_faults_never_reach_a_person_and_the_walk_tries_again_later(
    client, big_store, unpaced, settings, monkeypatch, caplog, kind
):
    settings.INDEX_BACKFILL = True
    mend = fault_of(kind, big_store, settings, monkeypatch)

    assert client.get("/healthz").status_code == 200
    wait_until(lambda: "ticket index walk paused" in caplog.text, 30, "the walk's fault")
    assert client.get("/healthz").status_code == 200
    paused = [r for r in caplog.records if r.name == "dashboard.index.sync"]
    assert paused[-1].levelname == "WARNING" and "trying again in 30 s" in paused[-1].message
    crashed = [r for r in caplog.records if r.name == "dashboard.budget.worker"]
    assert not crashed  # handled by the walk, not a background job's crash
    assert TEST_TOKEN not in caplog.text
    assert not finished()

    mend()
    sync.forget()  # as when the pause is over
    client.get("/healthz")
    wait_until(finished, 60, "the walk after the fault")
    assert IndexedTicket.objects.count() == TICKETS


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.django_db
def test_sync_tickets_prints_its_progress_line_by_line(big_store, unpaced):
    out = io.StringIO()
    call_command("sync_tickets", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Walking every ticket of the store, from the top."
    assert lines[1:3] == ["250 tickets read, 10 pages", "500 tickets read, 20 pages"]
    assert lines[3].startswith("Done: 637 tickets indexed, 26 pages in ")
    assert_index_holds(big_store.data.tickets)

    again = io.StringIO()
    call_command("sync_tickets", stdout=again)  # a whole walk before says how far there is
    assert "250 tickets read, 10 pages (about 39%)" in again.getvalue().splitlines()


@pytest.mark.django_db
def test_sync_tickets_draws_a_progress_bar_on_a_terminal(big_store, unpaced):
    call_command("sync_tickets", stdout=io.StringIO())
    out = Terminal()
    call_command("sync_tickets", stdout=out)
    shown = out.getvalue().split("\r")
    assert shown[1].startswith("[") and "  3%  25 tickets · 1 page" in shown[1]
    assert shown[-1].startswith("[" + "#" * 24 + "] 100%  637 tickets · 26 pages\n")
    assert shown[-1].splitlines()[-1].startswith("Done: 637 tickets indexed")


@pytest.mark.django_db
def test_sync_tickets_stopped_with_ctrl_c_goes_on_where_it_stopped(big_store, unpaced, monkeypatch):
    pages = store.all_tickets_page
    read = []

    def interrupted(cursor=""):
        if len(read) == 3:
            raise KeyboardInterrupt
        read.append(cursor)
        return pages(cursor)

    monkeypatch.setattr(store, "all_tickets_page", interrupted)
    with pytest.raises(CommandError) as stopped:
        call_command("sync_tickets", stdout=io.StringIO())
    assert stopped.value.returncode == 130
    assert str(stopped.value).startswith("Stopped at 75 tickets. Run sync_tickets again")
    monkeypatch.setattr(store, "all_tickets_page", pages)
    big_store.reset_stats()

    out = io.StringIO()
    call_command("sync_tickets", stdout=out)
    assert out.getvalue().splitlines()[0] == "Going on with the walk under way, at 75 tickets."
    assert "Done: 637 tickets indexed, 23 pages" in out.getvalue()
    assert len(ticket_calls(big_store)) == PAGES - 3

    restarted = io.StringIO()
    sync.step(2, sync.ALWAYS)
    call_command("sync_tickets", "--restart", stdout=restarted)
    assert (
        restarted.getvalue().splitlines()[0] == "Walking every ticket of the store, from the top."
    )
    assert "Done: 637 tickets indexed, 26 pages" in restarted.getvalue()


@pytest.mark.django_db
def test_sync_tickets_says_what_stopped_it_and_fails(big_store, unpaced, caplog):
    big_store.configure(scopes=["users:read", "catalogue:read"])
    with pytest.raises(CommandError) as failed:
        call_command("sync_tickets", stdout=io.StringIO())
    assert failed.value.returncode == 1
    assert str(failed.value) == (
        "The walk stopped at 0 tickets: the store's token may not read tickets: it needs the "
        "tickets:read scope. What was read is kept: run sync_tickets again to go on from there."
    )
    assert "rejected" not in str(failed.value)
    assert TEST_TOKEN not in caplog.text
