"""People's and the store's words isolated from the text beside them: a name that carries
RIGHT-TO-LEFT OVERRIDE (or is simply Arabic) reorders nothing but itself, on every page.

Each page is read as parsed HTML: every piece of text that carries a control which reorders
text must sit in an isolate (a `<bdi>`, or an element with `dir`) that holds that piece and
nothing else; a `<title>`, which has no markup, carries no such control at all. What a person
sees (the e-mail beside such a name keeping its order) is checked in Chromium in
`test_browser_names.py`.
"""

import re

import pytest
from bs4 import NavigableString
from django.contrib.auth.models import Group
from django.urls import reverse

from dashboard import bidi, store
from dashboard.models import DisplayLink, SavedView
from tests import html

RLO, PDI, FSI = bidi.RLO, bidi.PDI, bidi.FSI
# "hello" written backwards with RIGHT-TO-LEFT OVERRIDE, after a POP DIRECTIONAL ISOLATE that
# closes no isolate of its own: left in, it would end the <bdi> around it early.
FIRST_NAME = f"{PDI}{RLO}olleh"
CONTROL = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(piece):
    """A piece as pages show it: without the stray isolate-closers."""
    return bidi.contained(piece)


def isolate_of(string):
    """The element that isolates `string` from the text around it, or None: the nearest
    `<bdi>` or element with `dir` above it, or the `<option>` it is (a line of its own)."""
    for element in string.parents:
        if element.name in ("bdi", "option") or element.has_attr("dir"):
            return element
    return None


def assert_isolated(doc, piece, at_least=1):
    """Every place `doc`'s body shows `piece`: each inside an isolate holding just that piece."""
    body = doc.select_one("body") or doc
    wanted = shown(piece)
    found = [s for s in body.find_all(string=True) if wanted in s]
    assert len(found) >= at_least, f"{piece!r} shown {len(found)} times"
    for string in found:
        holder = isolate_of(string)
        assert holder is not None, f"{piece!r} not isolated in <{string.parent.name}>"
        assert holder.get_text() == wanted, f"{piece!r} shares its isolate: {holder}"
    return found


def outside_isolates(text):
    """What of `text` is not between an isolate's opening and its closing character: a
    sentence written in Python isolates the names in it so (FSI ... PDI)."""
    outside, depth = [], 0
    for char in text:
        if char in bidi.OPENS_ISOLATE:
            depth += 1
        elif char == PDI and depth:
            depth -= 1
        elif not depth:
            outside.append(char)
    return "".join(outside)


def assert_no_control_escapes(doc):
    """No text anywhere that carries a control outside an isolate (an element, or FSI ... PDI
    in a sentence), no stray isolate-closer, and none in the title."""
    title = doc.select_one("title")
    if title is not None:
        assert not CONTROL.search(title.get_text()), repr(title.get_text())
    body = doc.select_one("body") or doc
    for string in body.find_all(string=CONTROL):
        if type(string) is not NavigableString:
            continue  # a comment or a script's text: nothing a person sees
        assert bidi.contained(string) == string, f"stray isolate-closer in {string!r}"
        if CONTROL.search(outside_isolates(string)):
            assert isolate_of(string) is not None, f"{string!r} in <{string.parent.name}>"


@pytest.fixture
def odd_names(sandbox, monkeypatch, tag_catalogue):
    """A new ticket whose every name and word from the store reverses what follows it: its
    requester, assignee, subject, order, tag, type, product, a comment's author and an
    attachment's name. Names are known, as once looked up."""
    data = sandbox.data
    customer = next(u for u in data.customers if u["first_name"] and u["last_name"])
    agent = data.agents[0]
    ticket_type, product = data.ticket_types[0], data.products[0]
    monkeypatch.setitem(customer, "first_name", FIRST_NAME)
    monkeypatch.setitem(agent, "first_name", f"{RLO}tnega")
    monkeypatch.setitem(ticket_type, "name", f"{RLO}epyt")
    monkeypatch.setitem(product, "title", f"{RLO}tcudorp")
    ticket = data.add_ticket(
        status="new",
        subject=f"{RLO}tcejbus",
        requester=customer["id"],
        from_email=customer["email"],
        assignee=agent["id"],
        ticket_type=ticket_type["id"],
        products=[product["id"]],
        order=f"{RLO}1002",
        tags=[f"{RLO}gat"],
        comments=[
            {
                "body": "Where is my parcel?",
                "is_public": True,
                "author": customer["id"],
                "from_email": customer["email"],
                "attachments": [
                    {"id": 9101, "file": "https://cdn.example-store.test/a.pdf",
                     "file_name": f"{RLO}fdp.eliF"},
                ],
            },
            {"body": "On its way.", "is_public": True, "author": agent["id"]},
        ],
    )  # fmt: skip
    store.look_up_customer(customer["id"])
    store.look_up_product(product["id"])
    customer_name = f"{FIRST_NAME} {customer['last_name']}"
    return {
        "ticket": ticket,
        "customer": customer_name,
        "short": f"{FIRST_NAME} {customer['last_name'][0]}.",
        "email": customer["email"],
        "agent": f"{RLO}tnega {agent['last_name']}",
        "type": ticket_type["name"],
        "product": product["title"],
        "tag": ticket["tags"][0],
        "subject": ticket["subject"],
        "order": ticket["order"],
        "file": f"{RLO}fdp.eliF",
    }


