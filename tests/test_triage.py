"""The thread's triage form, against the sandbox over real HTTP: one PATCH of only what changed,
nothing for an unchanged form, 409 for a stale one, refusals that say why, and a change that
shows at once in the index, the cached lists and the audit trail."""

import json
import re
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from dashboard import store
from dashboard.index import freshness
from dashboard.models import IndexedTicket, IndexSync, Tag, TicketChange
from tests.html import page as parse

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>\r\n<img src=x onerror=alert(1)> & &amp; \u202e? {{ 7*7 }}'


@pytest.fixture
def triager(lead):
    lead.groups.add(Group.objects.get(name="Triage"))  # the migration's group
    return lead


@pytest.fixture
def triaging(client, triager):
    client.force_login(triager)
    return client


@pytest.fixture
def ticket(store_on_sandbox):
    """A seeded ticket that is new, low priority and unassigned."""
    data = store_on_sandbox.data
    odd = set(data.special_ticket_ids.values())
    return next(
        t
        for t in reversed(data.tickets)
        if t["id"] not in odd and t["status"] == "new" and t["priority"] == "low"
        and t["assignee"] is None and t["requester"] is not None
    )  # fmt: skip


def shown_form(client, ticket_id):
    """The triage form's fields as the thread page shows them: {name: [values]}."""
    response = client.get(reverse("ticket_detail", args=[ticket_id]))
    assert response.status_code == 200
    return form_values(response.content.decode())


def form_values(html):
    page = parse(html)
    forms = page.select("form.triage-form")
    assert len(forms) == 1, "no triage form on the page"
    values = {}
    for element in forms[0].select("input, select, textarea"):
        name = element.get("name")
        if not name:
            continue
        if element.name == "select":
            chosen = [
                o.get("value", "") for o in element.select("option") if o.has_attr("selected")
            ]
            values.setdefault(name, []).extend(chosen[:1] or [""])
        elif element.name == "textarea":
            # A browser drops the newline that opens a textarea's content, as Django writes it.
            values.setdefault(name, []).append(element.get_text().removeprefix("\n"))
        elif element.get("type") in ("checkbox", "radio"):
            if element.has_attr("checked"):
                values.setdefault(name, []).append(element.get("value", "on"))
        else:
            values.setdefault(name, []).append(element.get("value", ""))
    return values


def post(client, ticket_id, values, **extra):
    return client.post(reverse("ticket_triage", args=[ticket_id]), values, **extra)


def writes(sandbox):
    return [r for r in sandbox.received() if r.method in ("PATCH", "POST", "PUT")]


def reads_of(sandbox, ticket_id):
    return [
        r
        for r in sandbox.received()
        if r.method == "GET" and r.path.endswith(f"/tickets/{ticket_id}/")
    ]


def test_a_status_priority_and_note_change_is_one_patch_of_exactly_those_fields(
    triaging, store_on_sandbox, ticket
):
    sandbox = store_on_sandbox
    values = shown_form(triaging, ticket["id"])
    sandbox.reset_stats()
    values.update(status=["open"], priority=["high"], note=["Called the courier."])
    response = post(triaging, ticket["id"], values)
    assert response.status_code == 302
    (patch,) = writes(sandbox)
    assert patch.method == "PATCH" and patch.path.endswith(f"/tickets/{ticket['id']}/")
    assert json.loads(patch.body) == {
        "status": "open",
        "priority": "high",
        "comment": {"body": "Called the courier.", "is_public": False},
    }
    changed = sandbox.data.ticket(ticket["id"])
    assert (changed["status"], changed["priority"]) == ("open", "high")
    assert changed["comments"][-1]["is_public"] is False

    # Without JavaScript: back to the thread, which says what changed and shows the note.
    page = triaging.get(response["Location"]).content.decode()
    assert "status New → Open; priority Low → High; internal note added" in unescape(page)
    assert "Called the courier." in page

    (line,) = TicketChange.objects.filter(ticket_id=ticket["id"])
    assert line.username == "lead" and line.note == "internal"
    assert line.fields == {"status": ["new", "open"], "priority": ["low", "high"]}


