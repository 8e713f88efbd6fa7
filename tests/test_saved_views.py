"""Saved views, their counts, Mine and display links made from views, through Django's test
client against the sandbox over real HTTP."""

import math
import threading
from collections import Counter
from io import StringIO
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from dashboard import budget
from dashboard.budget import worker
from dashboard.models import DefaultView, DisplayLink, SavedView
from dashboard.saved import saved_views
from dashboard.tickets import counts
from tests import html
from tests.conftest import grant
from tests.html import page, text

HTMX = {"HTTP_HX_REQUEST": "true"}


def expected_ids(sandbox, query_string):
    return [t["id"] for t in sandbox.data.filter_tickets(parse_qsl(query_string))]


def save(client, name, query, shared=False):
    """Save `query` as a view with the list's own form, as a person does."""
    data = {"name": name, "query": query}
    if shared:
        data["shared"] = "on"
    response = client.post("/views/save/", data)
    assert response.status_code == 302, response.content.decode()[:500]
    return SavedView.objects.get(pk=int(response["Location"].strip("/").rsplit("/", 1)[1]))


def sidebar(doc):
    return html.labelled(doc, "Views")


def entries(doc):
    """The sidebar's views in order: (key, name, count as shown)."""
    return [
        (
            a["data-view"],
            text(a.select_one(".view-name")).removesuffix(" (default)"),
            text(a.select_one("[data-view-count]")),
        )
        for a in sidebar(doc).select("a[data-view]")
    ]


def current(doc):
    found = sidebar(doc).select_one("a[aria-current=page]")
    return found["data-view"] if found else None


def tickets_asked(sandbox):
    return [r for r in sandbox.received() if r.path.endswith("/api/admin/tickets/")]


@pytest.fixture
def people(django_user_model, client, lead):
    """A lead (the signed-in `client`), a colleague, and a member of staff, each signed in."""

    def signed_in(username, **fields):
        user = django_user_model.objects.create_user(username, password="pw-0123456789", **fields)
        person = Client()
        person.force_login(user)
        return person

    client.force_login(lead)
    boss = signed_in("boss", is_staff=True)
    grant(django_user_model.objects.get(username="boss"), "share_views")
    return {"lead": client, "colleague": signed_in("colleague"), "staff": boss}


# --- Saving and showing -------------------------------------------------------------------


@pytest.mark.also_sqlite
def test_save_this_view_keeps_the_lists_bookmark_and_shows_it_at_its_own_url(signed_in, sandbox):
    doc = page(signed_in.get("/?status=open&priority=high"))
    form = doc.select_one("form[action='/views/save/']")
    assert form is not None and form["method"] == "post"
    assert html.control(form, "query")["value"] == "status=open&priority=high"
    assert form.select_one("[name=csrfmiddlewaretoken]") is not None
    assert html.control(form, "shared")["type"] == "checkbox"

    view = save(signed_in, "Hot and open", "priority=high&status=open")  # any spelling
    assert view.query == "status=open&priority=high"  # stored as the list's bookmark
    assert not view.shared

    response = signed_in.get(f"/views/{view.pk}/")
    assert response.status_code == 200
    doc = page(response)
    assert html.row_ids(doc) == expected_ids(sandbox, view.query)[: sandbox.page_size]
    # The filter form shows the view's filters, and changing one leads to the plain list.
    assert html.checked(doc, "status") == ["open"]
    assert html.value(doc, "priority") == "high"
    assert doc.select_one("form#filters")["action"] == "/"
    assert current(doc) == str(view.pk)
    assert (str(view.pk), "Hot and open", "") in entries(doc)


def test_saving_checks_the_filters_and_name_with_the_lists_own_form(signed_in, sandbox):
    refused = signed_in.post("/views/save/", {"name": "Urgent", "query": "priority=urgent"})
    assert refused.status_code == 400
    assert html.field_errors(page(refused), "query")
    nameless = signed_in.post("/views/save/", {"name": "  ", "query": "status=open"})
    assert nameless.status_code == 400
    assert html.field_errors(page(nameless), "name")
    assert not SavedView.objects.exists()

    save(signed_in, "Open", "status=open")
    again = signed_in.post("/views/save/", {"name": "open", "query": "status=new"})
    assert again.status_code == 400
    assert "already have a view called" in " ".join(html.field_errors(page(again), "name"))


def test_saving_needs_the_csrf_token(lead, db):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(lead)
    assert strict.post("/views/save/", {"name": "Open", "query": "status=open"}).status_code == 403
    assert not SavedView.objects.exists()


def test_load_more_stays_in_the_view_and_other_filters_lead_to_the_list(signed_in, sandbox):
    sandbox.configure(page_size=5)
    view = save(signed_in, "New or open", "status=new&status=open")
    first = page(signed_in.get(f"/views/{view.pk}/"))
    href, _ = html.load_more(first)
    assert urlsplit(href).path == f"/views/{view.pk}/"
    more = signed_in.get(href)  # without JavaScript, a whole page
    assert more.status_code == 200
    assert html.row_ids(page(more)) == expected_ids(sandbox, view.query)[5:10]
    assert current(page(more)) == str(view.pk)

    elsewhere = signed_in.get(f"/views/{view.pk}/?status=closed")
    assert elsewhere.status_code == 302
    assert elsewhere["Location"] == "/?status=closed"


def test_all_tickets_is_the_list_without_filters(signed_in, sandbox):
    doc = page(signed_in.get("/views/all/"))
    assert html.row_ids(doc) == expected_ids(sandbox, "")[: sandbox.page_size]
    assert current(doc) == "all"
    assert [key for key, _, _ in entries(doc)][:3] == ["all", "mine", "waiting"]


