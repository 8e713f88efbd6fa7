"""What validators ask of the pages beyond their looks: `<time datetime>` values HTML allows,
and a header for the wall's rows."""

import re
from datetime import UTC, datetime

from dashboard.templatetags.dashboard_tags import datetime_value
from dashboard.wall import board as wall_board
from tests import test_wall
from tests.html import page, text

# A valid global date and time string (HTML's "datetime" value for a moment): at most three
# digits of a second.
MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,3})?)?(Z|[+-]\d\d:?\d\d)$")


def moments(response):
    return [time.get("datetime", "") for time in page(response).find_all("time")]


def test_a_moment_keeps_at_most_milliseconds():
    moment = datetime(2026, 11, 3, 14, 2, 7, 123456, tzinfo=UTC)
    assert datetime_value(moment) == "2026-11-03T14:02:07.123+00:00"


def test_every_time_on_the_list_and_a_thread_is_a_valid_moment(signed_in, sandbox):
    ticket = sandbox.data.tickets[0]["id"]
    found = moments(signed_in.get("/")) + moments(signed_in.get(f"/tickets/{ticket}/"))
    assert len(found) > 20  # every row's times, and the thread's comments
    assert [value for value in found if not MOMENT.match(value)] == []


def test_every_time_on_a_wall_is_a_valid_moment_stale_or_not(
    client, signed_in, sandbox, monkeypatch, settings
):
    monkeypatch.setattr(wall_board, "ROWS_MAX_AGE", 0)  # every refresh asks the store
    settings.STORE_ERROR_TTL = 0
    found = moments(signed_in.get("/wall/"))  # its clock, and when it was updated
    _, path = test_wall.make_link()
    client.get(path)
    sandbox.set_fault("unavailable")
    stale = client.get(path, HTTP_HX_REQUEST="true")
    assert test_wall.board(stale)["data-stale"]
    found += moments(stale)  # since when it is stale, and what it shows
    found += moments(client.get("/display/no-such-link/"))  # no board: no time of its own
    assert len(found) >= 4
    assert [value for value in found if not MOMENT.match(value)] == []


def test_the_walls_rows_have_a_header_for_each_column(signed_in, sandbox):
    table = page(signed_in.get("/wall/")).select_one("table.wall-rows")
    headers = table.select("thead th")
    assert [th.get("scope") for th in headers] == ["col"] * len(headers)
    assert [text(th) for th in headers] == [
        "Ticket",
        "Subject, requester and assignee",
        "Status",
        "Priority",
        "Age",
    ]
    rows = table.select("tbody tr[data-ticket-id]")
    assert rows and all(len(row.find_all("td")) == len(headers) for row in rows)