def test_an_unchanged_form_writes_nothing(triaging, store_on_sandbox, ticket):
    values = shown_form(triaging, ticket["id"])
    store_on_sandbox.reset_stats()
    response = post(triaging, ticket["id"], values)
    assert response.status_code == 302
    assert writes(store_on_sandbox) == [] and reads_of(store_on_sandbox, ticket["id"]) == []
    assert not TicketChange.objects.exists()
    page = triaging.get(response["Location"]).content.decode()
    assert "Nothing changed, so nothing was sent." in page


def test_a_blank_note_alone_is_no_change(triaging, store_on_sandbox, ticket):
    values = shown_form(triaging, ticket["id"])
    store_on_sandbox.reset_stats()
    post(triaging, ticket["id"], {**values, "note": ["  \r\n "]})
    assert writes(store_on_sandbox) == []


def test_a_stale_form_answers_409_writes_nothing_and_keeps_the_choices(
    triaging, store_on_sandbox, ticket, staff_ids
):
    sandbox = store_on_sandbox
    values = shown_form(triaging, ticket["id"])
    # Someone else assigns it meanwhile, in the store's own admin.
    sandbox.data.update_ticket(ticket["id"], {"assignee": staff_ids[0]})
    sandbox.reset_stats()
    mine = {**values, "status": ["pending"], "note": ["Waiting for the customer."]}
    response = post(triaging, ticket["id"], mine)
    assert response.status_code == 409
    assert writes(sandbox) == []
    page = response.content.decode()
    conflict = parse(page).select_one("[data-conflict]")
    assert conflict is not None and "Assignee" in conflict.get_text()
    assert "Unassigned" in conflict.get_text()
    # The person's choices are kept, over the ticket as it is now ...
    again = form_values(page)
    assert again["status"] == ["pending"] and again["note"] == ["Waiting for the customer."]
    assert again["was_assignee"] == [str(staff_ids[0])]
    # ... so a second try writes them, and leaves the other person's change alone.
    response = post(triaging, ticket["id"], again)
    assert response.status_code == 302
    (patch,) = writes(sandbox)
    assert json.loads(patch.body) == {
        "status": "pending",
        "comment": {"body": "Waiting for the customer.", "is_public": False},
    }
    assert sandbox.data.ticket(ticket["id"])["assignee"] == staff_ids[0]


def test_a_public_reply_is_an_explicit_choice_that_names_who_receives_it(
    triaging, store_on_sandbox, ticket
):
    store.look_up_customer(ticket["requester"])  # as the thread's names are, once looked up
    values = shown_form(triaging, ticket["id"])
    assert values["reply"] == ["internal"]
    page = triaging.get(reverse("ticket_detail", args=[ticket["id"]])).content.decode()
    requester = store_on_sandbox.data.user(ticket["requester"])
    help_text = parse(page).select_one("#note-help").get_text()
    assert requester["email"] in help_text
    store_on_sandbox.reset_stats()
    post(
        triaging,
        ticket["id"],
        {**values, "note": ["Your refund is on its way."], "reply": ["public"]},
    )
    (patch,) = writes(store_on_sandbox)
    assert json.loads(patch.body)["comment"] == {
        "body": "Your refund is on its way.",
        "is_public": True,
    }
    assert TicketChange.objects.get().note == "public"


def test_a_hostile_note_is_stored_byte_for_byte_and_shown_inert(triaging, store_on_sandbox, ticket):
    values = shown_form(triaging, ticket["id"])
    response = post(triaging, ticket["id"], {**values, "note": [HOSTILE]})
    assert response.status_code == 302
    assert store_on_sandbox.data.ticket(ticket["id"])["comments"][-1]["body"] == HOSTILE
    page = triaging.get(response["Location"]).content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_assignee_and_tags_go_by_agent_id_and_tag_name(
    triaging, store_on_sandbox, ticket, staff_ids, tag_catalogue
):
    values = shown_form(triaging, ticket["id"])
    tag = sorted(tag_catalogue)[0]
    store_on_sandbox.reset_stats()
    kept = list(values.get("tags", []))
    response = post(
        triaging,
        ticket["id"],
        {**values, "assignee": [str(staff_ids[1])], "tags": [*kept, tag]},
    )
    assert response.status_code == 302
    (patch,) = writes(store_on_sandbox)
    body = json.loads(patch.body)
    assert body["assignee"] == staff_ids[1]
    assert sorted(body["tags"]) == sorted([*kept, tag])
    # Unassigning sends null.
    values = shown_form(triaging, ticket["id"])
    store_on_sandbox.reset_stats()
    post(triaging, ticket["id"], {**values, "assignee": [""]})
    (patch,) = writes(store_on_sandbox)
    assert json.loads(patch.body) == {"assignee": None}