# --- Who sees and changes what ------------------------------------------------------------


@pytest.mark.also_sqlite
def test_people_see_the_team_views_and_their_own_only(people, sandbox):
    lead, colleague, staff = people["lead"], people["colleague"], people["staff"]
    own = save(lead, "Lead's own", "status=open")
    team = save(lead, "Everyone's", "priority=high", shared=True)
    theirs = save(colleague, "Colleague's own", "status=new")

    doc = page(colleague.get("/views/all/"))
    names = [name for _, name, _ in entries(doc)]
    assert names == ["All tickets", "Mine", "Needs reply", "Everyone's", "Colleague's own"]
    assert [h.get_text() for h in sidebar(doc).select("h2")] == ["Team views", "My views"]

    for person in (colleague, staff):  # staff too: another's own view is theirs alone
        assert person.get(f"/views/{own.pk}/").status_code == 404
        assert person.get(f"/views/{team.pk}/").status_code == 200
    assert lead.get(f"/views/{theirs.pk}/").status_code == 404
    assert lead.get("/views/99999999999/").status_code == 404


def _change(person, action, view):
    """One change to `view` through its form, as the views page sends it."""
    if action == "rename":
        return person.post(f"/views/{view.pk}/rename/", {"name": "Renamed"})
    if action == "reorder":
        return person.post(f"/views/{view.pk}/move/", {"direction": "up"})
    if action == "delete":
        return person.post(f"/views/{view.pk}/delete/")
    return person.post(f"/views/{view.pk}/share/", {"shared": "0" if view.shared else "1"})


def _changed(action, view, before):
    """Whether `action` happened to `view` (whose siblings' order was `before`)."""
    if action == "delete":
        return not SavedView.objects.filter(pk=view.pk).exists()
    view.refresh_from_db()
    if action == "rename":
        return view.name == "Renamed"
    if action == "reorder":
        return list(view.siblings().values_list("pk", flat=True)) != before
    return view.shared != (view.name == "Team second")


@pytest.mark.parametrize("action", ["rename", "reorder", "delete", "make-team"])
@pytest.mark.parametrize(
    "kind, actor, answer",
    [
        ("own", "lead", 302),  # its owner
        ("own", "colleague", 404),  # another's own view is not there for them
        ("own", "staff", 404),  # nor for staff
        ("team", "lead", 302),  # its owner
        ("team", "colleague", 403),  # seen by all, changed by its owner or staff
        ("team", "staff", 302),
    ],
)
def test_only_the_owner_or_staff_for_team_views_can_change_a_view(
    people, sandbox, action, kind, actor, answer
):
    lead = people["lead"]
    shared = kind == "team"
    save(lead, "Team first" if shared else "Own first", "status=new", shared=shared)
    view = save(lead, "Team second" if shared else "Own second", "status=open", shared=shared)
    before = list(view.siblings().values_list("pk", flat=True))

    response = _change(people[actor], action, view)
    assert response.status_code == answer
    assert _changed(action, view, before) == (answer == 302)


def test_deleting_asks_first(people, sandbox):
    view = save(people["lead"], "Open", "status=open", shared=True)
    confirm = people["lead"].get(f"/views/{view.pk}/delete/")
    assert confirm.status_code == 200
    form = page(confirm).select_one(f"form[action='/views/{view.pk}/delete/']")
    assert form["method"] == "post"
    assert SavedView.objects.filter(pk=view.pk).exists()  # asking deletes nothing
    assert people["colleague"].get(f"/views/{view.pk}/delete/").status_code == 403
    assert people["lead"].post(f"/views/{view.pk}/delete/").status_code == 302
    assert not SavedView.objects.filter(pk=view.pk).exists()


def test_views_are_renamed_and_reordered_within_their_group(signed_in, sandbox):
    a, b, c = (save(signed_in, name, f"status={s}") for name, s in
               [("A", "new"), ("B", "open"), ("C", "pending")])  # fmt: skip
    team = save(signed_in, "T", "status=closed", shared=True)

    def order():
        return [name for _, name, _ in entries(page(signed_in.get("/views/all/")))][3:]

    assert order() == ["T", "A", "B", "C"]
    signed_in.post(f"/views/{c.pk}/move/", {"direction": "up"})
    assert order() == ["T", "A", "C", "B"]
    signed_in.post(f"/views/{a.pk}/move/", {"direction": "up"})  # already first: stays
    signed_in.post(f"/views/{a.pk}/move/", {"direction": "down"})
    assert order() == ["T", "C", "A", "B"]
    assert signed_in.post(f"/views/{a.pk}/move/", {"direction": "sideways"}).status_code == 400

    assert signed_in.post(f"/views/{b.pk}/rename/", {"name": "Bee"}).status_code == 302
    clash = signed_in.post(f"/views/{b.pk}/rename/", {"name": "a"})
    assert clash.status_code == 400
    assert "already have a view called" in " ".join(html.field_errors(page(clash), "name"))
    assert signed_in.post(f"/views/{b.pk}/rename/", {"name": ""}).status_code == 400
    assert order() == ["T", "C", "A", "Bee"]

    # Shared with the team, a view goes to the end of the team's views.
    signed_in.post(f"/views/{a.pk}/share/", {"shared": "1"})
    assert order() == ["T", "A", "C", "Bee"]
    assert team.pk  # the team's first view kept its place


