"""The shared request budget and single-flight caching, across real processes.

Each backend runs against the real thing: files under flock for `LocalBackend`, a real
`redis-server` for `RedisBackend`. Each child process runs one of the `*_child` functions below
(`python -c "from tests.test_pacing import f; f()"`, its arguments in `sys.argv`): it reports
"ready", waits for "go" on stdin (so that they all start together), and prints JSON.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from dashboard import budget
from dashboard.budget import WaitTimeout
from dashboard.budget.files import LocalBackend
from dashboard.budget.redis import RedisBackend
from tests.redis_server import redis_url  # noqa: F401

pytestmark = pytest.mark.usefixtures("fake_store")

ROOT = Path(__file__).resolve().parent.parent
SECRET = "tok_PACING_do_not_leak_7c1e"


@pytest.fixture(params=["local", "redis"])
def where(request, tmp_path):
    """(kind, location) of a fresh backend: a directory, or the test Redis."""
    if request.param == "redis":
        return "redis", request.getfixturevalue("redis_url")
    return "local", str(tmp_path / "pacing")


def make_backend(kind, location):
    return RedisBackend(location) if kind == "redis" else LocalBackend(location)


def unique(name):
    return f"{name}-{uuid.uuid4().hex}"


def child_command(function, argv):
    """The command line that runs `function` of this module in a child process, without the
    test settings: a child sets up only what it needs."""
    code = f"from {function.__module__} import {function.__name__}; {function.__name__}()"
    return [sys.executable, "-c", code, *map(str, argv)]


def child_env():
    return {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}


def tried(backend):
    """Record each look at a slot as (clock before, clock after, seconds to wait): a look that
    returned 0 took its slot between the two clocks. A loaded machine only widens that span."""
    looks = []
    look = backend._try_slot

    def recorded(slot):
        before = time.time()
        wait = look(slot)
        looks.append((before, time.time(), wait))
        return wait

    backend._try_slot = recorded
    return looks


def most_within(taken, span):
    """The most slots, of `(before, after)` spans, certainly taken within `span` seconds of
    each other: this never counts more than were, however late the clocks were read."""
    taken = sorted(taken)
    return max(
        (sum(1 for _, after in taken[i:] if after - start < span) for i, (start, _) in
         enumerate(taken)),
        default=0,
    )  # fmt: skip


def slept(monkeypatch):
    """The pauses this thread asks `time.sleep` for (still slept)."""
    pauses, sleep, me = [], time.sleep, threading.current_thread()

    def recorded(seconds):
        if threading.current_thread() is me:
            pauses.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(time, "sleep", recorded)
    return pauses


def run_children(function, argvs, timeout=30):
    """Start one child per argv, release them together, return (go time, parsed outputs)."""
    env = child_env()
    children = [
        subprocess.Popen(
            child_command(function, argv),
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    try:
        for child in children:
            line = child.stdout.readline()
            assert line.strip() == "ready", child.stderr.read()
        go = time.time()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = []
        for child in children:
            out, err = child.communicate(timeout=timeout)
            assert child.returncode == 0, err
            outputs.append(json.loads(out))
        return go, outputs
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


# --- The limiter ---------------------------------------------------------------------------


def limiter_child():
    """In a child process: take `count` slots of one budget; prints when each was taken, as
    the clocks read just before and just after the look that took it."""
    kind, location, key, count, rate, window, margin = sys.argv[1:]
    backend = make_backend(kind, location)
    if kind == "redis":
        backend.client.ping()
    looks = tried(backend)
    print("ready", flush=True)
    sys.stdin.readline()
    taken = []
    for _ in range(int(count)):
        backend.acquire_slot(key, int(rate), float(window), float(margin), 10.0)
        taken.append(looks[-1][:2])
    print(json.dumps(taken))


def test_limiter_paces_several_processes(where):
    kind, location = where
    processes, each, rate, window, margin = 4, 5, 4, 0.5, 0.05
    key = unique("token")
    argv = [kind, location, key, each, rate, window, margin]
    _, outputs = run_children(limiter_child, [argv] * processes)
    taken = [tuple(span) for out in outputs for span in out]
    assert len(taken) == processes * each

    # No window of `window` seconds holds more than `rate` calls (in fact none of window +
    # margin does).
    assert most_within(taken, window) <= rate

    # All of them paced: the calls took at least as long as the budget requires. How little
    # longer is a figure of `make bench` (tools/bench/pacing.py).
    needed = (len(taken) // rate - 1) * (window + margin)
    assert max(after for _, after in taken) - min(before for before, _ in taken) >= needed - 0.05


def test_wait_timeout_when_the_budget_is_spent(where, monkeypatch):
    backend = make_backend(*where)
    key = unique("token")
    looks = tried(backend)
    backend.acquire_slot(key, 2, 5.0, 0.1, 1.0)
    backend.acquire_slot(key, 2, 5.0, 0.1, 1.0)
    assert [wait for _, _, wait in looks] == [0, 0]
    pauses = slept(monkeypatch)
    with pytest.raises(WaitTimeout):
        backend.acquire_slot(key, 2, 5.0, 0.1, 0.3)
    # The slot cannot come in time, so it says so at its first look, without sitting out the
    # timeout.
    assert len(looks) == 3 and looks[-1][2] > 0.3
    assert pauses == []


def test_waiting_sleeps_until_the_slot_frees(where, monkeypatch):
    backend = make_backend(*where)
    key = unique("token")
    looks = tried(backend)
    backend.acquire_slot(key, 1, 1.0, 0.05, 1.0)
    pauses = slept(monkeypatch)
    waited = backend.acquire_slot(key, 1, 1.0, 0.05, 3.0)
    # The second slot was taken only once the first had left the window ...
    assert looks[-1][1] - looks[0][0] >= 1.0
    # ... and meanwhile the caller slept for as long as each look said, and looked again:
    # once, or twice if woken a hair early. Spinning, or polling, would look many times.
    # (How much CPU the wait costs is a figure of `make bench`, tools/bench/pacing.py.)
    assert len(looks) <= 4 and looks[-1][2] == 0
    assert pauses == [max(wait, 0.001) for _, _, wait in looks[1:-1]]
    assert waited >= sum(pauses)


def test_a_call_that_went_late_counts_from_when_it_went(where, monkeypatch):
    backend = make_backend(*where)
    key = unique("token")
    _, member = backend.take_slot(key, 1, 1.0, 0.05, 1.0)
    time.sleep(0.3)  # the case under test: the request goes well after its slot was taken
    went = time.time()
    backend.restamp(key, member, 1.05)
    looks = tried(backend)
    slept(monkeypatch)
    backend.acquire_slot(key, 1, 1.0, 0.05, 3.0)
    # The next call waited out the whole span from when the first went, not from its slot.
    assert looks[0][2] > 1.0 and looks[-1][1] - went >= 1.05 - 0.01


def test_restamping_a_call_that_left_the_window_records_nothing(where):
    backend = make_backend(*where)
    key = unique("token")
    backend.restamp(key, "long-gone", 1.05)
    assert backend.acquire_slot(key, 1, 1.0, 0.05, 0.5) < 0.1


def test_zero_rate_means_no_pacing(where):
    backend = make_backend(*where)
    for _ in range(10):
        assert backend.acquire_slot("token", 0, 1.0, 0.1, 0.0) == 0.0


def test_a_stale_local_log_from_the_future_does_not_block(tmp_path):
    backend = LocalBackend(tmp_path)
    future = time.time() + 3600
    backend.rate_file("token").write_text("".join(f"{future + i:.6f} i old{i}\n" for i in range(4)))
    assert backend.acquire_slot("token", 4, 1.0, 0.1, 0.5) < 0.1
    assert len(backend.rate_file("token").read_text().splitlines()) == 1


def test_a_garbled_local_log_does_not_break_the_limiter(tmp_path):
    backend = LocalBackend(tmp_path)
    backend.rate_file("token").write_bytes(b"not a time\n\x00\xff\xfe\n12")
    assert backend.acquire_slot("token", 4, 1.0, 0.1, 0.5) < 0.1


def test_stale_redis_entries_from_the_future_do_not_block(redis_url):  # noqa: F811
    backend = RedisBackend(redis_url)
    key = unique("token")
    future = (time.time() + 3600) * 1e6
    backend.client.zadd(backend.rate_key(key), {f"stale{i}": future + i for i in range(4)})
    assert backend.acquire_slot(key, 4, 1.0, 0.1, 0.5) < 0.1
    assert backend.client.zcard(backend.rate_key(key)) == 1


# --- Locks ---------------------------------------------------------------------------------


def test_lock_timeout_raises(where, monkeypatch):
    backend = make_backend(*where)
    name = unique("lock")
    with backend.lock(name, timeout=1.0, ttl=10):
        pauses = slept(monkeypatch)
        start = time.monotonic()
        with pytest.raises(WaitTimeout), backend.lock(name, timeout=0.2, ttl=10):
            pass
        # It kept trying until its timeout was all but spent, and never slept past it.
        assert time.monotonic() - start >= 0.15
        assert sum(pauses) <= 0.2
    with backend.lock(name, timeout=0.2, ttl=10):
        pass  # free again once released


def lock_holder_child():
    """In a child process: take a lock with a short ttl and hold it until killed."""
    kind, location, name = sys.argv[1:]
    backend = make_backend(kind, location)
    print("ready", flush=True)
    sys.stdin.readline()
    with backend.lock(name, timeout=5, ttl=0.5):
        print("held", flush=True)
        time.sleep(60)


def test_a_dead_holder_does_not_keep_the_lock(where):
    kind, location = where
    backend = make_backend(kind, location)
    name = unique("lock")
    child = subprocess.Popen(
        child_command(lock_holder_child, [kind, location, name]),
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(WaitTimeout), backend.lock(name, timeout=0.1, ttl=10):
            pass
        child.send_signal(signal.SIGKILL)
        child.wait()
        # Locally the OS drops the flock at once: the first look finds it free. On Redis the
        # key expires after the holder's ttl (0.5 s), long before the lock's default ttl.
        with backend.lock(name, timeout=0 if kind == "local" else 5.0, ttl=10):
            pass
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def counter_child():
    """In a child process: add one to a counter file `rounds` times, each under the lock."""
    kind, location, name, counter, rounds = sys.argv[1:]
    backend = make_backend(kind, location)
    counter = Path(counter)
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(int(rounds)):
        with backend.lock(name, timeout=20, ttl=10):
            # A read-modify-write that loses updates unless the lock excludes the others.
            counter.write_text(str(int(counter.read_text() or 0) + 1))
    print("[]")


def test_lock_excludes_other_processes(where, tmp_path):
    kind, location = where
    counter = tmp_path / "counter"
    counter.write_text("0")
    name = unique("lock")
    run_children(counter_child, [[kind, location, name, counter, 100]] * 4)
    assert counter.read_text() == "400"
    if kind == "local":  # lock files are removed on release, not left one per query
        assert not list(Path(location).glob("lock-*"))


def test_an_expired_redis_lock_is_not_released_by_its_old_holder(redis_url):  # noqa: F811
    backend = RedisBackend(redis_url)
    name = unique("lock")
    with backend.lock(name, timeout=1, ttl=0.1):
        time.sleep(0.2)  # our ttl runs out ...
        with backend.lock(name, timeout=1, ttl=10):  # ... and someone else takes the lock
            pass
        assert backend.client.set(backend.lock_key(name), "theirs", nx=True)
    assert backend.client.get(backend.lock_key(name)) == b"theirs"


# --- Single flight -------------------------------------------------------------------------


def flight_child():
    """In a child process: ask `single_flight` for one key, all children at once; the one that
    computes writes its pid to `calls`. Prints the value, or the error, it was given."""
    # Imported here, not with the module: every child imports the module, and the benchmark's
    # package is a quarter of its start-up.
    from tools.bench.pacing import configure_flight_child

    kind, location, tmp, key, mode = sys.argv[1:]
    configure_flight_child(kind, location, tmp)

    def compute():
        with open(os.path.join(tmp, "calls"), "a") as calls:
            fcntl.flock(calls, fcntl.LOCK_EX)
            calls.write(f"{os.getpid()}\n")
        time.sleep(0.5)
        if mode == "fail":
            raise ValueError(f"upstream failed for {os.getpid()}")
        return {"computed_by": os.getpid()}

    budget.backend()
    assert budget.cached(key) is None
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        print(json.dumps({"value": budget.single_flight(key, compute, ttl=30, error_ttl=30)}))
    except ValueError as exc:
        print(json.dumps({"error": str(exc)}))


def test_single_flight_computes_once_across_processes(where, tmp_path):
    kind, location = where
    key = unique("tickets?status=open")
    _, outputs = run_children(flight_child, [[kind, location, tmp_path, key, "ok"]] * 6)
    calls = (tmp_path / "calls").read_text().split()
    # Everyone had the one computation's answer (none gave up waiting for it), and none
    # computed again. How soon the waiters had it is a figure of `make bench`.
    assert len(calls) == 1
    assert outputs == [{"value": {"computed_by": int(calls[0])}}] * 6


def test_a_cached_error_reaches_the_waiters_without_a_second_call(where, tmp_path):
    kind, location = where
    key = unique("tickets?status=open")
    go, outputs = run_children(flight_child, [[kind, location, tmp_path, key, "fail"]] * 4)
    calls = (tmp_path / "calls").read_text().split()
    assert len(calls) == 1
    assert outputs == [{"error": f"upstream failed for {calls[0]}"}] * 4


class Unavailable(Exception):
    def __init__(self, *args, retry_after=None):
        super().__init__(*args)
        self.retry_after = retry_after


def test_single_flight_in_process(settings, tmp_path):
    settings.PACING_DIR = tmp_path / "pacing"
    calls = []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    key = unique("types")
    assert budget.cached(key) is None
    assert budget.cached(key, default="absent") == "absent"
    assert budget.single_flight(key, compute, ttl=60) == {"n": 1}
    assert budget.single_flight(key, compute, ttl=60) == {"n": 1}
    assert budget.cached(key) == {"n": 1}
    assert len(calls) == 1
    budget.forget(key)
    assert budget.single_flight(key, compute, ttl=60) == {"n": 2}
    # ttl=0: no caching at all.
    assert budget.single_flight(key + "-nocache", compute, ttl=0) == {"n": 3}
    assert budget.single_flight(key + "-nocache", compute, ttl=0) == {"n": 4}
    assert not list((tmp_path / "pacing").glob("lock-*"))


def test_a_cached_error_expires_after_error_ttl(settings, tmp_path):
    settings.PACING_DIR = tmp_path / "pacing"
    calls = []

    def failing():
        calls.append(1)
        raise Unavailable("store down", retry_after=7)

    key = unique("tickets")
    for _ in range(3):
        with pytest.raises(Unavailable) as raised:
            budget.single_flight(key, failing, ttl=60, error_ttl=0.3)
        assert raised.value.retry_after == 7
    assert len(calls) == 1
    assert budget.cached(key) is None  # an error is not a value
    time.sleep(0.35)
    assert budget.single_flight(key, lambda: "fresh", ttl=60) == "fresh"


def test_an_unpicklable_error_is_still_raised(settings, tmp_path):
    settings.PACING_DIR = tmp_path / "pacing"

    def failing():
        raise Unavailable(threading.Lock())  # cannot be pickled into the cache

    with pytest.raises(Unavailable):
        budget.single_flight(unique("tickets"), failing, ttl=60)


def test_single_flight_waiter_times_out(settings, tmp_path):
    settings.PACING_DIR = tmp_path / "pacing"
    key = unique("tickets")
    with budget.backend().lock("flight:" + key, timeout=1, ttl=10), pytest.raises(WaitTimeout):
        budget.single_flight(key, lambda: "never", ttl=60, wait_timeout=0.2)


# --- Settings ------------------------------------------------------------------------------


def test_backend_follows_the_settings(settings, tmp_path, redis_url):  # noqa: F811
    settings.PACING_DIR = tmp_path / "pacing"
    settings.REDIS_URL = ""
    local = budget.backend()
    assert isinstance(local, LocalBackend)
    assert local.directory == tmp_path / "pacing"
    assert budget.backend() is local  # cached per process
    budget.wait_for_slot("a token's key")  # the directory is made on first use, private
    assert (tmp_path / "pacing").stat().st_mode & 0o777 == 0o700

    settings.REDIS_URL = redis_url
    assert isinstance(budget.backend(), RedisBackend)
    settings.REDIS_URL = ""
    budget.reset_backend()
    assert isinstance(budget.backend(), LocalBackend)


def test_wait_for_slot_uses_the_settings(settings, tmp_path):
    settings.PACING_DIR = tmp_path / "pacing"
    settings.STORE_RATE_LIMIT = 2
    settings.STORE_RATE_WINDOW = 5.0
    settings.STORE_RATE_MARGIN = 0.0
    settings.STORE_WAIT_TIMEOUT = 0.2
    budget.wait_for_slot("token-hash")
    budget.wait_for_slot("token-hash")
    with pytest.raises(WaitTimeout):
        budget.wait_for_slot("token-hash")
    settings.STORE_RATE_LIMIT = 0
    assert budget.wait_for_slot("token-hash") == 0.0


def test_the_token_never_reaches_a_file_name_or_a_redis_key(settings, tmp_path, redis_url):  # noqa: F811
    settings.PACING_DIR = tmp_path / "pacing"
    budget.wait_for_slot(SECRET)
    with budget.backend().lock(SECRET, timeout=1):
        names = [path.name for path in (tmp_path / "pacing").iterdir()]
    assert names and not any(SECRET in name for name in names)

    backend = RedisBackend(redis_url)
    backend.acquire_slot(SECRET, 4, 1.0, 0.1, 1.0)
    with backend.lock(SECRET, timeout=1):
        keys = [key.decode() for key in backend.client.keys("*")]
    assert backend.rate_key(SECRET) in keys
    assert backend.lock_key(SECRET) in keys
    assert backend.rate_key(SECRET).startswith("tickets-dashboard:budget:rate:v")
    assert not any(SECRET in key for key in keys)


# --- Attempts (the sign-in throttle's counts) ----------------------------------------------


def attempt_child():
    """In a child process: one attempt under a key, counted atomically (as under way, given a
    hold); prints whether it was admitted."""
    kind, location, key, free, *hold = sys.argv[1:]
    backend = make_backend(kind, location)
    if kind == "redis":
        backend.client.ping()
    print("ready", flush=True)
    sys.stdin.readline()
    if hold:  # counted as under way for that many seconds
        wait, _, under_way = backend.hold_attempt(key, 900, int(free), None, float(*hold))
    else:
        (wait, _), under_way = backend.admit_attempt(key, 900, int(free)), False
    print(json.dumps({"admitted": wait == 0, "wait": wait, "under_way": under_way}))


def test_attempts_are_counted_atomically_across_processes(where):
    kind, location = where
    key = unique("signin")
    _, outputs = run_children(attempt_child, [[kind, location, key, 5]] * 14)
    assert sum(out["admitted"] for out in outputs) == 5
    assert all(895 < out["wait"] <= 900 for out in outputs if not out["admitted"])


def test_attempts_under_way_are_counted_atomically_and_say_so(where):
    kind, location = where
    key = unique("signin")
    _, outputs = run_children(attempt_child, [[kind, location, key, 5, 45]] * 14)
    assert sum(out["admitted"] for out in outputs) == 5
    refused = [out for out in outputs if not out["admitted"]]
    assert len(refused) == 9 and all(out["under_way"] for out in refused)


def test_an_attempt_under_way_is_kept_or_given_back_as_it_ends(where):
    backend = make_backend(*where)
    key = unique("signin")
    _, first, _ = backend.hold_attempt(key, 900, 2, None, 45)
    _, second, _ = backend.hold_attempt(key, 900, 2, None, 45)
    assert backend.hold_attempt(key, 900, 2, None, 45) == (pytest.approx(900, abs=5), None, True)
    backend.keep_attempt(key, first)  # a failure: one left under way, so still worth waiting
    assert backend.hold_attempt(key, 900, 2, None, 45)[2] is True
    backend.forget_attempt(key, second)  # a success gives its place back
    wait, third, _ = backend.hold_attempt(key, 900, 2, None, 45)
    assert wait == 0
    backend.keep_attempt(key, third)
    wait, token, under_way = backend.hold_attempt(key, 900, 2, None, 45)
    assert (token, under_way) == (None, False) and 895 < wait <= 900  # two failures: refused
    assert backend.count_attempts(key, 900) == 2


def test_an_attempt_under_way_past_its_hold_counts_as_kept(where):
    backend = make_backend(*where)
    key = unique("signin")
    backend.hold_attempt(key, 900, 1, None, 0)  # a hold of 0 s: its process may have died
    wait, token, under_way = backend.hold_attempt(key, 900, 1, None, 0)
    assert wait > 0 and under_way is False


def test_clearing_forgets_what_was_kept_and_not_what_is_under_way(where):
    backend = make_backend(*where)
    key = unique("signin")
    _, kept, _ = backend.hold_attempt(key, 900, 3, None, 45)
    backend.keep_attempt(key, kept)
    backend.hold_attempt(key, 900, 3, None, 45)
    backend.hold_attempt(key, 900, 3, None, 45)
    backend.clear_attempts(key)
    assert backend.count_attempts(key, 900) == 2
    assert backend.hold_attempt(key, 900, 3, None, 45)[0] == 0
    assert backend.hold_attempt(key, 900, 3, None, 45)[2] is True


def test_the_growing_delay_waits_only_for_attempts_under_way():
    under_way = [(0.0, False), (1.0, True), (2.0, True)]
    assert budget.limiter.held_attempt_wait(under_way, 2.0, 900, 2, 30) == (2.0, True)
    # One failure a moment ago is enough to wait a second after it, whatever is under way.
    latest = [(1.5, False), (1.8, True)]
    assert budget.limiter.held_attempt_wait(latest, 2.0, 900, 1, 30) == (pytest.approx(1.8), False)
    assert budget.limiter.held_attempt_wait(under_way[:1], 2.0, 900, 2, 30) == (0.0, False)


def test_a_growing_delay_doubles_up_to_its_cap(where):
    backend = make_backend(*where)
    key = unique("signin")
    for _ in range(2):
        assert backend.admit_attempt(key, 900, 2, cap=3)[0] == 0
    wait, token = backend.admit_attempt(key, 900, 2, cap=3)
    assert token is None and 0.5 < wait <= 1.0  # one second after the latest
    assert budget.attempt_wait([0.0, 1.0, 2.0, 3.0], 3.0, 900, 2, 3) == 3.0  # 4 s, capped at 3
    assert budget.attempt_wait([0.0, 1.0, 2.0], 2.0, 900, 2, 30) == 2.0


def test_a_forgotten_attempt_frees_its_place(where):
    backend = make_backend(*where)
    key = unique("signin")
    _, first = backend.admit_attempt(key, 900, 2)
    backend.admit_attempt(key, 900, 2)
    assert backend.admit_attempt(key, 900, 2)[0] > 0
    backend.forget_attempt(key, first)
    assert backend.admit_attempt(key, 900, 2)[0] == 0
    backend.clear_attempts(key)
    assert backend.admit_attempt(key, 900, 2)[0] == 0
