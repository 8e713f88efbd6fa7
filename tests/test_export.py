"""The "Download CSV" export: a streamed file of the list's tickets, against the sandbox."""

import csv
import io
import logging
from datetime import date
from html import unescape
from urllib.parse import parse_qsl, quote

import pytest
import requests
from django.core.signals import request_finished
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from dashboard import budget, store
from dashboard.tickets import export
from tests import html
from tests.conftest import TEST_TOKEN
from tests.test_fuzz import PAIRS, assert_store_never_refused, encode
from tools.processes import wait_until

COLUMNS = list(export.COLUMNS)
FORMULAS = ["=1+1", "+SUM(A1:A2)", "-2+3", "@SUM(1)", "\tTabbed", "\rReturned"]


def get_export(client, qs=""):
    return client.get(f"/tickets.csv?{qs}" if qs else "/tickets.csv")


def read_rows(response):
    """The file as a spreadsheet reads it: a list of rows of cells."""
    assert response.status_code == 200, response.content[:500]
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body, newline="")))


def expected_ids(sandbox, query_string):
    return [t["id"] for t in sandbox.data.filter_tickets(parse_qsl(query_string))]


def data_ids(rows):
    """The ids of the ticket rows: every row after the header, but a closing note."""
    assert rows[0] == COLUMNS
    return [int(row[0]) for row in rows[1:] if not row[0].startswith("#")]


def calls(sandbox):
    return sandbox.stats()["calls"]


def pages_asked(sandbox):
    """The Tickets List calls the store received (the form also asks for agents and types)."""
    return sum(1 for target in sandbox.stats()["requests"] if "/tickets/" in target)


def add_ticket(sandbox, **fields):
    """A ticket added through the sandbox's control API, as a demo would."""
    answer = requests.post(f"{sandbox.root_url}__sandbox__/tickets", json=fields, timeout=5)
    assert answer.status_code == 201, answer.text
    return answer.json()


# --- The link on the list --------------------------------------------------------------


def test_the_list_links_to_the_csv_of_its_filters_and_says_how_far_it_goes(signed_in):
    doc = html.page(signed_in.get("/?status=open&priority=high"))
    link = html.anchor(doc, "CSV")
    assert link is not None
    assert link["href"] == "/tickets.csv?status=open&priority=high"
    assert not link.has_attr("data-hx-get")  # the browser downloads it, with its own progress
    note = doc.select_one(f"#{link['aria-describedby']}")
    assert html.text(note) == "up to 5,000 rows"


def test_the_cap_shown_is_the_setting(signed_in, settings):
    settings.EXPORT_MAX_ROWS = 1200
    doc = html.page(signed_in.get("/"))
    assert "up to 1,200 rows" in html.text(doc)
    assert html.link(doc, "Download CSV") == "/tickets.csv"


def test_signed_out_people_are_sent_to_sign_in(client, sandbox):
    response = get_export(client, "status=open")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert calls(sandbox) == 0


# --- Rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query_string",
    ["", "status=open&status=new", "priority=high", "channel=email&status=closed"],
)
def test_the_rows_are_the_stores_tickets_in_its_order(signed_in, sandbox, query_string):
    rows = read_rows(get_export(signed_in, query_string))
    expected = expected_ids(sandbox, query_string)
    assert len(expected) <= 5000
    assert data_ids(rows) == expected
    assert all(len(row) == len(COLUMNS) for row in rows)  # no note: the file is whole


def test_the_csv_starts_with_its_id_column_and_no_byte_order_mark(signed_in):
    # For scripts: `csv.DictReader` and `cut -d, -f1` find the column named `id`, which a
    # byte-order mark in front of it would rename. People's spreadsheets get the workbook.
    body = b"".join(get_export(signed_in, "status=open").streaming_content)
    assert body.startswith(b"id,subject,status,")
    assert not body.startswith(b"\xef\xbb\xbf")
    first = next(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))
    assert int(first["id"]) > 0