def test_the_stores_refusal_shows_its_words_beside_the_field(
    triaging, store_on_sandbox, ticket, tag_catalogue
):
    # A tag the team's catalogue has but the store has not.
    Tag.objects.create(name="made-up-tag", store_id=99999)
    from dashboard.models import catalogue_changed

    catalogue_changed()
    values = shown_form(triaging, ticket["id"])
    store_on_sandbox.reset_stats()
    response = post(triaging, ticket["id"], {**values, "tags": ["made-up-tag"], "status": ["open"]})
    assert response.status_code == 400
    page = parse(response.content.decode())
    errors = page.select('[data-field-error="tags"]')
    assert errors and "made-up-tag" in errors[0].get_text()
    assert len(writes(store_on_sandbox)) == 1
    assert store_on_sandbox.data.ticket(ticket["id"])["status"] == "new"  # nothing applied
    assert not TicketChange.objects.exists()
    # The person's choices are still on the form.
    assert form_values(response.content.decode())["status"] == ["open"]


def test_without_the_permission_no_form_and_a_forged_post_is_403(
    signed_in, store_on_sandbox, ticket
):
    page = signed_in.get(reverse("ticket_detail", args=[ticket["id"]])).content.decode()
    assert "triage-form" not in page
    store_on_sandbox.reset_stats()
    response = post(signed_in, ticket["id"], {"status": "open", "updated_at": ticket["updated_at"]})
    assert response.status_code == 403
    assert writes(store_on_sandbox) == []


def test_a_post_without_a_csrf_token_is_403(triager, store_on_sandbox, ticket):
    client = Client(enforce_csrf_checks=True)
    client.force_login(triager)
    values = shown_form(client, ticket["id"])
    values.pop("csrfmiddlewaretoken")
    store_on_sandbox.reset_stats()
    response = post(client, ticket["id"], {**values, "status": ["open"]})
    assert response.status_code == 403
    assert writes(store_on_sandbox) == []


def test_a_token_without_tickets_write_tries_once_then_hides_the_form(
    triaging, store_on_sandbox, ticket
):
    sandbox = store_on_sandbox
    values = shown_form(triaging, ticket["id"])
    sandbox.configure(scopes=["tickets:read", "users:read", "catalogue:read"])
    sandbox.reset_stats()
    response = post(triaging, ticket["id"], {**values, "status": ["open"]})
    assert response.status_code == 403
    assert "tickets:write" in response.content.decode()
    assert "rejected" not in response.content.decode().lower()
    assert len(writes(sandbox)) == 1
    # The form is gone for now, and a second try asks the store nothing.
    page = triaging.get(reverse("ticket_detail", args=[ticket["id"]])).content.decode()
    assert "triage-form" not in page and "tickets:write" in page
    sandbox.reset_stats()
    response = post(triaging, ticket["id"], {**values, "status": ["open"]})
    assert response.status_code == 403 and writes(sandbox) == []


