"""The "Download Excel" export: a workbook of the list's tickets, streamed, against the
sandbox; read back with openpyxl, as a spreadsheet reads it."""

import io
import os
import subprocess
import sys
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from dashboard import store
from dashboard.tickets import export, labels, names, spreadsheet
from tests import html
from tests.conftest import TEST_TOKEN
from tests.test_export import FORMULAS, add_ticket, expected_ids, pages_asked

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = [
    "ID", "Subject", "Status", "Priority", "Channel", "Requester", "Requester email",
    "Assignee", "Type", "Order", "Tags", "Products", "Created (UTC)", "Updated (UTC)",
    "Comments",
]  # fmt: skip
COLUMN = {name: i for i, name in enumerate(HEADER)}


def get_export(client, qs=""):
    return client.get(f"/tickets.xlsx?{qs}" if qs else "/tickets.xlsx")


def body_of(response):
    assert response.status_code == 200, response.content[:500]
    assert response.streaming
    assert response["Content-Type"] == XLSX
    return b"".join(response.streaming_content)


def workbook(body):
    """The file as Excel would open it: a whole archive, every part's checksum right."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
    return load_workbook(io.BytesIO(body))


def read_rows(response):
    """The sheet's rows of values, header first."""
    book = workbook(body_of(response))
    assert book.sheetnames == ["Tickets"]
    return [list(row) for row in book["Tickets"].iter_rows(values_only=True)]


def data_ids(rows):
    """The ids of the ticket rows: every row after the header, but a closing note."""
    assert rows[0] == HEADER
    return [row[0] for row in rows[1:] if not str(row[0]).startswith("#")]


