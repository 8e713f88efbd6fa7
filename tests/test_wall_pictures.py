"""The wall's pictures (backlog by age, tickets created per day) and its New marker: the SVG
module alone, then boards through Django's test client against the sandbox."""

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl

import pytest

from dashboard import store
from dashboard.tickets import ages, counts
from dashboard.wall import board as wall_board
from dashboard.wall import charts
from dashboard.wall.charts import Bar
from tests.html import page, row_ids, text
from tests.test_wall import HTMX, board, make_link

HOUR = 3600
RESOLVED = {"solved", "closed"}


def svg(markup):
    return page(markup).select_one("svg")


def named(element, attribute):
    """The text of the element an `aria-labelledby`/`aria-describedby` points at."""
    target = element.find(id=element[attribute])
    assert target is not None, f"{attribute} points at nothing"
    return text(target)


def chart(doc, name):
    """The picture whose accessible name is `name`."""
    for image in doc.select("[role='img']"):
        if image.has_attr("aria-labelledby") and named(image, "aria-labelledby") == name:
            return image
    raise AssertionError(f"no picture named {name!r}")


def bars(image):
    """{what a bar is of: the words drawn on it}, from the `data-bar` hooks."""
    return {group["data-bar"]: text(group) for group in image.select("[data-bar]")}


def backlog_values(image):
    """{bar: its number as drawn}: "5", or "≥ 5" for a lower bound."""
    return {key: words.removeprefix(key).strip() for key, words in bars(image).items()}


def day_values(image):
    """{ISO day: its number as drawn}: "5", "≥ 5", or "–" for a day not counted."""
    return {key: words.rsplit(" ", 1)[0] for key, words in bars(image).items()}


# -- The SVG, alone --


def test_ages_split_at_four_hours_a_day_and_three_days():
    assert [ages.age_bucket(s) for s in (0, 4 * HOUR - 1, 4 * HOUR, 24 * HOUR - 1)] == [
        0, 0, 1, 1,
    ]  # fmt: skip
    assert [ages.age_bucket(s) for s in (24 * HOUR, 72 * HOUR - 1, 72 * HOUR)] == [2, 2, 3]
    assert ages.age_bucket(400 * 24 * HOUR) == 3
    assert ages.age_bucket(-30) == 0  # a store clock a little ahead of ours


def test_backlog_bars_are_lower_bounds_past_where_the_walk_stopped():
    exact = charts.backlog_bars((5, 11, 3, 20))
    assert [(b.label, b.shown) for b in exact] == [
        ("Under 4 h", "5"), ("4 to 24 h", "11"), ("1 to 3 days", "3"), ("Older", "20"),
    ]  # fmt: skip
    # The walk reached tickets 30 hours old: the first two bars are whole, the rest are not.
    short = charts.backlog_bars((5, 11, 3, 0), reach_seconds=30 * HOUR)
    assert [b.shown for b in short] == ["5", "11", "≥ 3", "≥ 0"]
    assert short[2].said == "1 to 3 days: at least 3 tickets"
    assert short[0].said == "under 4 hours: 5 tickets"


def test_daily_bars_run_fourteen_days_to_today_and_say_what_was_not_counted():
    today = date(2026, 3, 16)
    counted = {date(2026, 3, 16): 4, date(2026, 3, 10): 2, date(2026, 3, 1): 9}  # 1 Mar: too old
    days = charts.daily_bars(counted, today)
    assert len(days) == 14
    assert days[0].key == "2026-03-03" and days[-1].key == "2026-03-16"
    assert [b.label for b in days[:3]] == ["3", "4", "5"]
    assert {b.key: b.value for b in days if b.value} == {"2026-03-16": 4, "2026-03-10": 2}
    assert days[-1].spoken == "today, Monday 16 March" and days[-1].tone == "today"

    short = charts.daily_bars(counted, today, reached_day=date(2026, 3, 10))
    assert [b.shown for b in short[:8]] == ["–"] * 7 + ["≥ 2"]
    assert short[0].said == "Tuesday 3 March: not counted"
    assert short[-1].shown == "4"