def test_the_views_page_offers_changes_only_where_they_are_allowed(people, sandbox):
    view = save(people["lead"], "Everyone's", "priority=high", shared=True)
    mine = page(people["lead"].get("/views/"))
    row = mine.select_one(f"[data-view-row='{view.pk}']")
    assert row.select_one(f"form[action='/views/{view.pk}/rename/']") is not None
    assert html.link(row, "Delete") == f"/views/{view.pk}/delete/"

    theirs = page(people["colleague"].get("/views/"))
    row = theirs.select_one(f"[data-view-row='{view.pk}']")
    assert row.select_one("form[action$='/rename/']") is None
    assert row.select_one("form[action$='/move/']") is None
    assert html.anchor(row, "Delete") is None
    assert row.select_one("form[action='/views/default/']") is not None  # anyone's default


# --- The default view ---------------------------------------------------------------------


def test_a_persons_default_view_opens_at_the_root(people, sandbox):
    lead, colleague = people["lead"], people["colleague"]
    view = save(lead, "High", "priority=high", shared=True)
    assert lead.post("/views/default/", {"view": str(view.pk)}).status_code == 302

    doc = page(lead.get("/"))
    assert html.row_ids(doc) == expected_ids(sandbox, "priority=high")[: sandbox.page_size]
    assert current(doc) == str(view.pk)
    assert html.value(doc, "priority") == "high"
    assert "(default)" in text(sidebar(doc).select_one(f"a[data-view='{view.pk}']"))
    # The whole list is still a click away, and clearing the filters leads there.
    assert html.link(doc, "Clear filters") == "/views/all/"
    assert html.row_ids(page(lead.get("/views/all/"))) == expected_ids(sandbox, "")[:25]
    assert lead.get("/?status=").url == "/views/all/"
    pushed = lead.get("/?status=&priority=", **HTMX)
    assert pushed["HX-Push-Url"] == "/views/all/"

    # It is one person's choice: the colleague's `/` is still the whole list.
    assert html.row_ids(page(colleague.get("/"))) == expected_ids(sandbox, "")[:25]

    # A team view its owner takes back is nobody else's default any more.
    colleague.post("/views/default/", {"view": str(view.pk)})
    lead.post(f"/views/{view.pk}/share/", {"shared": "0"})
    assert html.row_ids(page(colleague.get("/"))) == expected_ids(sandbox, "")[:25]
    assert colleague.post("/views/default/", {"view": str(view.pk)}).status_code == 404

    lead.post("/views/default/", {"view": "all"})
    assert not DefaultView.objects.filter(user__username="lead").exists()
    assert html.row_ids(page(lead.get("/"))) == expected_ids(sandbox, "")[:25]


# --- Mine ---------------------------------------------------------------------------------


def test_mine_shows_the_tickets_assigned_to_the_agent_with_your_email(signed_in, sandbox, lead):
    maya = next(a for a in sandbox.data.agents if a["first_name"] == "Maya")
    lead.email = maya["email"].upper()  # emails match whatever their case
    lead.save()
    doc = page(signed_in.get("/views/mine/"))
    assigned = f"assignee={maya['id']}"
    assert html.row_ids(doc) == expected_ids(sandbox, assigned)[: sandbox.page_size]
    assert current(doc) == "mine"
    assert html.value(doc, "assignee") == "mine"
    assert dict(parse_qsl(tickets_asked(sandbox)[-1].query))["assignee"] == str(maya["id"])


def test_mine_says_so_when_no_agent_has_your_email_and_asks_for_no_tickets(
    signed_in, sandbox, lead
):
    lead.email = "temp@elsewhere.test"
    lead.save()
    response = signed_in.get("/views/mine/")
    assert response.status_code == 200
    doc = page(response)
    assert "no agent in the store has your email (temp@elsewhere.test)" in " ".join(
        html.alerts(doc)
    )
    assert html.rows(doc) == []
    assert tickets_asked(sandbox) == []
    assert {k: c for k, _, c in entries(doc)}["mine"] == "no agent has your email"

    lead.email = ""
    lead.save()
    assert "your account has no email" in " ".join(html.alerts(page(signed_in.get("/views/mine/"))))
    assert tickets_asked(sandbox) == []


def test_mine_can_be_the_default_view(signed_in, sandbox, lead):
    maya = next(a for a in sandbox.data.agents if a["first_name"] == "Maya")
    lead.email = maya["email"]
    lead.save()
    signed_in.post("/views/default/", {"view": "mine"})
    doc = page(signed_in.get("/"))
    assert current(doc) == "mine"
    assert html.row_ids(doc) == expected_ids(sandbox, f"assignee={maya['id']}")[:25]


# --- Counts -------------------------------------------------------------------------------


@pytest.fixture
def counting(settings):
    settings.STORE_VIEW_COUNTS = True
    yield
    worker.drain()


def poll(client, rounds=60):
    """Ask for the sidebar's counts as its poller does, letting each round's background
    steps finish, until nothing is counting; the counts by view key."""
    for _ in range(rounds):
        doc = page(client.get("/views/counts/"))
        assert worker.drain()
        shown = {e["data-view-count"]: text(e) for e in doc.select("[data-view-count]")}
        if not any("counting" in label for label in shown.values()):
            return shown, doc
    raise AssertionError(f"still counting: {shown}")


FILTERS = [
    "status=open",
    "status=new&status=open",
    "priority=high",
    "status=pending&priority=low",
    "channel=email",
    "tags=1",
]