def test_with_htmx_the_thread_the_row_and_the_counts_update_in_place(
    triaging, store_on_sandbox, ticket
):
    values = shown_form(triaging, ticket["id"])
    response = post(
        triaging, ticket["id"], {**values, "status": ["solved"]}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "tickets-changed"
    html = response.content.decode()
    page = parse(html)
    assert page.select_one(f'article.thread[data-thread-id="{ticket["id"]}"]') is not None
    assert "status New → Solved" in unescape(page.select_one("[data-triage-done]").get_text())
    row = re.search(r'<tr data-hx-swap-oob="([^"]+)" data-ticket-id="(\d+)"', html)
    assert row and row.group(2) == str(ticket["id"]) and "#ticket-rows" in row.group(1)
    # The new form shows the ticket as it is now: sending it unchanged writes nothing.
    assert form_values(html)["status"] == ["solved"]


def test_a_change_drops_the_cached_list_that_held_the_ticket(triaging, store_on_sandbox, ticket):
    listed = triaging.get(reverse("ticket_list") + "?status=new")
    assert f'data-ticket-id="{ticket["id"]}"' in listed.content.decode()
    values = shown_form(triaging, ticket["id"])
    post(triaging, ticket["id"], {**values, "status": ["open"]})
    listed = triaging.get(reverse("ticket_list") + "?status=new")
    assert f'data-ticket-id="{ticket["id"]}"' not in listed.content.decode()
    # And the index holds the store's answer.
    assert IndexedTicket.objects.get(pk=ticket["id"]).status == "open"


def test_with_a_live_index_the_check_asks_the_store_nothing(
    triaging, store_on_sandbox, ticket, settings
):
    """When webhooks keep the index current, the ticket as it is now is the index's: the
    write is the one call."""
    from dashboard.index import sync

    sync.run()
    settings.NEXT_WEBHOOK_SECRET = "a-test-secret"
    freshness.forget()
    assert IndexSync.objects.exists() and freshness.current().live
    values = shown_form(triaging, ticket["id"])
    store_on_sandbox.reset_stats()
    post(triaging, ticket["id"], {**values, "priority": ["medium"]})
    assert [r.method for r in store_on_sandbox.received()] == ["PATCH"]
    freshness.forget()


def test_the_audit_trail_is_for_staff_in_the_admin_and_kept_audit_days(
    triaging, store_on_sandbox, ticket, admin_client, settings
):
    values = shown_form(triaging, ticket["id"])
    post(triaging, ticket["id"], {**values, "status": ["open"]})
    page = admin_client.get(reverse("admin:dashboard_ticketchange_changelist"))
    assert page.status_code == 200 and f"#{ticket['id']}" in page.content.decode()
    # Older than AUDIT_DAYS: gone at the next change.
    from datetime import timedelta

    from django.utils import timezone

    TicketChange.objects.update(at=timezone.now() - timedelta(days=settings.AUDIT_DAYS + 1))
    values = shown_form(triaging, ticket["id"])
    post(triaging, ticket["id"], {**values, "priority": ["high"]})
    assert list(TicketChange.objects.values_list("fields", flat=True)) == [
        {"priority": ["low", "high"]}
    ]


@pytest.fixture
def staff_ids(store_on_sandbox):
    return sorted(u["id"] for u in store_on_sandbox.data.users if u["user_type"] == "dashboard")


def test_store_update_ticket_answers_the_ticket(store_on_sandbox, ticket):
    from django.utils.dateparse import parse_datetime

    changed, raw = store.update_ticket(ticket["id"], {"status": "pending"})
    assert changed.status == "pending" and raw["status"] == "pending"
    assert changed.updated_at > parse_datetime(ticket["updated_at"])


@pytest.mark.django_db(transaction=True)
def test_two_people_saving_the_same_ticket_at_once_never_both_write(store_on_sandbox, ticket):
    """Both forms showed the same state; without a turn each, both would pass the check (the
    store's answers are slow enough here for them to overlap) and the second overwrite the
    first. One is written; the other is a conflict."""
    import threading

    from django.db import connection
    from django.utils.dateparse import parse_datetime

    from dashboard.triage.changes import Conflict, Wanted, apply

    store_on_sandbox.configure(latency_ms=150)
    seen = parse_datetime(ticket["updated_at"])
    was = {"status": "new", "priority": "low", "assignee": None, "tags": tuple(ticket["tags"])}
    outcomes, start = {}, threading.Barrier(2)

    def save(status):
        start.wait()
        try:
            apply(None, ticket["id"], Wanted(seen, was, {**was, "status": status}))
            outcomes[status] = "written"
        except Conflict:
            outcomes[status] = "conflict"
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(s,)) for s in ("open", "pending")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["conflict", "written"]
    written = next(s for s, outcome in outcomes.items() if outcome == "written")
    assert store_on_sandbox.data.ticket(ticket["id"])["status"] == written
    assert [r.method for r in store_on_sandbox.received()].count("PATCH") == 1


@pytest.mark.parametrize("forged", [str(2**31), "9" * 4301, "１２"])
def test_a_forged_shown_assignee_out_of_the_apis_range_is_never_offered_nor_sent(
    triaging, store_on_sandbox, ticket, forged
):
    sandbox = store_on_sandbox
    values = shown_form(triaging, ticket["id"])
    sandbox.reset_stats()
    values.update(was_assignee=[forged], assignee=[forged])
    response = post(triaging, ticket["id"], values)
    assert response.status_code == 400
    assert writes(sandbox) == []