def test_a_tag_filter_by_name_exports_the_tagged_tickets(signed_in, sandbox, tag_catalogue):
    rows = read_rows(get_export(signed_in, "tags=vip"))
    assert data_ids(rows) == expected_ids(sandbox, f"tags={tag_catalogue['vip']}")
    assert all("vip" in row[COLUMNS.index("tags")].split("; ") for row in rows[1:])


def test_every_column_says_what_the_store_says(signed_in, sandbox):
    query_string = "status=pending"
    tickets = sandbox.data.filter_tickets(parse_qsl(query_string))
    # One customer's name was looked up before (by a page that showed it): the file has it.
    known = next(t for t in tickets if t["requester"])
    customer = store.look_up_customer(known["requester"]).person
    agents = {a["id"]: f"{a['first_name']} {a['last_name']}" for a in sandbox.data.agents}
    types = {t["id"]: t["name"] for t in sandbox.data.ticket_types}
    sandbox.reset_stats()

    rows = read_rows(get_export(signed_in, query_string))
    by_id = {int(row[0]): dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]}
    assert list(by_id) == [t["id"] for t in tickets]
    for ticket in tickets:
        row = by_id[ticket["id"]]
        assert row["subject"] == export.safe_cell(ticket["subject"])
        assert (row["status"], row["priority"], row["channel"]) == (
            ticket["status"] or "", ticket["priority"] or "", ticket["channel"] or "")  # fmt: skip
        named = ticket["requester"] == known["requester"]
        email = ticket["from_email"] or (customer.email if named else "")
        assert row["requester_email"] == export.safe_cell(email)
        assert row["requester_name"] == (customer.name if named else "")
        assignee = ticket["assignee"]
        assert row["assignee_name"] == (agents[assignee] if assignee else "")
        assert row["type"] == (types[ticket["ticket_type"]] if ticket["ticket_type"] else "")
        assert row["order"] == export.safe_cell(ticket["order"] or "")
        assert row["tags"] == "; ".join(ticket["tags"])
        assert row["products"] == "; ".join(str(p) for p in ticket["products"])
        assert (row["created"], row["updated"]) == (ticket["created_at"], ticket["updated_at"])
        assert row["comment_count"] == str(len(ticket["comments"]))
    # Pages of tickets, and the agents and ticket types the form needs: no name looked up.
    assert set(sandbox.stats()["paths"]) <= {
        "/api/admin/tickets/", "/api/admin/users/", "/api/admin/tickettypes/"}  # fmt: skip


def test_formula_cells_are_neutralised_and_text_survives(signed_in, sandbox):
    added = [add_ticket(sandbox, subject=subject) for subject in FORMULAS]
    awkward = add_ticket(
        sandbox, subject='He said "refund",\nthen =HYPERLINK("http://evil.test")', order="-7"
    )
    rows = read_rows(get_export(signed_in, "status=new"))
    subjects = {int(row[0]): row[1] for row in rows[1:]}
    for ticket, subject in zip(added, FORMULAS, strict=True):
        assert subjects[ticket["id"]] == "'" + subject
    # Quotes, commas and newlines come back whole; only a leading formula character is touched.
    assert subjects[awkward["id"]] == awkward["subject"]
    order = next(row for row in rows if row[0] == str(awkward["id"]))[COLUMNS.index("order")]
    assert order == "'-7"
    for row in rows[1:]:
        assert not any(cell.startswith(tuple(export.FORMULA_START)) for cell in row), row


def test_the_walk_is_background_work(signed_in, sandbox, monkeypatch):
    lanes = []
    list_tickets = store.list_tickets

    def recorded(query, **kwargs):
        lanes.append(budget.current_lane())
        return list_tickets(query, **kwargs)

    # Where the store's pages are asked for when nobody else has them (`page_in_turn`).
    monkeypatch.setattr(store.tickets, "list_tickets", recorded)
    rows = read_rows(get_export(signed_in, "status=open&status=new"))
    assert len(data_ids(rows)) > sandbox.page_size  # several pages
    assert lanes and set(lanes) == {budget.BACKGROUND}


# --- The cap ---------------------------------------------------------------------------