def test_view_counts_equal_the_stores_totals(signed_in, sandbox, counting):
    sandbox.configure(page_size=10)
    views = {save(signed_in, f"View {i}", query).pk: query for i, query in enumerate(FILTERS)}
    first = page(signed_in.get("/views/all/"))  # the page shows what is known: nothing yet
    shown = {key: count for key, _, count in entries(first)}
    assert {shown[str(pk)] for pk in views} == {"counting…"}
    poller = first.select_one("#views-poll")
    assert poller["data-hx-get"] == "/views/counts/"
    assert poller["data-hx-trigger"].startswith("load delay:")

    shown, doc = poll(signed_in)
    for pk, query in views.items():
        assert shown[str(pk)] == str(len(expected_ids(sandbox, query))), query
    assert shown["all"] == str(len(sandbox.data.tickets))
    # Counted, the sidebar asks again about once a minute; the page now shows the counts.
    # Again in a minute, or at once when this person changes a ticket.
    assert (
        doc.select_one("#views-poll")["data-hx-trigger"]
        == "load delay:60s, tickets-changed from:body"
    )
    assert all(e.get("data-hx-swap-oob") == "true" for e in doc.select("[data-view-count]"))
    again = {k: c for k, _, c in entries(page(signed_in.get("/views/all/")))}
    assert again[str(next(iter(views)))] == str(len(expected_ids(sandbox, FILTERS[0])))


def test_a_count_says_at_least_while_counting_and_a_plus_past_the_cap(
    signed_in, sandbox, counting, monkeypatch
):
    sandbox.configure(page_size=5)
    monkeypatch.setattr(counts, "CAP", 30)
    view = save(signed_in, "Resolved", "status=closed&status=solved")
    doc = page(signed_in.get("/views/counts/"))
    worker.drain()
    # Counting: soon.
    assert doc.select_one("#views-poll")["data-hx-trigger"].startswith("load delay:5s,")
    doc = page(signed_in.get("/views/counts/"))
    worker.drain()
    label = text(doc.select_one(f"[data-view-count='{view.pk}']"))
    assert label == f"at least {counts.PAGES_PER_STEP * 5}, counting"

    shown, _ = poll(signed_in)
    assert shown[str(view.pk)] == "30+"
    assert shown["all"] == "30+"


def test_the_list_page_never_waits_for_a_count(signed_in, sandbox, counting):
    save(signed_in, "Open", "status=open")
    signed_in.get("/views/all/")
    worker.drain()
    assert len(tickets_asked(sandbox)) == 1  # the page's own call; counting waits for its poller


def test_ten_people_looking_at_the_same_views_cost_one_walk_per_view(
    django_user_model, signed_in, sandbox, counting, monkeypatch
):
    sandbox.configure(page_size=10)
    monkeypatch.setattr(counts, "CAP", 60)
    queries = ["status=new&status=open", "priority=high", "channel=email"]
    for i, query in enumerate(queries):
        save(signed_in, f"Team {i}", query, shared=True)
    people = []
    for i in range(10):
        person = Client()
        person.force_login(django_user_model.objects.create_user(f"agent{i}"))
        save(person, "Same as the team's", queries[1])  # their own view, the same filter
        people.append(person)
    sandbox.reset_stats()

    for _ in range(30):
        labels = [text(e) for p in people for e in page(p.get("/views/counts/")).select(
            "[data-view-count]")]  # fmt: skip
        worker.drain()
        if not any("counting" in label for label in labels):
            break
    else:
        raise AssertionError("still counting")

    asked = Counter(r.query for r in tickets_asked(sandbox))
    assert set(asked.values()) == {1}, "every page of every walk was asked for once"
    by_filter = Counter(
        "&".join(f"{k}={v}" for k, v in parse_qsl(query) if k != "cursor") for query in asked
    )
    for query in ["", *queries]:
        total = len(expected_ids(sandbox, query))
        pages = math.ceil(min(total, counts.CAP) / 10)
        assert by_filter[query] == pages, query


# --- Display links from views -------------------------------------------------------------


def test_a_display_link_is_made_by_picking_views(people, sandbox, lead):
    lead_client, colleague = people["lead"], people["colleague"]
    high = save(lead_client, "High", "priority=high", shared=True)
    open_ = save(lead_client, "Open", "status=open")
    theirs = save(colleague, "Colleague's", "status=new")

    doc = page(lead_client.get("/wall/links/"))
    offered = [int(box["value"]) for box in doc.select("input[name=views]")]
    assert offered == [high.pk, open_.pk]  # the team's, then the person's own; no one else's
    assert "Priority: High" in text(doc.select_one(".view-picker"))

    fields = {"views": [str(open_.pk), str(high.pk)], "name": "", "sort": "newest",
              "refresh_seconds": 30, "rotate_seconds": 60, "warn_after_hours": 4,
              "alert_after_hours": 24, "filters": ""}  # fmt: skip
    # Everyone sees the links' names: one showing the person's own view needs its own name.
    unnamed = lead_client.post("/wall/links/", fields)
    assert unnamed.status_code == 400
    assert "a name of its own" in " ".join(html.field_errors(page(unnamed), "name"))
    response = lead_client.post("/wall/links/", {**fields, "name": "Floor screen"})
    assert response.status_code == 201
    link = DisplayLink.objects.get()
    assert link.filters == "priority=high\nstatus=open"  # in the order the page lists them
    assert link.name == "Floor screen"
    # Of team views only, it may be named after them.
    team_only = lead_client.post("/wall/links/", {**fields, "views": [str(high.pk)]})
    assert team_only.status_code == 201
    assert DisplayLink.objects.filter(name="High").exists()

    for refused in ({"views": [str(theirs.pk)]}, {"views": []}):
        answer = lead_client.post(
            "/wall/links/", {"name": "Nope", "refresh_seconds": 30, "rotate_seconds": 60,
                             "sort": "newest", "warn_after_hours": 4, "alert_after_hours": 24,
                             **refused},
        )  # fmt: skip
        assert answer.status_code == 400
        assert html.field_errors(page(answer), "views")
    assert DisplayLink.objects.count() == 2


