"""The spreadsheets phase of `make bench` (`tools/bench/spreadsheet.py`) checks the workbook it
downloads: tried here on the dashboard's own workbook and on ones that must not pass."""

import io

from openpyxl import Workbook

from dashboard.tickets import names, spreadsheet
from tests.test_export_xlsx import body_of, get_export
from tools.bench import spreadsheet as phase


def test_the_dashboards_workbook_passes(signed_in, sandbox):
    problems = []
    rows = phase._check_workbook(body_of(get_export(signed_in)), problems)
    assert problems == []
    assert rows == len(sandbox.data.tickets)


def written(tickets):
    out = spreadsheet.ExcelFile("UTC")
    out.header()
    for ticket in tickets:
        out.ticket(ticket, names.Shown(), ({}, {}))
    out.end()
    return out.take()


def test_codes_instead_of_labels_and_text_instead_of_dates_fail():
    problems = []
    phase._check_workbook(written([]), problems)
    assert problems == []

    book = Workbook()
    book.active.title = "Tickets"
    book.active.append(["ID", "Subject", "Status", "", "", "", "", "", "", "", "", "",
                        "Created (UTC)", "Updated (UTC)", "Comments"])  # fmt: skip
    book.active.append([1, "Hi", "on_hold", "", "customer_account", "", "", "", "", "", "", "",
                        "2026-12-01T09:30:00Z", "2026-12-01T09:30:00Z", 0])  # fmt: skip
    body = io.BytesIO()
    book.save(body)
    problems = []
    phase._check_workbook(body.getvalue(), problems)
    assert "frozen at None, not A2" in problems
    assert "a time that is not a date" in problems
    assert any("on_hold" in p and "customer_account" in p for p in problems)


def test_a_file_that_is_no_workbook_fails():
    problems = []
    assert phase._check_workbook(b"id,subject\n1,Hi\n", problems) == 0
    assert problems[0].startswith("does not open")


def test_a_workbook_cut_short_fails():
    problems = []
    out = spreadsheet.ExcelFile("UTC")
    out.header()
    out.note("# Cut at 1 rows: more tickets match these filters.")
    out.end()
    phase._check_workbook(out.take(), problems)
    assert problems == ["# Cut at 1 rows: more tickets match these filters."]