def test_past_the_cap_the_file_says_it_was_cut(signed_in, sandbox, settings):
    settings.EXPORT_MAX_ROWS = 30
    rows = read_rows(get_export(signed_in))
    assert data_ids(rows) == expected_ids(sandbox, "")[:30]
    assert rows[-1] == [
        "# Cut at 30 rows: more tickets match these filters. Narrow the filters (for example "
        "by created date) to export the rest."
    ]
    assert pages_asked(sandbox) == 2  # the pages the 30 rows are on, and not one more


def test_a_filter_that_fits_the_cap_exactly_is_not_cut(signed_in, sandbox, settings):
    expected = expected_ids(sandbox, "status=pending")
    settings.EXPORT_MAX_ROWS = len(expected)
    rows = read_rows(get_export(signed_in, "status=pending"))
    assert data_ids(rows) == expected
    assert not rows[-1][0].startswith("#")


# --- Bad filters and faults ------------------------------------------------------------


@pytest.mark.parametrize(
    "query_string",
    ["status=bogus", "created_from=2026-13-01", "id=-1", "priority=urgent&channel=fax"],
)
def test_bad_filters_are_a_400_page_and_no_store_call(signed_in, sandbox, query_string):
    response = get_export(signed_in, query_string)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    doc = html.page(response)
    assert "Some filters are not valid, so no tickets were fetched." in html.alerts(doc)[0]
    assert html.field_errors(doc)
    assert calls(sandbox) == 0


def test_filters_the_store_refuses_are_a_400_page_with_its_words(signed_in, sandbox):
    response = get_export(signed_in, "tags=99999")  # a tag id the store does not have
    assert response.status_code == 400
    assert "99999" in " ".join(html.field_errors(html.page(response), "tags"))


def test_a_store_that_fails_at_once_is_answered_as_a_page(signed_in, sandbox):
    sandbox.set_fault("unavailable")
    response = get_export(signed_in, "status=open")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert html.error_codes(html.page(response)) == ["unavailable"]
    assert TEST_TOKEN not in response.content.decode()


@pytest.mark.parametrize("fault", ["unavailable", "token_rejected", "malformed", "timeout"])
def test_a_fault_part_way_ends_the_file_with_why_it_is_incomplete(
    signed_in, sandbox, settings, fault
):
    settings.NEXT_API_READ_TIMEOUT = 1.0  # the `timeout` fault, quickly
    response = get_export(signed_in)
    chunks = iter(response.streaming_content)
    first = next(chunks).decode()
    assert len(list(csv.reader(io.StringIO(first)))) == 1 + sandbox.page_size
    sandbox.set_fault(fault)
    rest = b"".join(chunks).decode()
    assert response.status_code == 200
    last = list(csv.reader(io.StringIO(rest)))[-1]
    assert len(last) == 1
    assert last[0].startswith(f"# Incomplete: only the first {sandbox.page_size} rows. The store")
    assert last[0].endswith("Download again to export every row.")
    assert TEST_TOKEN not in first + rest