def test_a_view_of_mine_is_shown_on_a_screen_for_an_agent_picked_in_its_place(
    signed_in, sandbox, lead
):
    """A wall has nobody signed in to be "Mine": such a view says so beside it, and offers the
    agents instead, even when it is the person's only view."""
    aiko = next(a for a in sandbox.data.agents if a["first_name"] == "Aiko")
    # Saved by the team's agents for themselves; this person is not one.
    mine = SavedView.objects.create(
        owner=lead, name="My open", query="status=open&assignee=mine", shared=True
    )

    doc = page(signed_in.get("/wall/links/"))
    assert "No saved views" not in text(doc.select_one(".view-picker"))
    assert doc.select("input[name=views]") == []  # not a checkbox: "Mine" alone means nobody
    listed = doc.select_one(f"[data-view-needs-agent='{mine.pk}']")
    assert "Uses Mine, which a wall has no one to be." in text(listed)
    assert "Assignee: Mine" in text(listed)
    agents = {
        text(o): o["value"] for o in listed.select(f"select[name=agent_for_{mine.pk}] option")
    }
    assert agents["Not shown"] == ""
    assert agents[f"{aiko['first_name']} {aiko['last_name']}"] == str(aiko["id"])

    plain = save(signed_in, "Open", "status=open", shared=True)
    answer = signed_in.post(
        "/wall/links/", {"views": [str(plain.pk)], f"agent_for_{mine.pk}": str(aiko["id"]),
                         "name": "", "sort": "newest", "refresh_seconds": 30,
                         "rotate_seconds": 60, "warn_after_hours": 4, "alert_after_hours": 24},
    )  # fmt: skip
    assert answer.status_code == 201
    link = DisplayLink.objects.get()
    assert link.filters == f"status=open&assignee={aiko['id']}\nstatus=open"
    assert link.name == f"My open ({aiko['first_name']} {aiko['last_name']}) · Open"

    # Ticked as a view of its own, it is still refused: on a screen it would mean nobody.
    refused = signed_in.post(
        "/wall/links/", {"views": [str(mine.pk)], "name": "Mine", "sort": "newest",
                         "refresh_seconds": 30, "rotate_seconds": 60, "warn_after_hours": 4,
                         "alert_after_hours": 24},
    )  # fmt: skip
    assert refused.status_code == 400
    assert DisplayLink.objects.count() == 1


def test_a_view_of_mine_made_by_an_agent_is_offered_for_an_agent_too(signed_in, sandbox, lead):
    maya = next(a for a in sandbox.data.agents if a["first_name"] == "Maya")
    lead.email = maya["email"]
    lead.save()
    signed_in.get("/")  # the agents are known
    mine = save(signed_in, "My open", "assignee=mine&status=open")
    plain = save(signed_in, "Open", "status=open")
    doc = page(signed_in.get("/wall/links/"))
    assert [int(b["value"]) for b in doc.select("input[name=views]")] == [plain.pk]
    assert doc.select_one(f"select[name=agent_for_{mine.pk}]") is not None


def test_typed_filters_stay_as_the_advanced_way(signed_in, sandbox):
    doc = page(signed_in.get("/wall/links/?filters=status%3Dnew"))
    assert doc.select_one("details.advanced-filters").has_attr("open")
    response = signed_in.post(
        "/wall/links/", {"name": "Typed", "filters": "priority=high&status=new", "sort": "newest",
                         "refresh_seconds": 30, "rotate_seconds": 60, "warn_after_hours": 4,
                         "alert_after_hours": 24},
    )  # fmt: skip
    assert response.status_code == 201
    assert DisplayLink.objects.get().filters == "status=new&priority=high"


def test_revoking_a_display_link_asks_first(signed_in, sandbox):
    signed_in.post(
        "/wall/links/", {"name": "Room", "filters": "status=open", "sort": "newest",
                         "refresh_seconds": 30, "rotate_seconds": 60, "warn_after_hours": 4,
                         "alert_after_hours": 24},
    )  # fmt: skip
    link = DisplayLink.objects.get()
    listing = page(signed_in.get("/wall/links/"))
    row = listing.select_one(f"[data-link-id='{link.pk}']")
    assert html.link(row, "Revoke") == f"/wall/links/{link.pk}/revoke/"
    assert row.select_one("form") is None  # no one-click revoke

    confirm = signed_in.get(f"/wall/links/{link.pk}/revoke/")
    assert confirm.status_code == 200
    assert "Revoke “Room”?" in text(page(confirm).select_one("h1"))
    link.refresh_from_db()
    assert not link.is_revoked
    assert signed_in.post(f"/wall/links/{link.pk}/revoke/").status_code == 302
    link.refresh_from_db()
    assert link.is_revoked


