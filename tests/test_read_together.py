"""A page reads the shared state in as few round trips as it can: what it needs before the
store answers in one `get_many`, the rows' names in one more (`state.read_together`), or none
when the ticket index listed the page's requesters before the store answered."""

import threading

import pytest

from dashboard import store
from dashboard.budget import state
from dashboard.tickets import counts


class _Counted:
    """A thread's cache client that notes each read it sends: `(thread name, [keys])`."""

    def __init__(self, client, trips):
        self._client, self._trips = client, trips

    def _note(self, keys):
        self._trips.append((threading.current_thread().name, list(keys)))

    def get(self, key, default=None):
        self._note([key])
        return self._client.get(key, default)

    def get_many(self, keys):
        self._note(keys)
        return self._client.get_many(keys)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.fixture
def trips(monkeypatch):
    """Every read sent to the shared state from here on, by any thread."""
    sent = []
    thread_cache = state.thread_cache
    monkeypatch.setattr(state, "thread_cache", lambda: _Counted(thread_cache(), sent))
    return sent


def test_the_keys_are_read_with_the_next_read_and_then_kept(trips):
    state.cache_set("together:a", 1, 60)
    state.cache_set("together:b", 2, 60)
    state.cache_delete_many(["together:c"])
    with state.read_together(["together:a", "together:b", "together:c"]):
        assert state.cache_get("together:x") is None
        assert state.cache_get_many(["together:a", "together:c"]) == {"together:a": 1}
        assert state.cache_get("together:b") == 2
        assert state.cache_get("together:c", "none") == "none"
        assert state.cache_get("together:x") is None  # not one of them: read each time
    assert [sorted(keys) for _, keys in trips] == [
        ["together:a", "together:b", "together:c", "together:x"],
        ["together:x"],
    ]
    trips.clear()
    assert state.cache_get("together:a") == 1  # outside, every read is sent
    assert len(trips) == 1


def test_writes_inside_replace_what_was_read(trips):
    state.cache_set("together:a", 1, 60)
    state.cache_delete_many(["together:b", "together:c"])
    with state.read_together(["together:a", "together:b", "together:c"]):
        assert state.cache_get_many(["together:a"]) == {"together:a": 1}
        state.cache_set("together:a", 5, 60)
        state.cache_delete_many(["together:a"])
        assert state.cache_add("together:b", "mine", 60)
        assert state.cache_get("together:a") is None
        assert state.cache_get("together:b") == "mine"
        assert len(trips) == 1
        # Someone else writes "c" meanwhile: an `add` that finds it there reads it again.
        state.thread_cache()._client.set("together:c", "theirs", 60)
        assert not state.cache_add("together:c", "mine", 60)
        assert state.cache_get("together:c") == "theirs"
    assert len(trips) == 2


def test_a_failing_read_keeps_nothing_and_other_threads_read_for_themselves(trips, monkeypatch):
    from dashboard.views.common import started

    state.cache_set("together:a", 1, 60)
    with state.read_together(["together:a"]):
        with monkeypatch.context() as broken:
            broken.setattr(state, "_get_many", _unreachable)
            with pytest.raises(state.SharedStateError):
                state.cache_get("together:x")
        assert started(state.cache_get, "together:a").result() == 1  # its own read
        assert state.cache_get("together:a") == 1  # read now, with nothing wrongly kept
        with state.read_together(["together:b"]):  # nested: added to the same reads
            assert state.cache_get("together:b") is None
        assert state.cache_get("together:a") == 1
    assert len(trips) == 3


def _unreachable(keys):
    with state.guarded("reading the cache"):
        raise OSError("no state directory")


def test_a_first_view_reads_the_shared_state_once_before_the_answer_and_once_after(
    signed_in, sandbox, settings, trips
):
    """The views' counts, the scopes the token lacks and the list's total in one read while
    the store answers; the rows' names, and nothing read before, in one read after it."""
    settings.STORE_VIEW_COUNTS = True
    settings.STORE_NAME_LOOKUPS_PER_MINUTE = 60  # customers unknown: the page looks them up
    store.ticket_types(), store.staff()
    signed_in.get("/?status=closed")  # the session and the views' first reads are warm
    query = store.TicketQuery(status=("open",))
    trips.clear()
    response = signed_in.get("/?status=open")
    assert response.status_code == 200
    views = [keys for thread, keys in trips if thread == threading.current_thread().name]
    scopes = set(store.scope_keys(store.WRITE_SCOPE))
    total = counts.state_keys([query])[0]
    frame = [keys for keys in views if total in keys]
    assert len(frame) == 1
    assert scopes <= set(frame[0])
    all_tickets = counts.state_keys([store.TicketQuery()])[0]
    assert all_tickets in frame[0]  # the sidebar's "All tickets" count
    # No read but that one holds a count or a scope: the names are read by themselves.
    others = [keys for keys in views if keys is not frame[0]]
    assert not [keys for keys in others if set(keys) & (scopes | {total, all_tickets})]
    names = [keys for keys in others if keys[0].startswith("kept:")]
    assert len(names) == 1
    # Before the page: the session and the page's cached answer; the filter form's catalogue.
    assert len(views) <= 5


@pytest.fixture
def indexed(sandbox):
    """The ticket index as a whole walk of the sandbox leaves it; whether it answers is read
    afresh by the tests after (each process keeps it a few seconds)."""
    from dashboard.index import freshness
    from tests.test_arrivals import index_from

    index_from(sandbox)
    yield
    freshness.forget()