def utc(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- The link on the list --------------------------------------------------------------


def test_the_list_links_to_the_workbook_of_its_filters_beside_the_csv(signed_in):
    doc = html.page(signed_in.get("/?status=open&priority=high"))
    excel, csv_link = html.anchor(doc, "Download Excel"), html.anchor(doc, "Download CSV")
    assert excel["href"] == "/tickets.xlsx?status=open&priority=high"
    assert csv_link["href"] == "/tickets.csv?status=open&priority=high"
    assert not excel.has_attr("data-hx-get")  # the browser downloads it, with its own progress
    # One cap for both, said once.
    assert excel["aria-describedby"] == csv_link["aria-describedby"]
    assert html.text(doc.select_one(f"#{excel['aria-describedby']}")) == "up to 5,000 rows"
    assert html.link(html.page(signed_in.get("/")), "Download Excel") == "/tickets.xlsx"


def test_signed_out_people_are_sent_to_sign_in(client, sandbox):
    response = get_export(client, "status=open")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert sandbox.stats()["calls"] == 0


# --- The workbook ----------------------------------------------------------------------


@pytest.mark.parametrize("query_string", ["", "status=open&status=new", "channel=email"])
def test_the_rows_are_the_stores_tickets_in_its_order(signed_in, sandbox, query_string):
    rows = read_rows(get_export(signed_in, query_string))
    assert data_ids(rows) == expected_ids(sandbox, query_string)
    assert all(len(row) == len(HEADER) for row in rows)  # no note: the file is whole


def test_the_header_is_bold_and_stays_in_view(signed_in):
    book = workbook(body_of(get_export(signed_in, "status=pending")))
    sheet = book["Tickets"]
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.column_dimensions["B"].width > sheet.column_dimensions["A"].width


def test_every_column_says_what_the_list_shows(signed_in, sandbox):
    query_string = "status=pending"
    tickets = sandbox.data.filter_tickets(parse_qsl(query_string))
    # One customer's name and one product's title were looked up before (by pages that
    # showed them): the file has them. The rest are as the list shows them before it knows.
    known = next(t for t in tickets if t["requester"])
    customer = store.look_up_customer(known["requester"]).person
    product_id = next(p for t in tickets for p in t["products"])
    title = store.look_up_product(product_id).product.title
    agents = {a["id"]: f"{a['first_name']} {a['last_name']}" for a in sandbox.data.agents}
    types = {t["id"]: t["name"] for t in sandbox.data.ticket_types}
    sandbox.reset_stats()

    rows = read_rows(get_export(signed_in, query_string))
    by_id = {row[0]: dict(zip(HEADER, row, strict=True)) for row in rows[1:]}
    assert list(by_id) == [t["id"] for t in tickets]
    for ticket in tickets:
        row = by_id[ticket["id"]]
        assert row["Subject"] == spreadsheet.text(ticket["subject"])
        assert row["Status"] == labels.label(ticket["status"]) == "Pending"
        assert row["Priority"] == (labels.label(ticket["priority"]) or None)
        assert row["Channel"] == (labels.label(ticket["channel"]) or None)
        named = ticket["requester"] == known["requester"]
        email = ticket["from_email"] or (customer.email if named else "")
        if named:
            assert row["Requester"] == customer.name
        elif ticket["requester"]:
            assert row["Requester"] == (
                ticket["from_email"] or f"Customer #{ticket['requester']}")  # fmt: skip
        else:
            assert row["Requester"] == (ticket["from_email"] or None)
        assert row["Requester email"] == (spreadsheet.text(email) or None)
        assignee = ticket["assignee"]
        assert row["Assignee"] == (agents[assignee] if assignee else "Unassigned")
        assert row["Type"] == (types[ticket["ticket_type"]] if ticket["ticket_type"] else None)
        assert row["Order"] == (spreadsheet.text(ticket["order"]) if ticket["order"] else None)
        assert row["Tags"] == ("; ".join(ticket["tags"]) or None)
        products = [title if p == product_id else f"Product #{p}" for p in ticket["products"]]
        assert row["Products"] == ("; ".join(products) or None)
        # Real date-times (UTC here, the default), to the second.
        assert row["Created (UTC)"] == utc(ticket["created_at"]).replace(tzinfo=None)
        assert row["Updated (UTC)"] == utc(ticket["updated_at"]).replace(tzinfo=None)
        assert row["Comments"] == len(ticket["comments"])
    # Pages of tickets, and the agents and ticket types the form needs: no name looked up.
    assert set(sandbox.stats()["paths"]) <= {
        "/api/admin/tickets/", "/api/admin/users/", "/api/admin/tickettypes/"}  # fmt: skip


def test_labels_are_the_lists_words_for_the_apis_codes(signed_in, sandbox):
    ticket = add_ticket(sandbox, subject="Where is my parcel?", channel="customer_account")
    row = next(r for r in read_rows(get_export(signed_in, "status=new")) if r[0] == ticket["id"])
    assert row[COLUMN["Channel"]] == "Customer account"
    assert row[COLUMN["Status"]] == "New"
    assert labels.label("on_hold") == "On hold"  # a status the API may add: still in words


def test_times_are_cells_excel_reads_as_dates(signed_in):
    sheet = workbook(body_of(get_export(signed_in, "status=open")))["Tickets"]
    created, updated = sheet.cell(2, 13), sheet.cell(2, 14)
    assert created.is_date and isinstance(created.value, datetime)
    assert updated.is_date and updated.value >= created.value
    assert sheet.cell(2, 1).data_type == "n" and sheet.cell(2, 15).data_type == "n"


def test_times_are_in_the_stores_zone_named_in_the_header(signed_in, sandbox, settings):
    settings.DASHBOARD_TIME_ZONE = "America/New_York"
    zone = ZoneInfo("America/New_York")
    rows = read_rows(get_export(signed_in, "status=closed"))
    assert rows[0][12:14] == ["Created (America/New_York)", "Updated (America/New_York)"]
    tickets = {t["id"]: t for t in sandbox.data.filter_tickets([("status", "closed")])}
    offsets = set()
    for row in rows[1:]:
        created = utc(tickets[row[0]]["created_at"])
        assert row[12] == created.astimezone(zone).replace(tzinfo=None)
        offsets.add(created.astimezone(zone).utcoffset())
    assert offsets <= {timedelta(hours=-5), timedelta(hours=-4)}


def settings_in_a_process(**env):
    """`dashboard.settings` read in a process of its own with `env`: what it printed."""
    env = {**os.environ, "DJANGO_DEBUG": "1", **env}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", "import dashboard.settings as s; print(s.DASHBOARD_TIME_ZONE)"],
        env={k: v for k, v in env.items() if v is not None},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_zone_falls_back_to_the_one_times_are_shown_in():
    shown = settings_in_a_process(DJANGO_TIME_ZONE="Europe/Paris", DASHBOARD_TIME_ZONE=None)
    assert shown.stdout.strip() == "Europe/Paris"
    both = settings_in_a_process(DJANGO_TIME_ZONE="Europe/Paris", DASHBOARD_TIME_ZONE="Asia/Tokyo")
    assert both.stdout.strip() == "Asia/Tokyo"
    neither = settings_in_a_process(DJANGO_TIME_ZONE=None, DASHBOARD_TIME_ZONE=None)
    assert neither.stdout.strip() == "UTC"


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "UTC+2"])
def test_a_zone_that_is_not_one_stops_the_dashboard_with_a_clear_message(name):
    refused = settings_in_a_process(DASHBOARD_TIME_ZONE=name)
    assert refused.returncode != 0
    assert "DASHBOARD_TIME_ZONE must be a time zone's name" in refused.stderr