def test_only_its_maker_or_staff_can_revoke_a_display_link(people, sandbox):
    made = {
        name: people[name].post(
            "/wall/links/",
            {
                "name": f"Room of {name}",
                "filters": "status=open",
                "sort": "newest",
                "refresh_seconds": 30,
                "rotate_seconds": 60,
                "warn_after_hours": 4,
                "alert_after_hours": 24,
            },
        )  # fmt: skip
        for name in ("lead", "staff")
    }
    assert {response.status_code for response in made.values()} == {201}
    leads = DisplayLink.objects.get(name="Room of lead")
    staffs = DisplayLink.objects.get(name="Room of staff")

    # A colleague sees both links but can revoke neither, by the page or by the URL.
    listing = page(people["colleague"].get("/wall/links/"))
    for link in (leads, staffs):
        row = listing.select_one(f"[data-link-id='{link.pk}']")
        assert row is not None
        assert row.select_one("a[href$='/revoke/']") is None
        assert "to revoke" in text(row)
        assert people["colleague"].get(f"/wall/links/{link.pk}/revoke/").status_code == 403
        assert people["colleague"].post(f"/wall/links/{link.pk}/revoke/").status_code == 403
    # Its maker may revoke their own but not staff's; staff may revoke anyone's.
    assert people["lead"].post(f"/wall/links/{staffs.pk}/revoke/").status_code == 403
    assert people["lead"].post(f"/wall/links/{leads.pk}/revoke/").status_code == 302
    assert people["staff"].post(f"/wall/links/{staffs.pk}/revoke/").status_code == 302
    revoked = set(
        DisplayLink.objects.filter(revoked_at__isnull=False).values_list("name", flat=True)
    )
    assert revoked == {"Room of lead", "Room of staff"}


def test_create_display_link_command_picks_saved_views_by_name(signed_in, sandbox, lead):
    save(signed_in, "Refunds", "tags=2&status=open", shared=True)
    save(signed_in, "Open", "status=open")
    out = StringIO()
    args = ["--view", "refunds", "--filters", "priority=high", "--view", "Open"]
    call_command("create_display_link", "Room", *args, "--base-url", "http://tv", stdout=out)
    link = DisplayLink.objects.get(name="Room")
    assert link.filters == "status=open&tags=2\npriority=high\nstatus=open"
    assert out.getvalue().strip().splitlines()[-1].startswith("http://tv/display/")

    with pytest.raises(CommandError, match="No saved view"):
        call_command("create_display_link", "Other", "--view", "Nothing", stdout=StringIO())
    with pytest.raises(CommandError, match="--view or --filters"):
        call_command("create_display_link", "Other", stdout=StringIO())
    maya = next(a for a in sandbox.data.agents if a["first_name"] == "Maya")
    lead.email = maya["email"]
    lead.save()
    signed_in.get("/")
    save(signed_in, "Mine open", "assignee=mine&status=open")
    with pytest.raises(CommandError):
        call_command("create_display_link", "Other", "--view", "Mine open", stdout=StringIO())


def test_changing_a_filter_in_place_unmarks_the_view_in_the_sidebar(signed_in, sandbox):
    view = save(signed_in, "Open", "status=open")
    assert current(page(signed_in.get(f"/views/{view.pk}/"))) == str(view.pk)
    swapped = page(signed_in.get("/?status=open&priority=high", **HTMX))
    nav = sidebar(swapped)
    assert nav["data-hx-swap-oob"] == "true" and nav["id"] == "views-sidebar"
    assert current(swapped) is None
    assert current(page(signed_in.get("/?status=", **HTMX))) == "all"
    # Load more swaps rows only: the sidebar stays as it is.
    sandbox.configure(page_size=5)
    href, _ = html.load_more(page(signed_in.get("/?priority=high")))
    assert page(signed_in.get(href, **HTMX)).select_one("nav") is None


def test_a_views_tags_show_by_name_in_the_filter_form(signed_in, sandbox, tag_catalogue):
    view = save(signed_in, "Refunds", f"tags={tag_catalogue['refund']}&tags={tag_catalogue['vip']}")
    doc = page(signed_in.get(f"/views/{view.pk}/"))
    assert html.value(doc, "tags") == "vip, refund"


def test_counts_outlive_the_agents_ten_minutes_and_a_store_outage(
    signed_in, sandbox, lead, counting, monkeypatch
):
    maya = next(a for a in sandbox.data.agents if a["first_name"] == "Maya")
    lead.email = maya["email"]
    lead.save()
    signed_in.get("/")  # the agents are known
    view = save(signed_in, "My open", "assignee=mine&status=open")
    shown, _ = poll(signed_in)
    mine_open = str(len(expected_ids(sandbox, f"assignee={maya['id']}&status=open")))
    assert shown[str(view.pk)] == mine_open and shown["mine"] != ""

    # Ten minutes on, in a tab left open: the agents' shared answer has gone, and nothing but
    # the sidebar's poller asks. Views built on Mine keep their counts, and the agents are
    # asked for again in the background.
    from dashboard import store as the_store

    the_store.forget_local()
    budget.forget(the_store.client.cache_key("users/", [("user_type", "dashboard")]))
    sandbox.reset_stats()
    shown, _ = poll(signed_in)
    assert shown[str(view.pk)] == mine_open and shown["mine"] != ""
    assert any(r.startswith("/api/admin/users/?") for r in sandbox.stats()["requests"])

    # The store fails every count walk: the counts stay, and once late they say so.
    sandbox.set_fault("server_error")
    monkeypatch.setattr(counts, "MAX_AGE", 0)  # every count due at once
    monkeypatch.setattr(counts, "STALE_AFTER", 0)
    for _ in range(3):
        doc = page(signed_in.get("/views/counts/"))
        assert worker.drain()
    element = doc.select_one(f"[data-view-count='{view.pk}']")
    assert text(element).startswith(mine_open) and "stale" in text(element)
    assert element.has_attr("data-stale") and "min ago" in element["title"]


# --- Ids and names from the client ---------------------------------------------------------


