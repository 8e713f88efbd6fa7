"""Names, not numbers: what people type is resolved to the ids the store filters by, and pages
show people and products by name, against the sandbox over real HTTP."""

import os
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import parse_qsl

import pytest

from dashboard.budget import worker
from tests import html
from tests.test_index_counts import indexed  # noqa: F401


def asked(sandbox, path):
    """The requests for `path` (e.g. "users/") the sandbox received, with their parameters."""
    return [
        dict(parse_qsl(r.query))
        for r in sandbox.received()
        if r.path.endswith("/api/admin/" + path)
    ]


def customers_found(sandbox):
    """The customers the sandbox was asked to find (`users/?name=` or `?email=`)."""
    return [p for p in asked(sandbox, "users/") if p.get("user_type") != "dashboard"]


def wait_for(condition, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    return condition()


def customer_with_tickets(sandbox, at_least=2):
    counts = Counter(t["requester"] for t in sandbox.data.tickets if t["requester"])
    customer_id = next(i for i, n in counts.most_common() if n >= at_least)
    return sandbox.data.user(customer_id)


@pytest.fixture
def lookups(settings):
    """Names looked up in the background, as in production."""
    settings.STORE_NAME_LOOKUPS_PER_MINUTE = 600
    yield
    worker.drain()


def test_a_requester_email_becomes_their_id_and_lists_exactly_their_tickets(signed_in, sandbox):
    customer = customer_with_tickets(sandbox)

    response = signed_in.get("/", {"requester": customer["email"].upper()}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == f"/?requester={customer['id']}"
    theirs = [t["id"] for t in sandbox.data.filter_tickets([("requester", customer["id"])])]
    assert html.row_ids(html.page(response)) == theirs[: sandbox.page_size]
    lookups = [p for p in asked(sandbox, "users/") if p.get("user_type") != "dashboard"]
    assert lookups == [{"email": customer["email"].upper()}]  # the agents' list aside
    assert {p.get("requester") for p in asked(sandbox, "tickets/")} == {str(customer["id"])}


def test_a_resolved_email_is_kept_so_the_next_person_costs_no_look_up(signed_in, sandbox):
    customer = customer_with_tickets(sandbox)
    signed_in.get("/", {"requester": customer["email"]})
    sandbox.reset_stats()

    response = signed_in.get("/", {"requester": customer["email"]})

    assert response["Location"] == f"/?requester={customer['id']}"
    assert [p for p in asked(sandbox, "users/") if "email" in p] == []


def namesakes(sandbox, status):
    """Customers who share a full name, one of whom has tickets but none of `status`: as two
    Grace Reids, one with 48 tickets, the other with one, closed."""
    by_name = {}
    for customer in sandbox.data.customers:
        by_name.setdefault(f"{customer['first_name']} {customer['last_name']}", []).append(customer)
    for name, people in sorted(by_name.items()):
        if len(people) != 2:
            continue
        theirs = {p["id"]: [t for t in sandbox.data.tickets if t["requester"] == p["id"]]
                  for p in people}  # fmt: skip
        kept = {i: [t for t in found if t["status"] in status] for i, found in theirs.items()}
        if all(theirs.values()) and sorted(map(bool, kept.values())) == [False, True]:
            return name, people, theirs, kept
    raise AssertionError("the sandbox has no such namesakes")


def test_a_name_several_customers_share_is_a_question_offering_each_of_them(signed_in, sandbox):
    name, people, _, _ = namesakes(sandbox, ("new", "open", "pending"))

    response = signed_in.get("/", {"requester": name, "status": "open"})

    # A question, not an error: nothing typed is wrong, and no tickets are fetched yet.
    assert response.status_code == 200
    doc = html.page(response)
    assert html.row_ids(doc) == []
    assert html.alerts(doc) == []
    assert html.field_errors(doc) == []
    assert doc.select_one("[data-question=requester]") is not None
    assert name in html.text(doc.select_one("[data-field-question=requester]"))
    assert not html.control(doc, "requester").has_attr("aria-invalid")
    offered = {(p["id"], p["name"], p["email"], p["href"]) for p in html.picks(doc)}
    assert offered == {
        (c["id"], name, c["email"], f"/?requester={c['id']}&status=open") for c in people
    }
    # The index does not answer here: no counts, and no store call per customer to make them.
    assert [p["counted"] for p in html.picks(doc)] == ["", ""]
    assert asked(sandbox, "tickets/") == []
    assert customers_found(sandbox) == [{"name": name}]
    assert _user_lookups(sandbox) == []


def test_each_choice_says_how_many_tickets_they_have_and_these_filters_keep(
    signed_in,
    sandbox,
    indexed,  # noqa: F811
):
    """The list was unsolved tickets; of two Grace Reids the first offered had one ticket,
    closed, and picking her listed none. Each choice now says so, and the likelier comes
    first."""
    indexed()
    name, people, theirs, kept = namesakes(sandbox, ("new", "open", "pending"))

    doc = html.page(signed_in.get("/", {"status": "unsolved", "requester": name}))

    picks = html.picks(doc)
    assert [(p["id"], p["tickets"], p["listed"]) for p in picks] == sorted(
        ((c["id"], len(theirs[c["id"]]), len(kept[c["id"]])) for c in people),
        key=lambda found: -found[2],
    )
    none_kept = picks[-1]
    total = len(theirs[none_kept["id"]])
    assert none_kept["counted"] == (
        f"{total} ticket{'s' if total > 1 else ''}, none with these filters"
    )
    # Picking one lists exactly as many tickets as it said.
    for pick in picks:
        listed = html.page(signed_in.get(pick["href"], follow=True))
        assert len(html.row_ids(listed)) == min(pick["listed"], sandbox.page_size)
        assert html.value(listed, "requester") == name  # the name, not the id
    assert customers_found(sandbox) == [{"name": name}]  # counting asked the store nothing
    assert _user_lookups(sandbox) == []


def test_customers_are_offered_without_counts_when_the_index_cannot_be_read(
    signed_in, sandbox, indexed  # noqa: F811
):  # fmt: skip
    from django.db import connection

    from tests.test_index_counts import lose_the_index

    indexed()
    name, people, _, _ = namesakes(sandbox, ("new", "open", "pending"))
    with connection.execute_wrapper(lose_the_index):
        response = signed_in.get("/", {"status": "unsolved", "requester": name})
    assert response.status_code == 200
    picks = html.picks(html.page(response))
    assert {p["id"] for p in picks} == {c["id"] for c in people}
    assert [p["counted"] for p in picks] == ["", ""]
    assert _user_lookups(sandbox) == [] and asked(sandbox, "tickets/") == []


def test_a_picked_customer_is_shown_by_name_and_sending_it_back_keeps_them(signed_in, sandbox):
    name, people, _, _ = namesakes(sandbox, ("new", "open", "pending"))
    signed_in.get("/", {"requester": name})  # the question: both are known by name now
    chosen = people[1]
    sandbox.reset_stats()

    response = signed_in.get(f"/?status=open&requester={chosen['id']}")

    assert response.status_code == 200
    doc = html.page(response)
    assert html.value(doc, "requester") == name  # never a bare id once the name is known
    assert html.value(doc, "shown_requester") == str(chosen["id"])
    assert html.text(doc.select_one("[data-shown-requester]")) == chosen["email"]
    assert _user_lookups(sandbox) == []  # known from the question, not looked up again

    # The form sends the name back with the id beside it: it stands for that customer, and
    # the address is the bookmark again, with nothing looked up.
    again = signed_in.get("/", {"requester": name, "shown_requester": chosen["id"],
                                "status": ["open", "new"]})  # fmt: skip
    assert again.status_code == 302
    assert again["Location"] == f"/?status=new&status=open&requester={chosen['id']}"
    assert customers_found(sandbox) == []

    # Typed over, the box is what was typed: the id beside it no longer counts.
    typed = chosen["first_name"]
    assert len(sandbox.data.filter_users([("name", typed)])) > 1
    other = signed_in.get("/", {"requester": typed, "shown_requester": chosen["id"]})
    assert html.page(other).select_one("[data-question=requester]") is not None
    assert customers_found(sandbox) == [{"name": typed}]


def test_a_title_several_products_share_is_a_question_that_keeps_the_other_products(
    signed_in, sandbox
):
    matching = sandbox.data.filter_products([("title", "Set")])
    assert len(matching) > 1
    other = next(p for p in sandbox.data.products if p not in matching)

    response = signed_in.get("/", {"product": f"Set, {other['id']}"})

    assert response.status_code == 200
    doc = html.page(response)
    picks = html.picks(doc)
    assert {(p["id"], p["name"], p["counted"]) for p in picks} == {
        (product["id"], product["title"], "") for product in matching
    }
    chosen = picks[0]
    listed = signed_in.get(chosen["href"], follow=True)
    both = sorted((chosen["id"], other["id"]))
    assert listed.redirect_chain[-1][0] == f"/?product={both[0]}&product={both[1]}"
    sent = [r.query for r in sandbox.received() if r.path.endswith("/api/admin/tickets/")]
    assert [v for k, v in parse_qsl(sent[-1]) if k == "product"] == [str(i) for i in both]


def test_nobody_by_that_email_is_a_field_error_and_no_ticket_call(signed_in, sandbox):
    response = signed_in.get("/", {"requester": "nobody@nowhere.test"})

    assert response.status_code == 400
    (error,) = html.field_errors(html.page(response), "requester")
    assert "nobody@nowhere.test" in error
    assert asked(sandbox, "tickets/") == []


def test_tags_by_id_work_and_a_name_is_sent_as_its_catalogue_id(signed_in, sandbox, tag_catalogue):
    by_id = signed_in.get("/", {"tags": tag_catalogue["refund"]})
    by_name = signed_in.get("/", {"tags": "Refund"}, follow=True)

    assert by_id.status_code == 200
    assert by_name.redirect_chain[-1][0] == f"/?tags={tag_catalogue['refund']}"
    refund = [t["id"] for t in sandbox.data.tickets if "refund" in t["tags"]]
    assert html.row_ids(html.page(by_name)) == refund[: sandbox.page_size]
    sent = {p["tags"] for p in asked(sandbox, "tickets/")}
    assert sent == {str(tag_catalogue["refund"])}


def test_the_store_refusing_a_filter_is_the_persons_error_in_its_own_words(signed_in, sandbox):
    response = signed_in.get("/", {"tags": "99"})

    assert response.status_code == 400
    doc = html.page(response)
    assert html.field_errors(doc, "tags") == [
        "Select a valid choice. 99 is not one of the available choices."
    ]
    assert html.row_ids(doc) == []


def test_tag_chips_link_to_their_filter_when_the_catalogue_knows_them(signed_in, tag_catalogue):
    response = signed_in.get("/", {"tags": tag_catalogue["vip"]})

    doc = html.page(response)
    chips = {a.get_text(): a["href"] for a in doc.select("[data-ticket-id] .tags a")}
    assert chips["vip"] == f"/?tags={tag_catalogue['vip']}"


def test_the_assignee_filter_offers_agents_by_name_and_mine(signed_in, sandbox, lead):
    maya = next(a for a in sandbox.data.agents if a["first_name"] == "Maya")
    lead.email = maya["email"]
    lead.save()

    doc = html.page(signed_in.get("/"))
    options = {
        o.get_text(strip=True): o["value"] for o in doc.select("select[name=assignee] option")
    }
    assert options["Mine"] == "mine"
    assert options[f"{maya['first_name']} {maya['last_name']}"] == str(maya["id"])

    mine = signed_in.get("/", {"assignee": "mine"})
    assert mine.status_code == 200
    assert asked(sandbox, "tickets/")[-1]["assignee"] == str(maya["id"])


def test_names_appear_within_seconds_without_reloading(signed_in, sandbox, lookups):
    doc = html.page(signed_in.get("/"))
    waiting = {int(e["data-requester-id"]) for e in doc.select("[data-requester-id][data-waiting]")}
    assert waiting, "a first view waits for no name"

    # What the page asks, with the page's own signed references (as app.js sends them).
    references = [element["data-names-ref"] for element in doc.select("[data-names-ref]")]
    assert references
    query = "&".join(
        [*(f"requester={i}" for i in sorted(waiting)), *(f"ref={r}" for r in references)]
    )

    def swapped():
        answer = html.page(signed_in.get(f"/names/?{query}"))
        found = answer.select("[data-hx-swap-oob][data-requester-id]")
        return found if len(found) == len(waiting) else None

    found = wait_for(swapped)
    assert found, "every waiting name was looked up"
    for element in found:
        person = sandbox.data.user(int(element["data-requester-id"]))
        assert element.get_text() == f"{person['first_name']} {person['last_name']}"
        assert element["title"] == person["email"]
        assert not element.has_attr("data-waiting")
    assert Counter(r["path"] for r in _user_lookups(sandbox)).most_common(1)[0][1] == 1

    again = html.page(signed_in.get("/"))  # and the next view shows them at once
    assert not again.select("[data-requester-id][data-waiting]")


def _user_lookups(sandbox):
    return [
        {"path": r.path}
        for r in sandbox.received()
        if "/users/" in r.path and r.path.rstrip("/").split("/")[-1].isdigit()
    ]


def test_twenty_screens_of_the_same_customers_cost_one_look_up_each(signed_in, sandbox, lookups):
    for _ in range(20):
        signed_in.get("/", {"status": "open"})
    worker.drain()
    wait_for(lambda: not html.page(signed_in.get("/?status=open")).select("[data-waiting]"))

    per_customer = Counter(r["path"] for r in _user_lookups(sandbox))
    assert per_customer and set(per_customer.values()) == {1}
    assert sandbox.stats()["throttled"] == 0


def test_a_token_with_only_tickets_read_lists_tickets_quietly(signed_in, sandbox, lookups, lead):
    sandbox.configure(scopes=["tickets:read"])
    ticket = next(t for t in sandbox.data.tickets if t["products"] and t["requester"])

    first = signed_in.get("/")
    worker.drain()  # the look-ups are tried, and refused
    pages = [signed_in.get("/"), signed_in.get(f"/tickets/{ticket['id']}/")]

    assert first.status_code == 200 and all(p.status_code == 200 for p in pages)
    for response in (first, *pages):
        assert "rejected" not in response.content.decode().lower()
    doc = html.page(pages[0])
    assert html.row_ids(doc)
    assert not doc.select(".notice[role=note]"), "only staff are told about scopes"

    lead.is_staff = True
    lead.save()
    signed_in.get(f"/tickets/{ticket['id']}/")
    worker.drain()
    notice = html.page(signed_in.get(f"/tickets/{ticket['id']}/")).select(".notice[role=note]")
    assert notice and "users:read" in notice[0].get_text()


def test_the_wall_shows_first_names_and_last_initials(signed_in, sandbox, lookups):
    signed_in.get("/wall/")
    worker.drain()
    wait_for(lambda: not html.page(signed_in.get("/")).select("[data-waiting]"))

    doc = html.page(signed_in.get("/wall/"))
    shown = {int(e["data-requester-id"]): e.get_text() for e in doc.select("[data-requester-id]")}
    assert shown
    for person_id, text in shown.items():
        person = sandbox.data.user(person_id)
        assert text == f"{person['first_name']} {person['last_name'][0]}."
    assert "@" not in " ".join(shown.values())


def test_the_tag_catalogue_is_filled_from_csv_and_kept_by_id(db, tmp_path):
    from django.core.management import CommandError, call_command

    from dashboard.models import Tag

    tags = tmp_path / "tags.csv"
    tags.write_text("1,vip\n2,refund\n\n")
    call_command("import_tags", str(tags), stdout=open(os.devnull, "w"))  # noqa: SIM115
    tags.write_text("2,refunds\n3,damaged\n")
    call_command("import_tags", str(tags), stdout=open(os.devnull, "w"))  # noqa: SIM115

    assert dict(Tag.objects.values_list("store_id", "name")) == {
        1: "vip",
        2: "refunds",
        3: "damaged",
    }
    assert Tag.catalogue().id_for("Refunds") == 2
    tags.write_text("4,gift\nx7,bad\n")
    with pytest.raises(CommandError, match="line 2"):
        call_command("import_tags", str(tags))
    assert not Tag.objects.filter(name="gift").exists()  # all or nothing


def test_the_sandbox_prints_its_tags_for_the_catalogue(sandbox):
    printed = subprocess.run(
        [sys.executable, "-m", "tools.sandbox", "--print-tags"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rows = [line.split(",") for line in printed.splitlines()]
    assert {int(i): name for i, name in rows} == sandbox.data.tags


def test_lists_and_walls_leave_a_fifth_of_the_minutes_look_ups_to_open_threads(settings):
    from dashboard.tickets import names as looking_up

    settings.STORE_NAME_LOOKUPS_PER_MINUTE = 10
    admitted = [looking_up._within_budget(for_thread=False) for _ in range(10)]
    assert admitted == [True] * 8 + [False] * 2  # a backlog of lists stops at eight
    assert looking_up._within_budget(for_thread=True)
    assert looking_up._within_budget(for_thread=True)
    assert not looking_up._within_budget(for_thread=True)  # and the whole minute is ten
    settings.STORE_NAME_LOOKUPS_PER_MINUTE = 0
    assert not looking_up._within_budget(for_thread=True)  # switched off: none at all


def test_names_and_counts_answer_only_what_a_page_of_this_session_was_served(
    signed_in, sandbox, lookups, client, django_user_model
):
    """`/names/?requester=…` looked up any id: anyone signed in could enumerate the store's
    customers and use up the names budget; `/count/` walked any filter."""
    from django.test import Client

    from tests.refs import count_url, names_ref

    doc = html.page(signed_in.get("/"))
    shown = {int(e["data-requester-id"]) for e in doc.select("[data-requester-id][data-waiting]")}
    # Ids no page of this session showed: no look-up, with or without a reference.
    strangers = [id_ for id_ in range(1000, 1400) if id_ not in shown][:50]
    query = "&".join(f"requester={i}" for i in strangers)
    assert signed_in.get(f"/names/?{query}").status_code == 200
    other = Client()
    other.force_login(django_user_model.objects.create_user("eve", password="x-long-pass-1"))
    forged = names_ref(other, strangers)  # another session's reference vouches for nothing
    assert signed_in.get(f"/names/?{query}&ref={forged}").status_code == 200
    worker.drain()  # whatever was asked for has been looked up by now
    looked_up = {r.path for r in sandbox.received() if "/users/" in r.path}
    assert not looked_up & {f"/api/admin/users/{i}/" for i in strangers}
    # A count of filters no page of this session counted: refused, nothing walked.
    sandbox.reset_stats()
    assert signed_in.get("/count/?status=closed&priority=low").status_code == 403
    assert signed_in.get(count_url(other, "status=closed&priority=low")).status_code == 403
    worker.drain()
    assert [r for r in sandbox.received() if r.path.endswith("/tickets/")] == []


def test_a_person_asking_for_names_too_often_is_told_to_wait(signed_in, settings):
    from dashboard.views import names as names_view

    for _ in range(names_view.ASKS_PER_MINUTE):
        assert signed_in.get("/names/?requester=1").status_code == 200
    refused = signed_in.get("/names/?requester=1")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0


def test_import_tags_reads_excel_csv_and_refuses_what_it_cannot_read(db, tmp_path):
    from django.core.management import CommandError, call_command

    from dashboard.models import Tag

    tags = tmp_path / "tags.csv"
    # Excel's "CSV UTF-8" starts with a byte order mark and ends lines with CRLF.
    tags.write_bytes("\ufeff1,vip\r\n2,Ärger\r\n".encode())
    call_command("import_tags", str(tags), stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert dict(Tag.objects.values_list("store_id", "name")) == {1: "vip", 2: "Ärger"}

    tags.write_bytes("3,gift\n4,caf\xe9\n".encode("latin-1"))
    with pytest.raises(CommandError, match="line 2: the file is not UTF-8"):
        call_command("import_tags", str(tags))
    tags.write_text("5,ok\n" + "9" * 4301 + ",big\n")
    with pytest.raises(CommandError, match="line 2: expected `id,name`"):
        call_command("import_tags", str(tags))
    assert not Tag.objects.filter(name__in=["gift", "ok"]).exists()


@pytest.mark.parametrize("name", ["a,b", "42", "3.5", "-1"])
def test_a_tag_the_filter_could_not_pick_by_name_is_refused_from_the_catalogue(db, tmp_path, name):
    import csv

    from django.core.management import CommandError, call_command

    from dashboard.models import Tag

    tags = tmp_path / "tags.csv"
    with tags.open("w", newline="") as handle:
        csv.writer(handle).writerows([(1, "vip"), (7, name)])
    with pytest.raises(CommandError, match="line 2: A tag's name cannot"):
        call_command("import_tags", str(tags))
    assert not Tag.objects.exists()


def test_import_tags_reads_standard_input_as_bytes_or_as_text(db, monkeypatch):
    import io

    from django.core.management import CommandError, call_command

    from dashboard.models import Tag

    piped = io.TextIOWrapper(io.BytesIO("\ufeff1,vip\n".encode()), encoding="ascii")
    monkeypatch.setattr(sys, "stdin", piped)
    call_command("import_tags", "-", stdout=io.StringIO())
    monkeypatch.setattr(sys, "stdin", io.StringIO("2,refund\n"))
    call_command("import_tags", "-", stdout=io.StringIO())
    assert dict(Tag.objects.values_list("store_id", "name")) == {1: "vip", 2: "refund"}

    latin = io.TextIOWrapper(io.BytesIO("3,caf\xe9\n".encode("latin-1")), encoding="ascii")
    monkeypatch.setattr(sys, "stdin", latin)
    with pytest.raises(CommandError, match="line 1: the file is not UTF-8"):
        call_command("import_tags", "-")
