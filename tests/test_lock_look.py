"""A shared answer looked for again under its single-flight lock: on Redis, read by the script
that takes the lock (one round trip, not two), and answered exactly as a read of the cache
would answer it; in files, read by the holder, as before."""

import uuid

import pytest
import responses
from django.core.cache.backends.redis import RedisSerializer

from dashboard import budget, store
from dashboard.budget import WaitTimeout, flight, lanes, state
from dashboard.budget.files import LocalBackend
from dashboard.budget.redis import RedisBackend
from tests.redis_server import redis_url  # noqa: F401


@pytest.fixture
def on_redis(settings, redis_url):  # noqa: F811
    """The cache and the budget on the test Redis, as on several machines."""
    settings.REDIS_URL = redis_url
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
        },
    }
    return redis_url


@pytest.fixture
def no_cache_reads(monkeypatch):
    """Any read of the shared cache from here on fails the test."""

    def read(*args, **kwargs):
        raise AssertionError("the cache was read by a round trip of its own")

    monkeypatch.setattr(state, "cache_get_many", read)
    monkeypatch.setattr(state, "cache_get", read)


def unique(name):
    return f"{name}-{uuid.uuid4().hex}"


def test_the_redis_lock_reads_the_keys_as_it_is_taken(redis_url):  # noqa: F811
    backend = RedisBackend(redis_url)
    name, there, absent = unique("lock"), unique("there"), unique("absent")
    backend.client.set(there, b"value")
    with backend.lock(name, timeout=1, look=[there, absent]) as read:
        assert read.values == [b"value", None] and read.slot_wait is None
        with pytest.raises(WaitTimeout), backend.lock(name, timeout=0, look=[there]):
            pass  # held: nobody else takes it, nor reads through it
        assert backend.client.pttl(backend.lock_key(name)) > 0  # it expires, as redis-py's
    with backend.lock(name, timeout=0) as read:  # released; without keys, it reads nothing
        assert read is None


def test_a_lock_in_files_reads_nothing(tmp_path):
    with LocalBackend(str(tmp_path / "pacing")).lock(unique("lock"), 1, look=["key"]) as read:
        assert read is None


def test_a_value_cached_meanwhile_is_the_answer_without_a_read_of_its_own(on_redis, no_cache_reads):
    key = unique("tickets?status=open")
    value_key = flight.cached_key(key)
    stored = state.stored_keys([value_key], on_redis)
    assert stored is not None and stored[0] != value_key  # the cache's own prefix and version
    # Cached by another process after this one looked (`looked=True`): found under the lock.
    budget.backend().client.set(stored[0], RedisSerializer().dumps({"page": 1}), px=60000)
    computed = []
    answer = budget.single_flight(key, lambda: computed.append(1), ttl=60, looked=True)
    assert answer == {"page": 1} and computed == []


def test_an_error_cached_meanwhile_is_raised_without_a_read_of_its_own(on_redis, no_cache_reads):
    key = unique("tickets?status=open")
    error_key = state.stored_keys([flight._cache_keys(key)[1]], on_redis)[0]
    budget.backend().client.set(error_key, RedisSerializer().dumps(ValueError("store down")))
    with pytest.raises(ValueError, match="store down"):
        budget.single_flight(key, lambda: "fresh", ttl=60, looked=True)


def test_nothing_cached_is_computed_once_and_shared(on_redis):
    key = unique("tickets?status=open")
    assert budget.single_flight(key, lambda: {"n": 1}, ttl=60, looked=True) == {"n": 1}
    assert budget.single_flight(key, lambda: {"n": 2}, ttl=60, looked=True) == {"n": 1}
    assert budget.cached(key) == {"n": 1}  # as the cache itself reads it


def test_a_value_another_release_wrote_is_absent_and_computed_again(on_redis, caplog):
    key = unique("tickets?status=open")
    stored = state.stored_keys([flight.cached_key(key)], on_redis)[0]
    budget.backend().client.set(stored, b"\x80\x05not a pickle")
    assert budget.single_flight(key, lambda: "fresh", ttl=60, looked=True) == "fresh"
    assert "unreadable" in caplog.text


@pytest.mark.parametrize("elsewhere", ["files", "another database", "options"])
def test_a_cache_elsewhere_is_read_by_the_holder(settings, redis_url, elsewhere):  # noqa: F811
    """The budget on Redis, the cache not there as the lock would read it (in files, in
    another Redis database, or with options of its own): the lock reads nothing, and the
    holder reads the cache itself."""
    settings.REDIS_URL = redis_url
    cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    if elsewhere == "another database":
        cache["LOCATION"] = redis_url.rsplit("/", 1)[0] + "/1"
    elif elsewhere == "options":
        cache["OPTIONS"] = {"db": 1}
    if elsewhere != "files":
        settings.CACHES = {**settings.CACHES, "default": cache}
    assert state.stored_keys(["key"], redis_url) is None
    key = unique("types")
    state.cache_set(flight.cached_key(key), "cached", 60)
    assert budget.single_flight(key, lambda: "fresh", ttl=60, looked=True) == "cached"