@pytest.mark.parametrize("given", ["9" * 4301, str(2**31), "0", "²", "１２", "-3", " "])
def test_a_default_view_id_out_of_range_is_refused_before_int_or_the_database(
    people, sandbox, given
):
    assert people["lead"].post("/views/default/", {"view": given}).status_code == 400
    assert not DefaultView.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/views/{}/",
        "/views/{}/rename/",
        "/views/{}/move/",
        "/views/{}/share/",
        "/views/{}/delete/",
        "/tickets/{}/",
        "/tickets/{}/triage/",
        "/bulk/{}/",
        "/wall/links/{}/revoke/",
    ],
)
@pytest.mark.parametrize("given", ["9" * 4301, str(2**31), "0"])
def test_every_id_in_a_path_is_bounded_before_it_reaches_the_database(people, sandbox, path, given):
    lead = people["lead"]
    assert lead.get(path.format(given)).status_code == 404
    assert lead.post(path.format(given)).status_code == 404


@pytest.mark.also_sqlite
@pytest.mark.parametrize(
    ("first", "second"),
    [("Ärger", "ärger"), ("Waiting", "WAITING"), ("Straße", "STRASSE"), ("ﬁx", "fix")],
)
def test_view_names_differing_only_in_case_or_form_are_one_name(people, sandbox, first, second):
    lead = people["lead"]
    save(lead, first, "priority=high")
    response = lead.post("/views/save/", {"name": second, "query": "priority=low"})
    assert response.status_code == 400
    assert "already have a view called" in " ".join(html.field_errors(page(response), "name"))
    # Renaming another view into it is refused alike, and so is making it the team's
    # beside a team view of that name.
    other = save(lead, "Other", "priority=low")
    assert lead.post(f"/views/{other.pk}/rename/", {"name": second}).status_code == 400
    save(people["staff"], second, "status=open", shared=True)
    first_view = SavedView.objects.get(name=first)
    assert lead.post(f"/views/{first_view.pk}/share/", {"shared": "1"}).status_code == 400
    assert SavedView.objects.filter(shared=False).count() == 2


# --- Nobody sees another person's own views -------------------------------------------------


def test_a_link_made_from_a_personal_view_tells_others_nothing_of_its_name(people, sandbox):
    lead, colleague = people["lead"], people["colleague"]
    plan = save(lead, "Refund backlog plan", "status=open")
    fields = {"views": [str(plan.pk)], "sort": "newest", "refresh_seconds": 30,
              "rotate_seconds": 60, "warn_after_hours": 4, "alert_after_hours": 24}  # fmt: skip
    assert lead.post("/wall/links/", {**fields, "name": ""}).status_code == 400
    assert not DisplayLink.objects.exists()
    assert lead.post("/wall/links/", {**fields, "name": "Hall screen"}).status_code == 201
    link = DisplayLink.objects.get()

    listed = colleague.get("/wall/links/")
    revoking = people["staff"].get(f"/wall/links/{link.pk}/revoke/")
    for shown in (listed, people["staff"].get("/wall/links/"), revoking):
        assert shown.status_code == 200
        assert "Hall screen" in shown.content.decode()
        assert "Refund backlog plan" not in shown.content.decode()


def test_the_admin_lists_no_one_elses_personal_views_to_superusers(
    people, sandbox, lead, django_user_model
):
    lead.is_staff = lead.is_superuser = True
    lead.save()
    lead_client, colleague = people["lead"], people["colleague"]
    lead_client.force_login(lead)
    grant(django_user_model.objects.get(username="colleague"), "share_views")
    theirs = save(colleague, "Colleague's own", "status=new")
    team = save(colleague, "Colleague's team view", "status=open", shared=True)
    mine = save(lead_client, "Lead's own", "priority=high")

    listed = lead_client.get("/admin/dashboard/savedview/")
    assert listed.status_code == 200
    body = listed.content.decode()
    assert "Colleague&#x27;s team view" in body and "Lead&#x27;s own" in body
    assert "Colleague&#x27;s own" not in body
    assert lead_client.get(f"/admin/dashboard/savedview/{mine.pk}/change/").status_code == 200
    for action in ("change", "delete", "history"):
        path = f"/admin/dashboard/savedview/{theirs.pk}/{action}/"
        assert lead_client.get(path).status_code in (302, 404)
        assert SavedView.objects.filter(pk=theirs.pk).exists()
    assert lead_client.get(f"/admin/dashboard/savedview/{team.pk}/change/").status_code == 200


# --- Limits: how many views, who shares, and a sidebar that does not grow -----------------


def test_a_colleague_without_the_permission_cannot_share_even_by_forging_the_form(people, sandbox):
    colleague, lead = people["colleague"], people["lead"]
    # The attack: a non-staff person saving team views as fast as they can.
    for i in range(20):
        answer = colleague.post("/views/save/", {"name": f"Spam {i}", "query": "", "shared": "on"})
        assert answer.status_code == 403
        assert "Can share views with the team" in answer.content.decode()
    own = save(colleague, "Mine alone", "status=open")
    assert colleague.post(f"/views/{own.pk}/share/", {"shared": "1"}).status_code == 403
    assert list(SavedView.objects.filter(shared=True)) == []

    # Nobody is offered what they may not do; a lead is.
    save(lead, "Lead's own", "status=new")
    for person, offered in ((colleague, False), (lead, True)):
        listed = page(person.get("/?status=open"))
        assert bool(listed.select("form.save-view-form input[name=shared]")) == offered
        views = page(person.get("/views/"))
        shares = [b for b in views.select("button") if text(b) == "Share with the team"]
        assert bool(shares) == offered