def test_a_failure_of_the_dashboards_own_part_way_still_ends_the_file(
    signed_in, sandbox, monkeypatch, caplog
):
    response = get_export(signed_in)
    chunks = iter(response.streaming_content)
    next(chunks)

    def broken(query, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(store.tickets, "list_tickets", broken)
    monkeypatch.setattr(store.tickets, "cached_page", lambda query: None)
    last = list(csv.reader(io.StringIO(b"".join(chunks).decode())))[-1]
    assert last == [
        f"# Incomplete: only the first {sandbox.page_size} rows. The dashboard failed; the "
        "error is logged. Download again to export every row."
    ]
    assert "export failed part-way" in caplog.text


# --- The file's name -------------------------------------------------------------------


def cancel(response):
    """Close a download as a server does when the person cancels it. Closing a response says
    the request has finished, which closes the database connection (the test's, here): the
    test client keeps it open while it closes a response, and so does this."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def disposition(response):
    """The file's name, the download then cancelled (as a browser that only wanted the name),
    which gives its place back."""
    cancel(response)
    return response["Content-Disposition"]


def test_the_file_is_named_by_its_filters_and_the_date(signed_in, tag_catalogue):
    today = timezone.localdate().isoformat()
    response = get_export(signed_in, "status=new&status=open&priority=high")
    assert disposition(response) == (
        f'attachment; filename="tickets_status-new-open_priority-high_{today}.csv"'
    )
    tagged = get_export(signed_in, f"tags={tag_catalogue['vip']}&created_from=2026-01-01")
    assert disposition(tagged) == (
        f'attachment; filename="tickets_tags-vip_created-from-2026-01-01_{today}.csv"'
    )
    assert disposition(get_export(signed_in)) == f'attachment; filename="tickets_{today}.csv"'


def test_a_name_outside_ascii_is_also_given_in_utf_8():
    names = export.filename([("filter_text", "Café «Ünïcode»\u202e/../x")], date(2026, 11, 27))
    assert names[0] == "tickets_filter-text-Cafe-Unicode-x_2026-11-27.csv"
    assert names[1] == "tickets_filter-text-Café-Ünïcode-x_2026-11-27.csv"
    header = export.content_disposition(names)
    assert header == (
        'attachment; filename="tickets_filter-text-Cafe-Unicode-x_2026-11-27.csv"; '
        f"filename*=UTF-8''{quote(names[1], safe='')}"
    )
    header.encode("latin-1")  # an HTTP header


def test_a_long_filter_keeps_the_name_short():
    ascii_name, unicode_name = export.filename([("subject", "é" * 400)], date(2026, 11, 27))
    assert ascii_name == "tickets_subject-e" + "e" * 91 + "_2026-11-27.csv"
    assert len(unicode_name) <= len("tickets_") + export.FILENAME_FILTERS_MAX + 16


# --- Cancelling ------------------------------------------------------------------------


def test_closing_the_download_stops_the_walk(signed_in, sandbox):
    response = get_export(signed_in)
    chunks = iter(response.streaming_content)
    next(chunks)  # the header and the first page
    assert pages_asked(sandbox) == 1
    response.close()  # what the server does when the client goes away
    assert list(chunks) == []
    assert budget.worker.drain()  # nothing goes on walking behind the closed file
    assert pages_asked(sandbox) == 1


def ended(caplog):
    """How the export's walk ended, as its last log line says ("cancelled", "complete" ...),
    or None while it goes on."""
    lines = [r.getMessage() for r in caplog.records if r.name == "dashboard.tickets.export"]
    return lines[-1].rpartition(": ")[2] if lines else None


def test_a_client_that_goes_away_stops_the_walk_over_http(
    live_server, client, lead, sandbox, caplog
):
    caplog.set_level(logging.INFO, logger="dashboard.tickets.export")
    sandbox.configure(latency_ms=100)
    pages = -(-len(sandbox.data.tickets) // sandbox.page_size)
    assert pages >= 10
    client.force_login(lead)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    with requests.get(
        f"{live_server.url}/tickets.csv", cookies=cookies, stream=True, timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.raw.read(200).startswith(b"id,subject,")
    # The server notices when it next writes (a page or two later) and closes the walk.
    wait_until(lambda: ended(caplog), 60, "the export's walk to end")
    assert ended(caplog) == "cancelled"
    assert pages_asked(sandbox) <= 4 < pages


# --- Any query -------------------------------------------------------------------------


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pairs=PAIRS)
def test_any_query_is_a_file_or_a_400_never_a_refusal(signed_in, settings, sandbox, pairs):
    settings.STORE_RATE_LIMIT = 0
    settings.STORE_ERROR_TTL = 0
    settings.EXPORT_MAX_ROWS = 3
    response = get_export(signed_in, encode(pairs))
    assert response.status_code in (200, 400)
    disposition_header = response.get("Content-Disposition", "")
    disposition_header.encode("latin-1")
    if response.status_code == 200:
        rows = read_rows(response)
        assert rows[0] == COLUMNS and len(data_ids(rows)) <= 3
    assert_store_never_refused(sandbox)


# Values whose first character that shows starts a formula, behind blanks and invisible ones.
HIDDEN_FORMULAS = [
    " =1+2", "\u00a0=1+2", "\uff1d1+2", "\u200b=1+2", "\ufeff=1+2", "\n=1+2", "\x0b=1+2",
    "\x0c=1+2", "\x00=1+2", "\uff20SUM(1)",
]  # fmt: skip
LOCALE_SPLIT = "Refund;=cmd|' /C calc'!A0;x"


def shows_a_formula(cell):
    """Whether a spreadsheet would take `cell` for a formula: its first character that shows is
    one a formula starts with (a leading `'` makes it text)."""
    return export._shown_start(cell).startswith(export.FORMULA_CHARACTERS)


def test_a_formula_behind_blanks_or_in_any_item_of_a_list_is_neutralised(signed_in, sandbox):
    hidden = [add_ticket(sandbox, subject=subject) for subject in HIDDEN_FORMULAS]
    listed = add_ticket(sandbox, subject="tags", tags=["vip", "=1+2", " -3"])
    rows = read_rows(get_export(signed_in, "status=new"))
    by_id = {int(row[0]): row for row in rows[1:] if row[0].isdigit()}
    for ticket, subject in zip(hidden, HIDDEN_FORMULAS, strict=True):
        assert by_id[ticket["id"]][1] == "'" + subject
    tags = by_id[listed["id"]][COLUMNS.index("tags")].split("; ")
    assert tags == ["vip", "'=1+2", "' -3"]
    for row in rows[1:]:
        assert not any(shows_a_formula(item) for cell in row for item in cell.split("; ")), row


def test_a_semicolon_or_tab_locale_never_splits_a_formula_out_of_a_cell(signed_in, sandbox):
    """Excel in a locale whose list separator is `;` reads the CSV split at `;`, where quotes
    open a field only at its start: text after a `;` inside a subject would be a cell of its
    own."""
    ticket = add_ticket(sandbox, subject=LOCALE_SPLIT)
    response = get_export(signed_in, "status=new")
    body = b"".join(response.streaming_content).decode("utf-8")
    line = next(line for line in body.splitlines() if line.startswith(f"{ticket['id']},"))
    assert '"Refund;' in line  # the field that holds a separator is quoted
    for separator in (";", "\t", ","):
        for row in csv.reader(io.StringIO(body, newline=""), delimiter=separator):
            assert not any(shows_a_formula(cell) for cell in row), (separator, row)
    # Read as the file is written (commas), the subject is whole, its formula made text.
    rows = list(csv.reader(io.StringIO(body, newline="")))
    subject = next(row[1] for row in rows if row[0] == str(ticket["id"]))
    assert subject == "Refund;'=cmd|' /C calc'!A0;x"


def test_downloads_at_once_are_limited_per_person_and_for_everyone(
    signed_in, sandbox, settings, django_user_model
):
    """One person asking for dozens of downloads held every server thread. A download takes a
    place, per person and in all, given back when it ends; past either, 429 and no store call."""
    from django.test import Client

    settings.EXPORTS_PER_PERSON, settings.EXPORTS_AT_ONCE = 1, 2
    first = get_export(signed_in, "status=open")
    assert first.status_code == 200  # streaming: its place is held until it is closed
    sandbox.reset_stats()
    again = get_export(signed_in, "status=new")
    assert again.status_code == 429 and int(again["Retry-After"]) > 0
    assert "You already have a download under way" in again.content.decode()
    assert sandbox.stats()["calls"] == 0

    others = []
    for name in ("ana", "ben"):
        other = Client()
        other.force_login(django_user_model.objects.create_user(name, password="x-long-pass-1"))
        others.append(other)
    second = get_export(others[0], "status=open")
    assert second.status_code == 200
    third = get_export(others[1], "status=open")
    assert third.status_code == 429 and "downloads are under way for the team" in unescape(
        third.content.decode()
    )
    # A download that ends (here: cancelled before its first byte) gives its place back.
    cancel(first)
    assert get_export(others[1], "status=open").status_code == 200
    cancel(second)
    finished = get_export(signed_in, "status=open")
    assert finished.status_code == 200
    b"".join(finished.streaming_content)  # read to the end
    cancel(finished)
    assert get_export(signed_in, "status=open").status_code == 200
