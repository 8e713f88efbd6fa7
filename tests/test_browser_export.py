"""The "Download CSV" and "Download Excel" links in a real browser: each downloads the list's
tickets as a file."""

import csv
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.test_accessibility import assert_no_axe_violations
from tests.test_browser import signed_in_page  # noqa: F401

pytestmark = pytest.mark.browser


def test_download_csv_saves_the_lists_tickets(signed_in_page, live_server, sandbox):  # noqa: F811
    page = signed_in_page
    page.select_option("select[name=priority]", "high")
    expect(page).to_have_url(f"{live_server.url}/?status=open&priority=high")
    query = urlsplit(page.url).query
    expected = [t["id"] for t in sandbox.data.filter_tickets(parse_qsl(query))]
    assert expected

    link = page.get_by_role("link", name="Download CSV")
    expect(link).to_have_accessible_description("up to 5,000 rows")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    today = timezone.localdate().isoformat()
    assert download.suggested_filename == f"tickets_status-open_priority-high_{today}.csv"
    with open(download.path(), newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows[0][0] == "id"
    assert [int(row[0]) for row in rows[1:]] == expected
    # The list stays where it was: a download, not a navigation.
    expect(page).to_have_url(f"{live_server.url}/?{query}")
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()


def test_download_excel_saves_a_workbook_of_the_lists_tickets(
    signed_in_page,  # noqa: F811
    live_server,
    sandbox,
):
    page = signed_in_page
    page.select_option("select[name=priority]", "high")
    expect(page).to_have_url(f"{live_server.url}/?status=open&priority=high")
    query = urlsplit(page.url).query
    expected = [t["id"] for t in sandbox.data.filter_tickets(parse_qsl(query))]
    assert expected

    link = page.get_by_role("link", name="Download Excel")
    expect(link).to_have_accessible_description("up to 5,000 rows")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    today = timezone.localdate().isoformat()
    assert download.suggested_filename == f"tickets_status-open_priority-high_{today}.xlsx"
    with open(download.path(), "rb") as file:  # saved under a name of the browser's own
        sheet = load_workbook(file)["Tickets"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("ID", "Subject", "Status")
    assert [row[0] for row in rows[1:]] == expected
    assert {row[2] for row in rows[1:]} == {"Open"} and {row[3] for row in rows[1:]} == {"High"}
    assert all(isinstance(row[12], datetime) for row in rows[1:])
    assert sheet.freeze_panes == "A2"
    # The list stays where it was, its links as they were, and nothing on it is amiss.
    expect(page).to_have_url(f"{live_server.url}/?{query}")
    expect(page.get_by_role("link", name="Download Excel")).to_be_visible()
    assert_no_axe_violations(page)