def test_a_chart_is_an_image_named_and_described_with_its_numbers():
    markup = charts.horizontal_bars(
        "backlog", "Open backlog by age", charts.backlog_bars((5, 10, 0, 20), 30 * HOUR)
    )
    image = svg(markup)
    assert image["role"] == "img"
    assert named(image, "aria-labelledby") == "Open backlog by age"
    assert named(image, "aria-describedby") == (
        "Open backlog by age. under 4 hours: 5 tickets; 4 to 24 hours: 10 tickets; "
        "1 to 3 days: at least 0 tickets; older than 3 days: at least 20 tickets."
    )
    assert bars(image) == {
        "Under 4 h": "Under 4 h 5",
        "4 to 24 h": "4 to 24 h 10",
        "1 to 3 days": "1 to 3 days ≥ 0",
        "Older": "Older ≥ 20",
    }
    # Lengths in proportion, the longest bar for the biggest number, none for zero.
    widths = {g["data-bar"]: float(g.select_one("rect")["width"]) for g in image.select("g")}
    assert (
        widths["Older"]
        == pytest.approx(2 * widths["4 to 24 h"])
        == pytest.approx(4 * widths["Under 4 h"])
    )
    assert widths["1 to 3 days"] == 0
    assert_drawn_safely(image)


def test_columns_are_in_proportion_and_days_not_counted_show_a_dash():
    days = charts.daily_bars(
        {date(2026, 3, 16): 8, date(2026, 3, 15): 4}, date(2026, 3, 16), date(2026, 3, 12)
    )
    image = svg(charts.columns("created", "Created per day, last 14 days", days))
    assert named(image, "aria-labelledby") == "Created per day, last 14 days"
    drawn = bars(image)
    assert len(drawn) == 14
    assert drawn["2026-03-16"] == "8 16" and drawn["2026-03-15"] == "4 15"
    assert drawn["2026-03-12"] == "≥ 0 12" and drawn["2026-03-11"] == "– 11"
    heights = {g["data-bar"]: float(g.select_one("rect")["height"]) for g in image.select("g")}
    assert heights["2026-03-16"] == pytest.approx(2 * heights["2026-03-15"])
    assert heights["2026-03-15"] > 0
    assert heights["2026-03-11"] == heights["2026-03-14"] == 0
    described = named(image, "aria-describedby")
    assert "today, Monday 16 March: 8 tickets" in described
    assert "Wednesday 11 March: not counted" in described
    assert_drawn_safely(image)


def test_nothing_to_draw_draws_empty_bars_not_an_error():
    for markup in (
        charts.horizontal_bars("a", "Open backlog by age", charts.backlog_bars(())),
        charts.columns("b", "Created", charts.daily_bars({}, date(2026, 1, 1))),
    ):
        image = svg(markup)
        assert {float(rect["width"]) * float(rect["height"]) for rect in image.select("rect")} == {
            0.0
        }
        assert_drawn_safely(image)


def test_words_in_a_chart_are_escaped():
    hostile = '<script>alert(1)</script>" onload="alert(2)'
    markup = charts.horizontal_bars(
        'x" onload="alert(3)', hostile, [Bar(label=hostile, spoken=hostile, value=3)]
    )
    image = svg(markup)
    assert image.select("script") == []
    assert not [a for el in image.find_all(True) for a in el.attrs if a.startswith("on")]
    assert named(image, "aria-labelledby") == hostile
    assert hostile in text(image.select_one("[data-bar]"))


def assert_drawn_safely(image):
    """No style attribute, no script, and every coordinate a plain number."""
    everything = [image, *image.find_all(True)]
    assert [el.name for el in everything if el.has_attr("style")] == []
    assert image.select("script, foreignObject") == []
    for element in everything:
        for name in ("x", "y", "width", "height", "x1", "y1", "x2", "y2"):
            if element.has_attr(name):
                float(element[name])


# -- Boards --


def created(ticket):
    return datetime.fromisoformat(ticket["created_at"].replace("Z", "+00:00"))


def expected_ages(tickets, now):
    buckets = Counter(
        ages.age_bucket((now - created(t)).total_seconds())
        for t in tickets
        if t["status"] not in RESOLVED
    )
    return [buckets[i] for i in range(4)]


