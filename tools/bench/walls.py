"""Wall screens refreshing beside people browsing: the budget holds, and no board is stale or
more than a minute behind the store.

Each screen loads its display link's board once, then asks for the fragment the board itself
names (its `hx-get`, with `HX-Request`), as the kiosk's browser does, at the link's refresh
interval. How far behind the store a board is comes from its `data-updated` stamp.
"""

import html
import queue
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from tools.processes import manage

from .clients import in_threads
from .plan import (
    COUNTING_FILTERS,
    COUNTING_PERSON_EVERY,
    COUNTING_SECONDS,
    VIEW_TIMEOUT,
    WALL_LINKS,
    WALL_PEOPLE,
    WALL_PERSON_EVERY,
    WALL_REFRESH,
    WALL_SCREENS_PER_LINK,
    WALL_SECONDS,
)
from .report import FirstViews
from .scenarios import Batch, Upstream, median_ms

BOARD_UPDATED_RE = re.compile(r'data-updated="([^"]+)"')
BOARD_POLL_RE = re.compile(r'<section id="board"[^>]*?data-hx-get="([^"]+)"', re.S)


@dataclass
class Board:
    """One refresh of one screen."""

    status: int
    seconds: float
    stale: bool
    behind: float  # seconds between the store's data on the board and now


def read_board(response, seconds):
    updated = BOARD_UPDATED_RE.search(response.text)
    behind = (
        (datetime.now(UTC) - datetime.fromisoformat(updated.group(1))).total_seconds()
        if updated
        else float("inf")
    )
    return Board(response.status_code, seconds, "data-stale=" in response.text, behind)


@dataclass
class WallResult:
    boards: list
    people: Batch  # the people's views, and what the store saw from walls and people together

    @property
    def stale(self):
        return sum(1 for b in self.boards if b.stale)

    @property
    def failed(self):
        return sum(1 for b in self.boards if b.status != 200)

    @property
    def most_behind(self):
        return max((b.behind for b in self.boards), default=0.0)


def display_link(django_env, name, filters):
    """A new display link's path, made the way a team lead makes one."""
    args = ["create_display_link", f"{name} {secrets.token_hex(3)}"]
    for qs in filters:
        args += ["--filters", qs]
    args += ["--refresh", str(WALL_REFRESH), "--rotate", "20", "--base-url", "http://x"]
    printed = manage(django_env, *args, timeout=60)
    return printed.strip().splitlines()[-1].removeprefix("http://x")


def measure(bench, django_env):
    """Screens on every display link and people browsing, side by side for WALL_SECONDS."""
    bench.settle()
    paths = [display_link(django_env, name, filters) for name, filters in WALL_LINKS]
    screens = [path for path in paths for _ in range(WALL_SCREENS_PER_LINK)]
    boards, views = [], []  # appended to from many threads: list.append is atomic
    with bench.crowd(WALL_PEOPLE) as people:
        queries = queue.Queue()
        for qs in bench.pool.take(int(WALL_SECONDS / WALL_PERSON_EVERY) * WALL_PEOPLE):
            queries.put(qs)
        deadline = time.monotonic() + WALL_SECONDS

        def start(i):
            if i < len(screens):
                # Screens are switched on one after another, as people walk around the room.
                time.sleep(i * WALL_REFRESH / len(screens))
                watch(f"{bench.url}{screens[i]}", bench.url, deadline, boards.append)
            else:
                i -= len(screens)
                time.sleep(i * WALL_PERSON_EVERY / WALL_PEOPLE)
                browse(people[i], queries, deadline, views.append)

        _, seconds = in_threads(len(screens) + WALL_PEOPLE, start)
    return WallResult(boards, Batch(views, seconds, Upstream.seen_by(bench.sandbox)))


def watch(url, base_url, deadline, record):
    """One screen: the board, then the fragment it polls, every WALL_REFRESH s until `deadline`."""
    headers = {}
    with requests.Session() as session:
        while time.monotonic() < deadline:
            began = time.perf_counter()
            response = session.get(url, headers=headers, timeout=VIEW_TIMEOUT)
            board = read_board(response, time.perf_counter() - began)
            record(board)
            poll = BOARD_POLL_RE.search(response.text)
            if poll:
                url = f"{base_url}{html.unescape(poll.group(1))}"
                headers = {"HX-Request": "true"}
            time.sleep(max(0.0, WALL_REFRESH - board.seconds))


def browse(person, queries, deadline, record):
    """One person: a fresh query every WALL_PERSON_EVERY s until `deadline` or no queries left."""
    while time.monotonic() < deadline:
        try:
            qs = queries.get_nowait()
        except queue.Empty:
            return
        view = person.view(qs)
        record(view)
        time.sleep(max(0.0, WALL_PERSON_EVERY - view.seconds))


@dataclass
class CountingResult(FirstViews):
    """A person's first views of new filters while wall screens start counting theirs."""

    direct_ms: float  # the configuration's direct API call, median
    views: list
    boards: list
    upstream: Upstream


def counting(bench, django_env, direct):
    """Six screens on new display links start counting at once; meanwhile a person opens a new
    filter every COUNTING_PERSON_EVERY seconds, each timed against a direct API call."""
    bench.settle()
    paths = [display_link(django_env, f"Counting {qs}", [qs]) for qs in COUNTING_FILTERS]
    queries = bench.pool.take(int(COUNTING_SECONDS / COUNTING_PERSON_EVERY))
    deadline = time.monotonic() + COUNTING_SECONDS
    boards, views = [], []
    with bench.crowd(1) as (person,):

        def start(i):
            if i < len(paths):
                # Every screen is switched on within two seconds: all six counts start at once.
                time.sleep(i * 0.3)
                watch(f"{bench.url}{paths[i]}", bench.url, deadline, boards.append)
                return
            time.sleep(2.0)  # the screens are counting by now
            for qs in queries:
                if time.monotonic() > deadline:
                    return
                view = person.try_view(qs)
                views.append(view)
                time.sleep(max(0.0, COUNTING_PERSON_EVERY - view.seconds))

        in_threads(len(paths) + 1, start)
    return CountingResult(median_ms(direct), views, boards, Upstream.seen_by(bench.sandbox))
