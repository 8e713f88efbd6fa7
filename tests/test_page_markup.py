"""What validators ask of the pages beyond their looks: `<time datetime>` values HTML allows, a
header for the wall's rows, and HTML sent compressed."""

import gzip
import re
from datetime import UTC, datetime

import pytest

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


@pytest.mark.parametrize("url", ["/", "/views/"])
def test_a_page_is_sent_compressed_to_a_browser_that_takes_it(signed_in, url):
    plain = signed_in.get(url)
    squeezed = signed_in.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert "Content-Encoding" not in plain
    assert squeezed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in squeezed["Vary"]
    assert int(squeezed["Content-Length"]) == len(squeezed.content) < len(plain.content) / 2
    assert page(gzip.decompress(squeezed.content)).title == page(plain).title
    # Django's defence against BREACH: a gzip header with a "file name" of 0 to 99 random
    # bytes, a length of its own each time. Six alike by chance: about 1 in 10^10.
    names = set()
    for _ in range(6):
        squeezed = signed_in.get(url, HTTP_ACCEPT_ENCODING="gzip").content
        assert squeezed[3] & gzip.FNAME
        names.add(squeezed.index(b"\x00", 10) - 10)
    assert len(names) > 1


def test_a_download_streams_as_it_is_made_never_compressed(signed_in):
    answer = signed_in.get("/tickets.csv", HTTP_ACCEPT_ENCODING="gzip")
    assert answer.streaming
    assert "Content-Encoding" not in answer
    assert next(iter(answer.streaming_content)).startswith(b"id,subject,")
    answer.close()
