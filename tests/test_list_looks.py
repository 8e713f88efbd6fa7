"""How the list reads: open tickets' age and its marks, subjects in their own direction, times
labelled for the cards, "Clear filters" only when something is filtered, a heading per page,
and each person's density, kept with their account."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from dashboard.models import Preference
from tests import html

HTMX = {"HTTP_HX_REQUEST": "true"}


def added(sandbox, hours_ago, **fields):
    created = datetime.now(UTC) - timedelta(hours=hours_ago)
    return sandbox.data.add_ticket(created_at=created, **fields)


def row_of(client, ticket):
    doc = html.page(client.get(f"/?id={ticket['id']}"))
    return html.row(doc, ticket["id"])


def age_shown(row):
    age = row.select_one(".age")
    return None if age is None else html.text(age)


@pytest.mark.parametrize(
    ("hours_ago", "status", "shown"),
    [
        (0.5, "open", "30 min waiting"),
        (3, "new", "3 h waiting"),
        (5, "pending", "Ageing 5 h"),
        (30, "open", "Overdue 1 d"),
        (24 * 9 + 2, "on-hold", "Overdue 9 d"),
        (30, "solved", None),
        (30, "closed", None),
    ],
)
def test_open_tickets_show_their_age_and_past_the_limits_say_so(
    signed_in, sandbox, hours_ago, status, shown
):
    ticket = added(sandbox, hours_ago, status=status)
    assert age_shown(row_of(signed_in, ticket)) == shown


def test_the_list_limits_are_settings(signed_in, sandbox, settings):
    settings.LIST_AGEING_HOURS, settings.LIST_OVERDUE_HOURS = 1, 2
    assert age_shown(row_of(signed_in, added(sandbox, 0.5, status="open"))) == "30 min waiting"
    assert age_shown(row_of(signed_in, added(sandbox, 1.5, status="open"))) == "Ageing 1 h"
    assert age_shown(row_of(signed_in, added(sandbox, 2.5, status="open"))) == "Overdue 2 h"


def test_marks_are_words_with_their_own_class(signed_in, sandbox):
    ageing = row_of(signed_in, added(sandbox, 6, status="open")).select_one(".age")
    overdue = row_of(signed_in, added(sandbox, 48, status="open")).select_one(".age")
    assert "age-ageing" in ageing["class"] and "age-overdue" in overdue["class"]
    assert html.text(ageing.strong) == "Ageing" and html.text(overdue.strong) == "Overdue"


def test_subjects_take_their_own_direction(signed_in, sandbox):
    ticket = added(sandbox, 1, status="new", subject="لم يصل طلبي بعد")
    subject = row_of(signed_in, ticket).select_one("a.subject")
    assert subject["dir"] == "auto"
    assert html.text(subject) == "لم يصل طلبي بعد"

    wall = html.page(signed_in.get(f"/wall/?id={ticket['id']}"))
    shown = html.row(wall, ticket["id"]).select_one(".w-subject-text")
    assert shown["dir"] == "auto"


def test_times_carry_labels_for_the_cards_of_narrow_screens(signed_in, sandbox):
    rows = html.rows(html.page(signed_in.get("/")))
    assert len(rows) == sandbox.page_size  # a whole first page, so the loop checks something
    for row in rows:
        created, updated = row.select("td.col-time")
        assert html.text(created).startswith("Created ")
        assert html.text(updated).startswith("Updated ")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("/", False),
        # What the form sends when a person empties every field: nothing is filtered.
        ("/?filter_text=&priority=&channel=&ticket_type=&assignee=", False),
        ("/?status=open", True),
        ("/?filter_text=order&priority=high", True),
        ("/?created_from=yesterday", True),  # invalid filters: clearing them is the way out
    ],
)
def test_clear_filters_shows_only_when_something_is_filtered(signed_in, url, shown):
    response = signed_in.get(url, follow=True)
    assert response.status_code in (200, 400)
    assert (html.anchor(html.page(response), "Clear filters") is not None) is shown
    fragment = signed_in.get(url, **HTMX)
    assert (html.anchor(html.page(fragment), "Clear filters") is not None) is shown


def test_list_and_thread_pages_have_a_level_one_heading(signed_in, sandbox):
    list_page = html.page(signed_in.get("/"))
    assert [html.text(h) for h in list_page.select("h1")] == ["Tickets"]
    ticket = sandbox.data.tickets[0]
    thread_page = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
    assert [html.text(h) for h in thread_page.select("h1")] == [f"Ticket #{ticket['id']}"]
    # Beside the list, the thread is a part of the list's page: no second h1.
    fragment = html.page(signed_in.get(f"/tickets/{ticket['id']}/", **HTMX))
    assert fragment.select("h1") == []


def test_the_wall_has_a_main_landmark(signed_in):
    doc = html.page(signed_in.get("/wall/"))
    assert doc.select_one("main #board") is not None


def test_every_display_links_column_is_named(signed_in):
    from dashboard.models import DisplayLink

    DisplayLink.objects.create(name="Lobby", filters="status=new", secret_hash="x" * 64)
    doc = html.page(signed_in.get("/wall/links/"))
    headers = doc.select(".links-table th")
    assert headers and all(html.text(th) for th in headers)


# --- Density -------------------------------------------------------------------------------


def density_switch(doc):
    button = doc.select_one("form.density-switch button[name=density]")
    assert button is not None, "no density switch"
    return button


def body_classes(doc):
    return doc.select_one("body").get("class", [])


def test_the_list_starts_comfortable(signed_in):
    doc = html.page(signed_in.get("/?status=open"))
    assert "density-compact" not in body_classes(doc)
    button = density_switch(doc)
    assert button["aria-pressed"] == "false" and button["value"] == "compact"
    assert html.text(button) == "Compact rows"


def test_compact_density_without_javascript_comes_back_to_the_same_list(signed_in, lead):
    doc = html.page(signed_in.get("/?status=open"))
    form = doc.select_one("form.density-switch")
    assert form["method"] == "post"
    back = html.control(form, "next")["value"]
    assert back == "/?status=open"

    response = signed_in.post(form["action"], {"density": "compact", "next": back})
    assert response.status_code == 302
    assert response["Location"] == "/?status=open"
    assert Preference.objects.get(user=lead).density == "compact"

    doc = html.page(signed_in.get("/?status=open"))
    assert "density-compact" in body_classes(doc)
    button = density_switch(doc)
    assert button["aria-pressed"] == "true" and button["value"] == "comfortable"
    # The other pages carry it too (the thread shown alone, the display links page).
    assert "density-compact" in body_classes(html.page(signed_in.get("/wall/links/")))

    signed_in.post(form["action"], {"density": "comfortable", "next": back})
    assert "density-compact" not in body_classes(html.page(signed_in.get("/")))


def test_density_without_javascript_comes_back_to_a_view_too(signed_in):
    doc = html.page(signed_in.get("/views/all/"))
    back = html.control(doc.select_one("form.density-switch"), "next")["value"]
    assert back == "/views/all/"
    response = signed_in.post("/preferences/density/", {"density": "compact", "next": back})
    assert response["Location"] == "/views/all/"

    # Swapped in by HTMX, the list's results still send the person back to where they are.
    fragment = signed_in.get(
        "/?status=open", HTTP_HX_CURRENT_URL="http://testserver/views/all/?x=1", **HTMX
    )
    back = html.control(html.page(fragment).select_one("form.density-switch"), "next")["value"]
    assert back == "/views/all/?x=1"


def test_density_follows_the_person_not_the_browser(signed_in, lead, django_user_model):
    signed_in.post("/preferences/density/", {"density": "compact"})
    elsewhere = Client()
    elsewhere.force_login(lead)
    assert "density-compact" in body_classes(html.page(elsewhere.get("/")))

    colleague = Client()
    colleague.force_login(django_user_model.objects.create_user("agent", password="x" * 20))
    assert "density-compact" not in body_classes(html.page(colleague.get("/")))


def test_with_htmx_the_switch_answers_with_its_new_state(signed_in, lead):
    response = signed_in.post(
        "/preferences/density/", {"density": "compact", "next": "/?status=new"}, **HTMX
    )
    assert response.status_code == 200
    doc = html.page(response)
    assert not html.is_whole_page(doc)
    form = html.root(doc)
    assert form["data-density"] == "compact"
    assert density_switch(doc)["aria-pressed"] == "true"
    assert html.control(form, "next")["value"] == "/?status=new"
    assert Preference.objects.get(user=lead).density == "compact"


@pytest.mark.parametrize("back", ["https://elsewhere.example/", "//elsewhere.example/", ""])
def test_density_never_sends_people_to_another_site(signed_in, back):
    response = signed_in.post("/preferences/density/", {"density": "compact", "next": back})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_density_refuses_what_it_does_not_know(signed_in, lead):
    assert signed_in.post("/preferences/density/", {"density": "tiny"}).status_code == 400
    assert signed_in.get("/preferences/density/").status_code == 405
    assert not Preference.objects.filter(user=lead).exists()


def test_density_needs_the_csrf_token_and_a_signed_in_person(lead):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    assert client.post("/preferences/density/", {"density": "compact"}).status_code == 403
    assert not Preference.objects.filter(user=lead).exists()

    # With the page's own token, it works.
    doc = html.page(client.get("/"))
    token = html.control(doc.select_one("form.density-switch"), "csrfmiddlewaretoken")["value"]
    response = client.post(
        "/preferences/density/", {"density": "compact", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302

    signed_out = Client()
    response = signed_out.post("/preferences/density/", {"density": "compact"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_page_reads_the_density_once(signed_in, lead):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Preference.objects.create(user=lead, density="compact")
    for url, headers in (("/", {}), ("/?status=open", HTMX)):
        with CaptureQueriesContext(connection) as queries:
            assert signed_in.get(url, **headers).status_code == 200
        reads = [q for q in queries.captured_queries if "dashboard_preference" in q["sql"]]
        assert len(reads) == 1, url