def test_text_is_kept_whole_in_any_script(signed_in, sandbox):
    words = 'Заказ не пришёл · 注文が届きません · لم يصل طلبي · Ünïcode «quoted», "too"\nline 2'
    ticket = add_ticket(sandbox, subject=words)
    row = next(r for r in read_rows(get_export(signed_in, "status=new")) if r[0] == ticket["id"])
    assert row[COLUMN["Subject"]] == words


# --- Safe in a spreadsheet -------------------------------------------------------------


def test_formula_cells_are_neutralised_by_the_csvs_rule(signed_in, sandbox):
    added = [add_ticket(sandbox, subject=subject) for subject in FORMULAS]
    hidden = add_ticket(sandbox, subject='\x01\x02=HYPERLINK("http://evil.test")', order="-7")
    body = body_of(get_export(signed_in, "status=new"))
    sheet = workbook(body)["Tickets"]
    subjects = {row[0].value: row[1].value for row in sheet.iter_rows(min_row=2)}
    for ticket, subject in zip(added, FORMULAS, strict=True):
        assert export.safe_cell(subject) == "'" + subject
        # XML reads a carriage return in text as a line break, as Excel shows it.
        assert subjects[ticket["id"]] == "'" + subject.replace("\r", "\n")
    # Characters a workbook cannot hold go first, so they cannot hide a formula behind them.
    assert subjects[hidden["id"]] == '\'=HYPERLINK("http://evil.test")'
    order = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == hidden["id"])[9]
    assert order.value == "'-7"
    # No cell of the file is a formula, and every text cell is text.
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
            if isinstance(cell.value, str):
                assert not cell.value.startswith(export.FORMULA_START), cell.coordinate
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")


def test_text_longer_than_a_cell_holds_is_cut_to_excels_limit():
    assert len(spreadsheet.text("x" * 40000)) == spreadsheet.CELL_MAX == 32767


# --- Cap, faults, name ----------------------------------------------------------------


def test_past_the_cap_the_workbook_says_it_was_cut(signed_in, sandbox, settings):
    settings.EXPORT_MAX_ROWS = 30
    rows = read_rows(get_export(signed_in))
    assert data_ids(rows) == expected_ids(sandbox, "")[:30]
    assert rows[-1][0] == (
        "# Cut at 30 rows: more tickets match these filters. Narrow the filters (for example "
        "by created date) to export the rest."
    )
    assert rows[-1][1:] == [None] * (len(HEADER) - 1)
    assert pages_asked(sandbox) == 2  # the pages the 30 rows are on, and not one more


@pytest.mark.parametrize("query_string", ["status=bogus", "created_from=2026-13-01"])
def test_bad_filters_are_a_400_page_and_no_store_call(signed_in, sandbox, query_string):
    response = get_export(signed_in, query_string)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert html.field_errors(html.page(response))
    assert sandbox.stats()["calls"] == 0


def test_a_store_that_fails_at_once_is_answered_as_a_page(signed_in, sandbox):
    sandbox.set_fault("unavailable")
    response = get_export(signed_in, "status=open")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert html.error_codes(html.page(response)) == ["unavailable"]