def expected_days(tickets, today):
    days = Counter(created(t).date() for t in tickets)
    return {
        (today - timedelta(days=n)).isoformat(): days[today - timedelta(days=n)] for n in range(14)
    }


def pictures(response):
    doc = board(response)
    return chart(doc, "Open backlog by age"), chart(doc, "Created per day, last 14 days")


def test_the_board_pictures_its_open_backlog_by_age_and_tickets_created_per_day(
    client, sandbox, db
):
    sandbox.configure(page_size=100)  # one refresh counts the whole filter
    link, path = make_link(name="High", filters="priority=high")
    response = client.get(path)
    now = datetime.now(UTC)
    tickets = sandbox.data.filter_tickets(parse_qsl("priority=high"))
    assert {t["status"] for t in tickets} & RESOLVED  # resolved tickets are left out of the backlog

    backlog, per_day = pictures(response)
    assert [int(v) for v in backlog_values(backlog).values()] == expected_ages(tickets, now)
    days = {day: int(number) for day, number in day_values(per_day).items()}
    assert days == expected_days(tickets, now.date())
    assert sum(expected_days(tickets, now.date()).values()) > 3  # a picture worth testing
    # Counted to the end: no lower bounds, no days left out.
    assert "≥" not in text(backlog) + text(per_day) and "–" not in text(per_day)
    notes = text(board(response).select_one(".board-side"))
    assert "of this board's tickets" in notes and "counted up to" not in notes