@pytest.fixture
def odd_view(lead):
    """A team view named backwards, whose search is backwards too."""
    return SavedView.objects.create(
        owner=lead, name=f"{PDI}{RLO}maet", query=f"filter_text={RLO}dnufer&status=new", shared=True
    )


def get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, url
    doc = html.page(response)
    assert_no_control_escapes(doc)
    return doc


def test_a_list_row_isolates_every_name_and_word_from_the_store(signed_in, odd_names, odd_view):
    doc = get(signed_in, "/?status=new")
    row = html.row(doc, odd_names["ticket"]["id"])
    for piece in ("customer", "agent", "type", "tag", "subject", "order"):
        assert_isolated(row, odd_names[piece])
    assert_isolated(doc.select_one("#views-sidebar"), odd_view.name)


def test_a_thread_isolates_names_beside_the_email_and_each_other(signed_in, odd_names):
    doc = get(signed_in, f"/tickets/{odd_names['ticket']['id']}/")
    thread = html.thread(doc)
    # The requester (twice: the facts, and the author of the first comment), and the e-mail
    # beside their name in the facts.
    assert_isolated(thread, odd_names["customer"], at_least=2)
    assert_isolated(thread, odd_names["email"])
    assert_isolated(thread, odd_names["agent"], at_least=2)  # assignee, and a comment's author
    for piece in ("type", "product", "tag", "order", "file", "subject"):
        assert_isolated(thread, odd_names[piece])
    assert doc.select_one("title").get_text() == (
        f"#{odd_names['ticket']['id']} tcejbus · Support desk"
    )


def test_a_thread_open_beside_its_list_has_a_plain_title(signed_in, odd_names):
    ticket_id = odd_names["ticket"]["id"]
    doc = get(signed_in, f"/?filter_text=%E2%80%AEdnufer&status=new&ticket={ticket_id}")
    title = doc.select_one("title").get_text()
    assert title == f"#{ticket_id} tcejbus · Search dnufer · Status New · Support desk"
    assert_isolated(html.thread(doc), odd_names["customer"], at_least=2)


def test_the_wall_isolates_the_short_name_beside_the_assignee(signed_in, odd_names, sandbox):
    unassigned = sandbox.data.add_ticket(
        status="new", requester=odd_names["ticket"]["requester"], assignee=None,
        from_email=odd_names["email"],
    )  # fmt: skip
    doc = get(signed_in, "/wall/?status=new")
    mine = html.row(doc, odd_names["ticket"]["id"])
    assert_isolated(mine, odd_names["short"])
    assert_isolated(mine, odd_names["agent"])
    assert_isolated(mine, odd_names["subject"])
    # "Unassigned" beside a name that reverses what follows it: the name's own isolate.
    other = html.row(doc, unassigned["id"])
    assert_isolated(other, odd_names["short"])
    assert "Unassigned" in html.text(other)


def test_the_views_page_isolates_a_views_name_and_its_filters(signed_in, odd_view):
    doc = get(signed_in, reverse("saved_views"))
    row = doc.select_one(f"[data-view-row='{odd_view.pk}']")
    assert_isolated(row, odd_view.name, at_least=2)  # its name, and the rename box's label
    assert_isolated(row, f"{RLO}dnufer")  # what it searches for
    assert row.select_one(".view-title")["title"] == odd_view.name  # clamped: all of it here
    text = html.text(row)
    assert f"Search: “{RLO}dnufer” · Status: New" in text