@pytest.mark.parametrize("fault", ["unavailable", "token_rejected"])
def test_a_fault_part_way_ends_the_workbook_with_why_it_is_incomplete(signed_in, sandbox, fault):
    response = get_export(signed_in)
    chunks = iter(response.streaming_content)
    first = next(chunks)
    sandbox.set_fault(fault)
    body = first + b"".join(chunks)
    assert response.status_code == 200
    rows = [list(r) for r in workbook(body)["Tickets"].iter_rows(values_only=True)]
    assert len(data_ids(rows)) == sandbox.page_size
    assert rows[-1][0].startswith(f"# Incomplete: only the first {sandbox.page_size} rows.")
    assert rows[-1][0].endswith("Download again to export every row.")
    assert TEST_TOKEN.encode() not in body


def test_the_file_is_named_by_its_filters_and_the_date(signed_in):
    today = timezone.localdate().isoformat()
    response = get_export(signed_in, "status=new&status=open&priority=high")
    assert response["Content-Disposition"] == (
        f'attachment; filename="tickets_status-new-open_priority-high_{today}.xlsx"'
    )
    assert response["Cache-Control"] == "no-store"


# --- Written as it streams -------------------------------------------------------------


def test_the_first_page_goes_out_before_the_next_is_asked_for(signed_in, sandbox):
    response = get_export(signed_in)
    chunks = iter(response.streaming_content)
    first = next(chunks)
    assert first.startswith(b"PK\x03\x04")  # the archive's first entry: the sheet's rows
    assert pages_asked(sandbox) == 1
    rest = list(chunks)
    assert len(rest) >= 2  # more pages, then the workbook's other parts
    assert pages_asked(sandbox) == -(-len(sandbox.data.tickets) // sandbox.page_size)
    workbook(first + b"".join(rest))


def test_closing_the_download_stops_the_walk_and_leaves_nothing(signed_in, sandbox, caplog):
    response = get_export(signed_in)
    chunks = iter(response.streaming_content)
    next(chunks)
    response.close()  # what the server does when the client goes away
    assert list(chunks) == []
    assert pages_asked(sandbox) == 1
    assert "did not close" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.name == "dashboard.tickets.export"][
        -1
    ].endswith(": cancelled")


def fake_ticket(number, moment):
    return store.Ticket(
        id=number, subject=f"Ticket {number} – Заказ {number * 7919 % 10007}", status="open",
        priority="high", channel="email", requester=number % 997, from_email=f"c{number}@x.test",
        assignee=None, order=str(number * 31), ticket_type=None, created_at=moment,
        updated_at=moment, products=(number % 13,), tags=("vip",), comment_count=number % 9,
    )  # fmt: skip


def peak_while_writing(count):
    """The most memory Python held while writing `count` rows a page at a time, each page's
    bytes taken as the response takes them."""
    out, known = spreadsheet.ExcelFile("UTC"), names.Shown()
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    tracemalloc.start()
    try:
        out.header()
        for start in range(0, count, 25):
            for number in range(start, min(start + 25, count)):
                out.ticket(fake_ticket(number, moment), known, ({}, {}))
            out.take()
        out.end()
        out.take()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_rows():
    # Ten times the rows, the same memory: nothing of a written page is kept, not even its
    # compressed bytes (3,000 rows' are about 160 kB).
    few, many = peak_while_writing(300), peak_while_writing(3000)
    assert many < few + 64 * 1024, (few, many)


def test_a_formula_behind_blanks_or_in_any_item_of_a_list_is_text(signed_in, sandbox):
    from tests.test_export import HIDDEN_FORMULAS, shows_a_formula

    hidden = [add_ticket(sandbox, subject=subject) for subject in HIDDEN_FORMULAS]
    listed = add_ticket(sandbox, subject="tags", tags=["vip", "=1+2"])
    sheet = workbook(body_of(get_export(signed_in, "status=new")))["Tickets"]
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    for ticket in hidden:
        assert cells[ticket["id"]][1].value.startswith("'")
    assert cells[listed["id"]][10].value == "vip; '=1+2"
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                assert not any(shows_a_formula(item) for item in cell.value.split("; "))