def test_a_first_pages_names_are_read_while_the_store_answers(
    signed_in, sandbox, settings, trips, monkeypatch, indexed
):
    """The index lists the page as the store does: its requesters' names are read with the
    frame, and once the store has answered, the page reads no name."""
    from dashboard.views import tickets
    from tests.test_forms import known

    settings.STORE_NAME_LOOKUPS_PER_MINUTE = 0  # no look-up replaces the names kept here
    # A store slower than the frame, as a real one is (the sandbox here answers in a moment).
    monkeypatch.setattr(tickets.Asked, "answered", lambda self: False)
    listed = sandbox.data.filter_tickets([("status", "new"), ("status", "open")])
    requesters = {t["requester"] for t in listed[: sandbox.page_size] if t.get("requester")}
    assert requesters
    for person_id in requesters:
        known(store.Person(id=person_id, first_name="Ana", last_name=f"No {person_id}"))
    store.ticket_types(), store.staff()
    signed_in.get("/?status=closed")
    store.client.forget_local()  # known to the shared state, not yet to this process
    result = tickets.Asked.result
    monkeypatch.setattr(
        tickets.Asked, "result", lambda self: trips.append(("answer", [])) or result(self)
    )
    trips.clear()
    response = signed_in.get("/?status=new&status=open")
    assert response.status_code == 200
    page = [
        (who, keys) for who, keys in trips if who in ("answer", threading.current_thread().name)
    ]
    answered = page.index(("answer", []))
    before = {key for _, keys in page[:answered] for key in keys}
    kept = {store.client._kept_key(f"users/{person_id}/") for person_id in requesters}
    assert kept <= before
    assert not [keys for _, keys in page[answered + 1 :] if keys and keys[0].startswith("kept:")]
    shown = response.content.decode()
    assert all(f"Ana No {person_id}" in shown for person_id in requesters)


def test_a_fragment_reads_the_shared_state_once_after_its_answer(
    signed_in, sandbox, settings, trips
):
    """An HTMX swap of the results (a filter changed, "Load more"): its names, the scopes and
    the total in one read."""
    settings.STORE_NAME_LOOKUPS_PER_MINUTE = 60
    store.ticket_types(), store.staff()
    signed_in.get("/?status=closed")
    trips.clear()
    response = signed_in.get("/?status=open", headers={"HX-Request": "true"})
    assert response.status_code == 200
    views = [keys for thread, keys in trips if thread == threading.current_thread().name]
    scopes = set(store.scope_keys(store.WRITE_SCOPE))
    total = counts.state_keys([store.TicketQuery(status=("open",))])[0]
    after = [keys for keys in views if set(keys) & (scopes | {total})]
    assert len(after) == 1
    assert scopes | {total} <= set(after[0])
    assert any(key.startswith("kept:") for key in after[0])  # the rows' names


def test_a_bookmarks_cached_answer_is_read_with_the_session(signed_in, sandbox, trips):
    """A list page reads the person's session first, and its cached answer right after: one
    read for both. The answer found there is the page (the store is not asked again)."""
    signed_in.get("/?status=open")  # the page is in the shared cache now
    session_key = signed_in.session.session_key
    query = store.TicketQuery(status=("open",))
    trips.clear()
    asked = sandbox.stats()["calls"]
    response = signed_in.get("/?status=open")
    assert response.status_code == 200
    views = [keys for thread, keys in trips if thread == threading.current_thread().name]
    first = views[0]
    assert any(key.endswith(session_key) for key in first)
    assert store.cached_page_keys(query)[0] in first
    # Nothing reads the page's answer again.
    assert not [keys for keys in views[1:] if store.cached_page_keys(query)[0] in keys]
    assert sandbox.stats()["calls"] == asked


def test_another_page_reads_its_session_alone(signed_in, trips):
    signed_in.get("/views/")
    trips.clear()
    assert signed_in.get("/views/").status_code == 200
    views = [keys for thread, keys in trips if thread == threading.current_thread().name]
    assert len(views[0]) == 1 and views[0][0].endswith(signed_in.session.session_key)


def test_a_key_read_once_answers_one_read_then_goes_to_the_state(trips):
    state.cache_set("together:page", "cached", 60)
    with state.read_together(["together:page"], once=True):
        assert state.cache_get("together:session") is None  # the first read takes it along
        state.cache_set("together:page", "newer", 60)  # another process, say
        assert state.cache_get("together:page") == "newer"  # written here: what was written
        assert state.cache_get("together:page") == "newer"
    trips.clear()
    state.cache_delete_many(["together:page"])
    with state.read_together(["together:page"], once=True):
        assert state.cache_get("together:session") is None
        thread_cache = state.thread_cache()
        thread_cache.set("together:page", "from elsewhere", 60)  # not through this thread's
        assert state.cache_get("together:page") is None  # the one read: as read with the first
        assert state.cache_get("together:page") == "from elsewhere"  # then the state itself
    assert [len(keys) for _, keys in trips] == [2, 1]


def test_a_nested_block_takes_its_keys_away_as_it_ends(trips):
    state.cache_set("together:outer", 1, 60)
    state.cache_set("together:inner", 2, 60)
    with state.read_together(["together:outer"]):
        with state.read_together(["together:inner"]):
            assert state.cache_get("together:inner") == 2
            assert len(trips) == 1
        state.cache_set("together:inner", 3, 60)
        assert state.cache_get("together:inner") == 3  # read again: no longer kept
        assert state.cache_get("together:outer") == 1  # still kept
    assert len(trips) == 2


def test_a_request_without_a_session_reads_no_page(client, trips):
    assert client.get("/?status=open").status_code == 302  # to the sign-in page
    page_key = store.cached_page_keys(store.TicketQuery(status=("open",)))[0]
    assert not [keys for _, keys in trips if page_key in keys]