def test_pictures_cost_no_store_calls_of_their_own(client, sandbox, db):
    sandbox.configure(page_size=25)
    link, path = make_link(name="Open", filters="status=new&status=open")
    pages = -(-len(sandbox.data.filter_tickets(parse_qsl("status=new&status=open"))) // 25)
    assert pages <= counts.PAGES_PER_STEP
    store.ticket_types()  # the board's reference data, asked for once in any case
    sandbox.reset_stats()
    response = client.get(path)
    assert "counting" not in text(board(response).select_one(".board-side"))
    # The rows' page, which is also the count walk's first, then the walk's other pages: the
    # pictures are counted on the same walk.
    assert sandbox.stats()["paths"].get("/api/admin/tickets/") == pages


def test_a_walk_cut_at_the_cap_says_so_in_its_pictures(signed_in, sandbox, monkeypatch):
    monkeypatch.setattr(counts, "CAP", 30)
    monkeypatch.setattr(counts, "PAGES_PER_STEP", 10)
    sandbox.configure(page_size=10)
    response = signed_in.get("/wall/")
    now = datetime.now(UTC)
    tickets = sandbox.data.filter_tickets([])
    counted, oldest = tickets[:30], created(tickets[29])

    backlog, per_day = pictures(response)
    assert "counted up to 30" in text(board(response).select_one(".board-side"))
    assert backlog_values(backlog)["Older"] == f"≥ {expected_ages(counted, now)[3]}"
    reached = oldest.date().isoformat()
    days = day_values(per_day)
    assert days[reached].startswith("≥ ")
    assert min(days) < reached  # the picture reaches further back than the walk did
    for day, number in days.items():
        if day < reached:
            assert number == "–", day  # not counted, rather than zero
        elif day > reached:
            assert int(number) == expected_days(counted, now.date())[day], day


def test_a_board_of_every_ticket_says_its_pictures_are_of_all_tickets(signed_in, sandbox):
    notes = text(board(signed_in.get("/wall/")).select_one(".board-side"))
    assert "of all tickets" in notes and "this board" not in notes
    notes = text(board(signed_in.get("/wall/?priority=low")).select_one(".board-side"))
    assert "of this board's tickets" in notes


def test_pictures_say_counting_until_the_walk_is_done(client, sandbox, display_open):
    sandbox.configure(page_size=5)
    response = client.get(display_open)
    backlog, per_day = pictures(response)
    assert "counting…" in text(board(response).select_one(".board-side"))
    assert "≥" in text(backlog)


def test_the_board_has_no_style_attribute_and_no_script(client, sandbox, display_open):
    doc = board(client.get(display_open))
    assert doc.select("[style], script, style") == []


def test_counts_kept_in_another_layout_are_counted_afresh_never_drawn_wrong(
    client, sandbox, display_open, monkeypatch
):
    from django.core.cache import cache

    from dashboard.wall.filters import parse_wall_filters

    sandbox.configure(page_size=5)
    key = counts.state_key(parse_wall_filters("status=new&status=open")[0])
    # A finished count and a walk under way, of a layout before the pictures, under this
    # release's key (as a release that forgot to change the layout's version would leave it).
    old = counts.Counts(
        by_status=(("new", 3),), by_priority=(), total=3, complete=True, capped=False
    )
    walk = {"cursor": "", "status": Counter(new=3), "priority": Counter(), "seen": 3, "tail": []}
    cache.set(key, {"walk": walk, "result": old, "result_at": time.time() - counts.MAX_AGE})

    response = client.get(display_open)
    shown = text(board(response).select_one("[aria-label='Counts']"))
    assert "3 tickets" not in shown  # the old numbers are not shown as today's
    walked = cache.get(key)["walk"]  # a walk of this layout began from the top instead
    assert walked["seen"] == counts.PAGES_PER_STEP * 5 and sum(walked["ages"])
    assert f"at least {walked['seen']}" in shown


@pytest.fixture
def display_open(db):
    return make_link(name="Open", filters="status=new&status=open")[1]


# -- New --


def new_ids(response):
    return [int(row["data-ticket-id"]) for row in board(response).select("[data-new]")]


def test_a_ticket_created_while_the_board_showed_a_cached_page_is_marked_new(
    client, sandbox, display_open, monkeypatch
):
    """The defect as seen: the board showed a page fetched a moment before a ticket came in,
    and the ticket reached the board one page later, never marked New."""
    first = client.get(display_open)
    added = sandbox.data.add_ticket(status="new", subject="Arrived between two pages")
    time.sleep(1.1)  # the next refresh comes a little later ...
    cached = client.get(board(first)["data-hx-get"], **HTMX)
    assert added["id"] not in row_ids(page(cached))  # ... and still shows the page it had

    monkeypatch.setattr(wall_board, "ROWS_MAX_AGE", 0)  # the page ages out
    arrived = client.get(board(cached)["data-hx-get"], **HTMX)
    assert row_ids(page(arrived))[0] == added["id"]
    assert new_ids(arrived) == [added["id"]]
    row = board(arrived).select_one(f"[data-ticket-id='{added['id']}']")
    assert "New" in text(row.select_one(".new-mark"))  # in words, not only a colour


def test_a_new_ticket_is_new_on_every_screen_for_a_while(
    client, sandbox, display_open, monkeypatch
):
    screen = client.get(display_open)
    added = sandbox.data.add_ticket(status="new", subject="Seen on every screen")
    monkeypatch.setattr(wall_board, "ROWS_MAX_AGE", 0)
    first = client.get(board(screen)["data-hx-get"], **HTMX)
    again = client.get(board(first)["data-hx-get"], **HTMX)  # the screen's next refresh
    other = client.get(display_open)  # another screen, just switched on
    for response in (first, again, other):
        assert new_ids(response) == [added["id"]]

    query = store.TicketQuery(status=("new", "open"))
    later = wall_board.build_board(query).new_ids(now=time.time() + wall_board.NEW_SECONDS + 1)
    assert added["id"] not in later


def test_an_old_ticket_entering_the_filter_is_not_new(client, sandbox, display_open, monkeypatch):
    screen = client.get(display_open)
    newest = created(sandbox.data.filter_tickets(parse_qsl("status=new&status=open"))[0])
    reopened = sandbox.data.add_ticket(status="open", created_at=newest - timedelta(minutes=1))
    monkeypatch.setattr(wall_board, "ROWS_MAX_AGE", 0)
    refreshed = client.get(board(screen)["data-hx-get"], **HTMX)
    assert reopened["id"] in row_ids(page(refreshed))
    assert new_ids(refreshed) == []