# A person's first store call under the answer's lock: on Redis, its slot is taken by the
# script that takes the lock, when one is free (one round trip, not two).

TOKEN = "budget-of-one-token"


@pytest.fixture
def paced(settings):
    """Two calls a second: the budget stays full between a test's steps, however slow."""
    settings.STORE_RATE_LIMIT = 2
    settings.STORE_RATE_WINDOW = 1.0
    return settings


@pytest.fixture
def slot_tries(monkeypatch):
    """The looks at the budget made by a round trip of their own, in either backend."""
    tries = []
    for kind in (RedisBackend, LocalBackend):
        own = kind._try_slot
        monkeypatch.setattr(
            kind, "_try_slot", lambda self, slot, own=own: tries.append(slot) or own(self, slot)
        )
    return tries


def recorded(key):
    """The calls recorded in the budget under `key`, and the people marked as waiting."""
    backend = budget.backend()
    rate_key = backend.rate_key(key)
    return backend.client.zrange(rate_key, 0, -1), backend.client.zrange(
        f"{rate_key}:waiting", 0, -1
    )


def call_the_store(token=TOKEN):
    """What a store call does before its request goes."""
    budget.wait_for_slot(token)
    return "fresh"


def test_a_persons_slot_is_taken_with_the_lock(on_redis, paced, slot_tries):
    token = unique(TOKEN)
    key = unique("tickets?status=open")

    def twice():
        call_the_store(token)
        first = recorded(token)[0]
        call_the_store(token)  # a retry, or a second call: it waits its turn, as always
        return first

    (member,) = budget.single_flight(key, twice, ttl=60, looked=True, slot_key=token)
    assert len(slot_tries) == 1  # the second call's look; the first made none of its own
    sent, waiting = recorded(token)
    assert len(sent) == 2 and member in sent and waiting == []
    assert slot_tries[0].member != member.decode()
    # After the block, nothing is in hand: the next call looks at the budget itself.
    with pytest.raises(WaitTimeout), budget.waiting_at_most(0.1):
        call_the_store(token)


def test_a_call_that_never_went_leaves_nothing_in_hand_nor_waiting(on_redis, paced, slot_tries):
    token = unique(TOKEN)

    def fails():
        raise ConnectionError("before the request was written")

    for full in (False, True):  # the lock took the slot; the budget was full
        if full:
            call_the_store(token)
        with pytest.raises(ConnectionError):
            budget.single_flight(
                unique("tickets"), fails, ttl=60, error_ttl=0, looked=True, slot_key=token
            )
        assert recorded(token)[1] == []  # no mark that anyone waits
    assert len(recorded(token)[0]) == 2  # the slot taken with the lock counts, as a call's
    assert len(slot_tries) == 1  # the test's own call, which filled the budget


def test_no_slot_is_taken_for_an_answer_found_under_the_lock(on_redis, paced, slot_tries):
    token, key = unique(TOKEN), unique("tickets?status=open")
    stored = state.stored_keys([flight.cached_key(key)], on_redis)[0]
    budget.backend().client.set(stored, RedisSerializer().dumps("cached"), px=60000)
    assert (
        budget.single_flight(key, call_the_store, ttl=60, looked=True, slot_key=token) == "cached"
    )
    assert recorded(token) == ([], []) and slot_tries == []


def test_a_full_budget_is_waited_for_as_always_under_the_same_name(on_redis, paced, monkeypatch):
    token, key = unique(TOKEN), unique("tickets?status=open")
    for _ in range(2):
        budget.wait_for_slot(token)
    looked = []
    ahead = lanes.slot_ahead
    monkeypatch.setattr(lanes, "slot_ahead", lambda key: looked.append(ahead(key)) or looked[-1])

    def waited():
        # The lock's look marked this person as waiting: once, under the name it looked with.
        assert recorded(token)[1] == [looked[0].member.encode()]
        return call_the_store(token)

    assert budget.single_flight(key, waited, ttl=60, looked=True, slot_key=token) == "fresh"
    sent, waiting = recorded(token)
    assert looked[0].member.encode() in sent and waiting == []


def test_background_work_and_files_take_no_slot_with_the_lock(
    settings, paced, tmp_path, slot_tries
):
    settings.PACING_DIR = tmp_path / "pacing"
    token = unique(TOKEN)
    with budget.background():
        assert lanes.slot_ahead(token) is None
    key = unique("tickets?status=open")
    assert budget.single_flight(key, call_the_store, ttl=60, looked=True, slot_key=token) == "fresh"
    assert len(slot_tries) == 1  # in files, the call looks at the budget itself, as before


def test_a_persons_page_is_asked_for_once_lock_and_slot_are_taken_together(
    on_redis, paced, fake_store, slot_tries
):
    paced.NEXT_API_TOKEN = unique("token")  # a budget of its own
    query = store.TicketQuery(filter_text=unique("anna"))
    with responses.RequestsMock() as mocked:
        mocked.get(fake_store + "tickets/", json={"next": None, "previous": None, "results": []})
        answer = store.page_or_known(query, looked=True)
        assert len(mocked.calls) == 1
    assert answer.value.tickets == () and slot_tries == []
    assert len(recorded(store.client.identity())[0]) == 1