def test_display_links_and_their_revoke_page_isolate_names_and_filters(signed_in, odd_view, lead):
    link = DisplayLink(name=f"{RLO}knil", filters=odd_view.query, created_by=lead)
    link.issue_secret()
    link.save()
    doc = get(signed_in, reverse("display_links"))
    choice = doc.select_one(f"input[name=views][value='{odd_view.pk}']").find_parent("label")
    assert_isolated(choice, odd_view.name)
    assert_isolated(choice, f"{RLO}dnufer")
    assert "team · Search: “" in html.text(choice)
    row = doc.select_one(f"[data-link-id='{link.pk}']")
    assert_isolated(row, link.name)
    assert_isolated(row, f"{RLO}dnufer")

    doc = get(signed_in, reverse("revoke_display_link", args=[link.pk]))
    assert_isolated(doc.select_one("main"), link.name)
    assert doc.select_one("title").get_text() == "Revoke knil · Support desk"


def test_deleting_a_view_and_showing_it_isolate_its_name(signed_in, odd_view):
    doc = get(signed_in, reverse("delete_view", args=[odd_view.pk]))
    assert_isolated(doc.select_one("h1"), odd_view.name)
    doc = get(signed_in, odd_view.get_absolute_url())
    # The narrow screens' menu names the view shown, and the list of views does.
    assert_isolated(doc.select_one("#views-sidebar"), odd_view.name, at_least=2)
    assert doc.select_one("title").get_text().startswith("maet")


def test_the_triage_forms_agents_and_tags_are_isolated(client, lead, odd_names):
    lead.groups.add(Group.objects.get(name="Triage"))
    client.force_login(lead)
    doc = get(client, f"/tickets/{odd_names['ticket']['id']}/")
    form = doc.select_one("[data-triage] form")
    options = [o for o in form.select("select[name=assignee] option") if "tnega" in o.get_text()]
    assert [o.get_text() for o in options] == [odd_names["agent"]]  # a line of its own
    assert_isolated(form, odd_names["tag"])  # a box's label, beside the box
    # Who a public reply is e-mailed to, in a sentence: isolated as text.
    help_text = form.select_one("#note-help").get_text()
    assert f"{FSI}{shown(odd_names['customer'])}{PDI} <{FSI}{odd_names['email']}{PDI}>" in (
        help_text
    )


def test_what_was_typed_is_isolated_in_the_messages_about_it(signed_in, tag_catalogue):
    typed = f"{PDI}{RLO}oof"
    doc = html.page(signed_in.get("/", {"tags": typed, "id": typed}))
    assert_no_control_escapes(doc)
    # The form's own sentences isolate what was typed as text, FSI ... PDI ...
    (error,) = html.field_errors(doc, "tags")
    assert f"No tag is called “{FSI}{shown(typed)}{PDI}”" in error
    (error,) = html.field_errors(doc, "id")
    assert error.startswith(f"“{FSI}{shown(typed)}{PDI}” is not a valid ticket id")
    # ... and the page isolates it in a <bdi> where it says what was entered.
    assert_isolated(doc.select_one("[data-field-error=id] .entered"), typed)


def test_isolating_a_piece_drops_only_the_isolate_closers_that_close_nothing_of_its_own():
    assert bidi.contained(f"a{PDI}{RLO}b") == f"a{RLO}b"
    assert bidi.contained(f"{bidi.RLI}ab{PDI}{PDI}c") == f"{bidi.RLI}ab{PDI}c"
    assert bidi.contained(f"{RLO}ab{bidi.PDF}") == f"{RLO}ab{bidi.PDF}"  # held in by the isolate
    assert bidi.isolate(f"x{PDI}") == f"{FSI}x{PDI}"
    assert str(bidi.bdi(f"<b>{RLO}</b>")) == f"<bdi>&lt;b&gt;{RLO}&lt;/b&gt;</bdi>"
    every = "".join(sorted(bidi.CONTROLS))
    assert bidi.plain(f"#7 {every}Refund{bidi.RLM}") == "#7 Refund"
    assert len(bidi.CONTROLS) == 12  # U+202A-202E, U+2066-2069, LRM, RLM and ALM
