"""Shared state that survives a rolling deploy: two releases side by side on one Redis (or one
state directory) never read each other's entries as their own. Every key carries the version of
its entry's layout, and an entry that cannot be read back is absent, never a crash."""

import re
import sys
import types
from dataclasses import dataclass

import pytest
from django.core.cache import cache

from dashboard import budget, store
from dashboard.budget import state
from dashboard.store import client as store_client
from tests.conftest import TEST_TOKEN
from tests.html import page, rows
from tests.redis_server import redis_server  # noqa: F401
from tests.refs import count_url
from tests.test_shared_state import on_redis, screens  # noqa: F401
from tests.test_wall import make_link

VERSIONED_KEY = re.compile(r"(^|[:-])v[0-9][0-9a-f.]*([:-]|$)")


def use_everything(signed_in, client, display_path):
    """Every kind of page and what it keeps: a list with its total, a thread, walls and their
    counts, a display link's board, a sign-in attempt, the catalogue."""
    from dashboard.models import Tag

    Tag.objects.create(name="Refunds", store_id=2)
    Tag.catalogue()
    assert rows(page(signed_in.get("/?status=open&tags=Refunds", follow=True)))
    signed_in.get(count_url(signed_in, "status=open"))
    signed_in.get("/tickets/1641/")
    signed_in.get("/wall/?status=new")
    client.get(display_path)
    client.post("/accounts/login/", {"username": "someone", "password": "not-the-password"})


def test_every_redis_key_carries_its_layouts_version(signed_in, client, on_redis, sandbox):  # noqa: F811
    _, display_path = make_link()
    use_everything(signed_in, client, display_path)
    keys = [key.decode() for key in budget.backend().client.keys("*")]
    cache_keys = [key.decode() for key in cache._cache.get_client().keys("*")]
    assert len(keys + cache_keys) > 10
    unversioned = [key for key in keys + cache_keys if not VERSIONED_KEY.search(key)]
    assert unversioned == []
    assert TEST_TOKEN not in " ".join(keys + cache_keys)


def test_every_budget_file_carries_its_layouts_version(signed_in, client, settings, sandbox):
    _, display_path = make_link()
    use_everything(signed_in, client, display_path)
    names = [path.name for path in settings.PACING_DIR.iterdir()]
    assert names
    assert [name for name in names if not VERSIONED_KEY.search(name)] == []


def write_as_another_release(key):
    """Keep under `key` an object of a class this release does not have: what an entry
    written by another release holds once its class is gone or moved."""
    module = types.ModuleType("dashboard_other_release")

    @dataclass(frozen=True)
    class Board:
        rows: tuple

    Board.__module__, Board.__qualname__ = module.__name__, "Board"
    module.Board = Board
    sys.modules[module.__name__] = module
    try:
        cache.set(key, Board(rows=(1, 2)))
    finally:
        del sys.modules[module.__name__]


@pytest.mark.parametrize("backend", ["files", "redis"])
def test_an_entry_another_release_wrote_is_absent_not_a_crash(request, backend, caplog):
    if backend == "redis":
        request.getfixturevalue("on_redis")
    write_as_another_release("wall-board:v1:shared")
    cache.set("wall-board:v1:mine", "readable")

    assert state.cache_get("wall-board:v1:shared", "absent") == "absent"
    assert state.cache_get_many(["wall-board:v1:shared", "wall-board:v1:mine"]) == {
        "wall-board:v1:mine": "readable"
    }
    assert "unreadable" in caplog.text
    # Single flight computes afresh over such an answer.
    value_key, _ = budget.flight._cache_keys("query")
    write_as_another_release(value_key)
    assert budget.single_flight("query", lambda: "computed", ttl=30) == "computed"
    assert state.cache_get(value_key) == "computed"


def test_the_store_answers_keys_change_with_the_shape_of_what_they_hold():
    @dataclass(frozen=True)
    class Ticket:
        id: int

    @dataclass(frozen=True)
    class Ticket2:
        id: int
        waiting_since: str

    Ticket2.__qualname__ = "Ticket"
    assert state.fingerprint(Ticket) != state.fingerprint(Ticket2)
    assert state.fingerprint(Ticket) == state.fingerprint(Ticket)
    assert store.schema() in store_client.cache_key("tickets/", [("status", "open")])
    assert store.Ticket in store.parse._KEPT and store.TicketPage in store.parse._KEPT


def test_an_unreadable_entry_is_logged_without_its_key(caplog):
    """A session's key is its id: a log line names the entry's kind and a digest only."""
    state._unreadable("session:v1:k7secretsessionid0123456789abcdef", ValueError("bad"))
    assert "session:v1" in caplog.text and "k7secret" not in caplog.text