def test_a_person_keeps_at_most_views_per_person_and_is_told_why(people, sandbox, settings):
    settings.VIEWS_PER_PERSON = 3
    lead = people["lead"]
    save(lead, "One", "status=open")
    save(lead, "Two", "status=new", shared=True)  # the team's they made count as theirs
    save(lead, "Three", "priority=high")

    refused = lead.post("/views/save/", {"name": "Four", "query": "priority=low"})
    assert refused.status_code == 400
    said = text(page(refused).select_one("[data-field-error=name]"))
    assert said == (
        "You keep 3 views, the most one person can. Delete one on the views page to save another."
    )
    assert SavedView.objects.filter(owner__username="lead").count() == 3
    save(people["colleague"], "Four", "priority=low")  # another person's own views are theirs


def test_the_team_shares_at_most_team_views(people, sandbox, settings):
    settings.TEAM_VIEWS = 2
    lead, staff = people["lead"], people["staff"]
    save(lead, "Open", "status=open", shared=True)
    save(staff, "New", "status=new", shared=True)

    refused = lead.post("/views/save/", {"name": "High", "query": "priority=high", "shared": "on"})
    assert refused.status_code == 400
    assert "The team shares 2 views, the most it can." in text(page(refused))
    own = save(lead, "High", "priority=high")  # kept as the person's own instead

    shared = lead.post(f"/views/{own.pk}/share/", {"shared": "1"})
    assert shared.status_code == 400
    problem = page(shared).select_one(f"#share-problem-{own.pk}")
    assert "The team shares 2 views" in text(problem)
    own.refresh_from_db()
    assert not own.shared
    assert SavedView.objects.filter(shared=True).count() == 2
    limits = text(page(lead.get("/views/")).select_one("[data-view-limits]"))
    assert "You keep 2 of the 50 views one person can; the team shares 2 of 2." in limits


@pytest.mark.django_db(transaction=True)
def test_two_saves_at_once_cannot_both_pass_the_cap(django_user_model, sandbox, settings):
    """The second save's count waits until the first has saved: without the lock both count
    one view fewer than the cap and both save."""
    from django.db import connection

    # The suite runs on PostgreSQL (`make test`), whose advisory lock this races; SQLite's
    # write lock at BEGIN serialises the saves before either counts.
    assert connection.vendor == "postgresql"
    settings.VIEWS_PER_PERSON = 1
    owner = django_user_model.objects.create_user("racer")
    counted = threading.Condition()
    tally = []
    real = saved_views._no_room

    def no_room_then_wait(who, shared):
        answer = real(who, shared)
        with counted:
            tally.append(answer)
            counted.notify_all()
            # Hold this transaction open until the other save has counted too, or is seen
            # waiting for the lock: whichever it is, both are then in the race.
            while len(tally) < 2 and not _waiting_for_advisory_lock():
                counted.wait(0.05)
        return answer

    results = []

    def attempt(name):
        try:
            results.append(saved_views.create(owner, name, "", False).name)
        except saved_views.Refused as refused:
            results.append(str(refused))
        finally:
            from django.db import connection as own

            own.close()

    with mock.patch.object(saved_views, "_no_room", no_room_then_wait):
        racers = [threading.Thread(target=attempt, args=(name,)) for name in ("A", "B")]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)
    assert SavedView.objects.filter(owner=owner).count() == 1
    assert sorted(results)[0] in ("A", "B")
    assert sorted(results)[1].startswith("You keep 1 views")


def _waiting_for_advisory_lock():
    from django.db import connections

    probe = connections.create_connection("default")
    try:
        with probe.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            return cursor.fetchone()[0] > 0
    finally:
        probe.close()


def test_the_sidebar_lists_the_first_views_of_each_group_and_a_way_to_the_rest(
    people, sandbox, settings, counting
):
    settings.SIDEBAR_VIEWS = 3
    lead = people["lead"]
    filters = ["priority=low", "priority=medium", "priority=high", "channel=email"]
    team = [save(lead, f"Team {i}", f"status=open&{f}", shared=True) for i, f in enumerate(filters)]
    own = [
        save(lead, f"Own {i}", f"status=new&{f}")
        for i, f in enumerate([*filters, "priority=low&channel=email"])
    ]

    doc = page(lead.get("/views/all/"))
    keys = [key for key, _, _ in entries(doc)]
    assert keys == ["all", "mine", "waiting", *(str(v.pk) for v in team[:3] + own[:3])]
    more = {a["data-views-more"]: (text(a), a["href"]) for a in doc.select("[data-views-more]")}
    assert more == {
        "team": ("1 more team view", "/views/#team-views"),
        "own": ("2 more of yours", "/views/#my-views"),
    }
    # A view beyond the first few is listed, marked, while it is the one shown.
    doc = page(lead.get(own[4].get_absolute_url()))
    assert current(doc) == str(own[4].pk)
    assert [key for key, _, _ in entries(doc)][-1] == str(own[4].pk)
    assert text(doc.select_one("[data-views-more=own]")) == "1 more of yours"

    # The counts polled are those of the views listed, not of every view.
    sandbox.reset_stats()
    polled = page(lead.get("/views/counts/"))
    worker.drain()
    counted = {e["data-view-count"] for e in polled.select("[data-view-count]")}
    assert counted == {"all", "mine", "waiting", *(str(v.pk) for v in team[:3] + own[:3])}
    walked = {
        "&".join(f"{k}={v}" for k, v in parse_qsl(r.query) if k not in ("cursor", "page_size"))
        for r in tickets_asked(sandbox)
    }
    assert walked, "the views listed were counted"
    assert "status=new&priority=low&channel=email" not in walked
    assert "status=open&channel=email" not in walked
