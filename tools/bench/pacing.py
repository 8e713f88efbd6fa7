"""The shared state alone, on files and on Redis: how promptly the request budget, the locks and
the single flight answer, outside gunicorn and the store.

The unit tests (`tests/test_pacing.py`, `tests/test_lanes.py`) hold what these primitives
must do whatever the machine's load: no window holds too many calls, a waiter sleeps as long
as it is told and looks again, a lock is free once its holder is gone. How fast they do it
depends on the machine, so those figures are measured here, each beside its target:

- the limiter: several processes taking slots of one budget at once, from the go to the last
  slot, against the time the budget itself requires;
- a wait for a slot: how long past the slot's freeing, and the CPU the waiting thread spends;
- giving up: a wait that cannot succeed in time, and a lock held elsewhere past its timeout;
- a dead holder's lock: how soon it is taken after its holder is killed;
- single flight: several processes asking for one slow computation at once, to the last
  answer;
- the two lanes: a person's longest wait beside a flood of background work, and background
  work's wait once a person who gave up has gone.

Child processes run `_child` (`python -c`, its arguments in `sys.argv`): each reports
"ready", waits for "go" on stdin so that they start together, and prints JSON. Every child is
stopped by its pid on the way out.

`.venv/bin/python -m tools.bench.pacing` runs this phase alone (about half a minute).
"""

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tools.processes import ROOT, RedisServer, child_env

from .report import Check, Table

# The limiter: PROCESSES x SLOTS_EACH slots at RATE per WINDOW (+ MARGIN) seconds.
PROCESSES, SLOTS_EACH, RATE, WINDOW, MARGIN = 4, 5, 4, 0.5, 0.05
LIMITER_NEEDED = (PROCESSES * SLOTS_EACH // RATE - 1) * (WINDOW + MARGIN)
LIMITER_SLACK = 0.6
# A wait for a slot that frees WAIT_WINDOW + MARGIN seconds after the one before it.
WAIT_WINDOW = 0.4
TARGET_WAITED = 0.6
TARGET_WAIT_CPU = 0.1
# Giving up: a slot wait with this timeout, and a lock with LOCK_TIMEOUT.
GIVE_UP_TIMEOUT = 0.3
LOCK_TIMEOUT = 0.2
TARGET_LOCK_GIVE_UP = (0.15, 0.5)
# A lock whose holder is killed: at once on files, after HOLDER_TTL on Redis.
HOLDER_TTL = 0.5
TARGET_DEAD_HOLDER = {"files": 0.1, "Redis": HOLDER_TTL + 0.2}
# Single flight: FLIGHT_PROCESSES ask at once for a computation of FLIGHT_SECONDS.
FLIGHT_PROCESSES, FLIGHT_SECONDS = 6, 0.5
TARGET_FLIGHT = FLIGHT_SECONDS + 2.0
# The lanes: FLOODS processes of background work for FLOOD_SECONDS, beside a person who comes
# back every PERSON_EVERY seconds (by then their own last call has left the window).
FLOODS, FLOOD_SECONDS, PERSON_CALLS, PERSON_EVERY = 3, 6, 5, 1.2
TARGET_PERSON_WAIT = 0.1
TARGET_AFTER_GIVE_UP = 0.1

CHILD_TIMEOUT = 40


@dataclass
class PacingResult:
    name: str  # "files" or "Redis"
    limiter_last: float  # seconds from the go to the last slot
    waited: float  # seconds a caller waited for a slot that freed after WAIT_WINDOW + MARGIN
    wait_cpu: float  # CPU seconds its thread spent meanwhile
    give_up: float  # seconds until a slot wait that cannot succeed in time says so
    lock_give_up: float  # seconds until a lock held elsewhere is given up
    dead_holder: float  # seconds until a killed holder's lock is taken
    flight_last: float  # seconds from the go to the last answer
    person_worst: float  # a person's longest wait for a slot beside the flood
    background_calls: int  # slots the flood took meanwhile
    after_give_up: float  # background's wait once a person who gave up has gone


def _backend(kind, location):
    from dashboard.budget.files import LocalBackend
    from dashboard.budget.redis import RedisBackend

    return RedisBackend(location) if kind == "redis" else LocalBackend(location)


def _unique(name):
    return f"bench-{name}-{uuid.uuid4().hex}"


# --- Children ----------------------------------------------------------------------------------


def _child():
    """In a child process: one part of a measurement, started with the others on "go"."""
    what, kind, location, key, *args = sys.argv[1:]
    if what == "flight":
        _flight_child(kind, location, key, *args)
        return
    from dashboard.budget import BACKGROUND, INTERACTIVE

    backend = _backend(kind, location)
    if kind == "redis":
        backend.client.ping()
    print("ready", flush=True)
    sys.stdin.readline()
    if what == "slots":
        taken = []
        for _ in range(int(args[0])):
            backend.acquire_slot(key, RATE, WINDOW, MARGIN, 10.0)
            taken.append(time.time())
        print(json.dumps(taken))
    elif what == "flood":
        calls, stop = 0, time.monotonic() + FLOOD_SECONDS
        while time.monotonic() < stop:
            backend.acquire_slot(key, RATE, WINDOW, MARGIN, 10.0, BACKGROUND, RATE - 1)
            calls += 1
        print(json.dumps(calls))
    elif what == "person":
        waits = []
        for _ in range(PERSON_CALLS):
            start = time.monotonic()
            waits.append(backend.acquire_slot(key, RATE, WINDOW, MARGIN, 10.0, INTERACTIVE))
            time.sleep(max(0.0, start + PERSON_EVERY - time.monotonic()))
        print(json.dumps(waits))
    elif what == "holder":
        with backend.lock(key, timeout=5, ttl=HOLDER_TTL):
            print("held", flush=True)
            time.sleep(60)


def configure_flight_child(kind, location, tmp):
    """Django settings for a child process that shares single flight with its siblings: the
    cache and budget on Redis at `location`, or in files (the budget's at `location`)."""
    import django
    from django.conf import settings

    if kind == "redis":
        cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location}
    else:
        cache = {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.path.join(tmp, "cache"),
        }
    settings.configure(
        CACHES={"default": cache},
        REDIS_URL=location if kind == "redis" else "",
        PACING_DIR=location if kind == "local" else os.path.join(tmp, "unused"),
        STORE_WAIT_TIMEOUT=10.0,
    )
    django.setup()


def _flight_child(kind, location, key, tmp):
    """Ask `single_flight` for `key` with the others; the one that computes notes its pid."""
    configure_flight_child(kind, location, tmp)
    from dashboard import budget

    def compute():
        with open(os.path.join(tmp, "calls"), "a") as calls:
            fcntl.flock(calls, fcntl.LOCK_EX)
            calls.write(f"{os.getpid()}\n")
        time.sleep(FLIGHT_SECONDS)
        return os.getpid()

    budget.backend()
    print("ready", flush=True)
    sys.stdin.readline()
    budget.single_flight(key, compute, ttl=30)
    print(json.dumps(time.time()))


def _start(argv):
    return subprocess.Popen(
        [sys.executable, "-c", "from tools.bench.pacing import _child; _child()", *map(str, argv)],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(children):
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


def _together(argvs):
    """One child per argv, released together: (the go's time, their parsed outputs)."""
    children = []
    try:
        children = [_start(argv) for argv in argvs]
        for child in children:
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a pacing child did not start:\n{child.stderr.read()}")
        go = time.time()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = []
        for child in children:
            out, err = child.communicate(timeout=CHILD_TIMEOUT)
            if child.returncode != 0:
                raise RuntimeError(f"a pacing child failed:\n{err}")
            outputs.append(json.loads(out))
        return go, outputs
    finally:
        _stop(children)


# --- The measurements ------------------------------------------------------------------------


def _limiter(kind, location):
    go, outputs = _together([["slots", kind, location, _unique("limiter"), SLOTS_EACH]] * PROCESSES)
    return max(t for out in outputs for t in out) - go


def _wait(kind, location):
    backend = _backend(kind, location)
    key = _unique("wait")
    backend.acquire_slot(key, 1, WAIT_WINDOW, MARGIN, 1.0)
    cpu = time.thread_time()
    waited = backend.acquire_slot(key, 1, WAIT_WINDOW, MARGIN, 2.0)
    return waited, time.thread_time() - cpu


def _give_up(kind, location):
    from dashboard.budget import WaitTimeout

    backend = _backend(kind, location)
    key = _unique("give-up")
    backend.acquire_slot(key, 2, 5.0, 0.1, 1.0)
    backend.acquire_slot(key, 2, 5.0, 0.1, 1.0)
    start = time.monotonic()
    with contextlib.suppress(WaitTimeout):
        backend.acquire_slot(key, 2, 5.0, 0.1, GIVE_UP_TIMEOUT)
    return time.monotonic() - start


def _lock_give_up(kind, location):
    from dashboard.budget import WaitTimeout

    backend = _backend(kind, location)
    name = _unique("lock")
    with backend.lock(name, timeout=1.0, ttl=10):
        start = time.monotonic()
        with contextlib.suppress(WaitTimeout), backend.lock(name, timeout=LOCK_TIMEOUT, ttl=10):
            pass
        return time.monotonic() - start


def _dead_holder(kind, location):
    backend = _backend(kind, location)
    name = _unique("held")
    holder = _start(["holder", kind, location, name])
    try:
        if holder.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the lock holder did not start:\n{holder.stderr.read()}")
        holder.stdin.write("go\n")
        holder.stdin.flush()
        if holder.stdout.readline().strip() != "held":
            raise RuntimeError(f"the lock holder did not take the lock:\n{holder.stderr.read()}")
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        start = time.monotonic()
        with backend.lock(name, timeout=5.0, ttl=10):
            return time.monotonic() - start
    finally:
        _stop([holder])


def _flight(kind, location, tmp):
    key = _unique("flight")
    go, answers = _together([["flight", kind, location, key, tmp]] * FLIGHT_PROCESSES)
    calls = (Path(tmp) / "calls").read_text().split()
    if len(calls) != 1:
        raise RuntimeError(f"single flight computed {len(calls)} times, not once")
    return max(answers) - go


def _lanes(kind, location):
    key = _unique("lanes")
    flood = ["flood", kind, location, key]
    _, outputs = _together([flood] * FLOODS + [["person", kind, location, key]])
    return max(outputs[-1]), sum(outputs[:-1])


def _after_give_up(kind, location):
    from dashboard.budget import BACKGROUND, WaitTimeout

    backend = _backend(kind, location)
    key = _unique("gave-up")
    for _ in range(RATE):
        backend.acquire_slot(key, RATE, WINDOW, MARGIN, 1.0)
    with contextlib.suppress(WaitTimeout):
        backend.acquire_slot(key, RATE, WINDOW, MARGIN, 0.01)
    time.sleep(WINDOW + MARGIN)
    return backend.acquire_slot(key, RATE, WINDOW, MARGIN, 1.0, BACKGROUND, RATE - 1)


def measure_one(name, kind, location, tmp):
    waited, wait_cpu = _wait(kind, location)
    person_worst, background_calls = _lanes(kind, location)
    return PacingResult(
        name=name,
        limiter_last=_limiter(kind, location),
        waited=waited,
        wait_cpu=wait_cpu,
        give_up=_give_up(kind, location),
        lock_give_up=_lock_give_up(kind, location),
        dead_holder=_dead_holder(kind, location),
        flight_last=_flight(kind, location, tmp),
        person_worst=person_worst,
        background_calls=background_calls,
        after_give_up=_after_give_up(kind, location),
    )


def measure(root, write=print):
    """Both backends, files under `root` and a throwaway Redis: [files, Redis]."""
    root = Path(root)
    write("Measuring the shared state alone: files ...")
    files = measure_one("files", "local", str(root / "pacing"), _fresh(root / "flight-files"))
    write("Measuring the shared state alone: Redis ...")
    with RedisServer(root / "redis-pacing").start() as redis:
        on_redis = measure_one("Redis", "redis", redis.url, _fresh(root / "flight-redis"))
    return [files, on_redis]


def _fresh(directory):
    directory.mkdir(parents=True, exist_ok=True)
    return str(directory)


# --- Table and checks --------------------------------------------------------------------------


MEASURES = (
    (f"limiter: {PROCESSES} processes x {SLOTS_EACH} slots at {RATE} per {WINDOW:g} s, "
     "to the last, s", lambda r: f"{r.limiter_last:.2f}",
     f"<= {LIMITER_NEEDED + LIMITER_SLACK:.2f}"),
    ("  the budget requires, s", lambda r: f"{LIMITER_NEEDED:.2f}", ""),
    (f"wait for a slot freed after {WAIT_WINDOW + MARGIN:g} s, s", lambda r: f"{r.waited:.3f}",
     f"<= {TARGET_WAITED:g}"),
    ("  CPU of the waiting thread, s", lambda r: f"{r.wait_cpu:.4f}", f"< {TARGET_WAIT_CPU:g}"),
    (f"a slot that cannot come within {GIVE_UP_TIMEOUT:g} s: said so after, s",
     lambda r: f"{r.give_up:.4f}", f"< {GIVE_UP_TIMEOUT:g}"),
    (f"a lock held elsewhere, timeout {LOCK_TIMEOUT:g} s: given up after, s",
     lambda r: f"{r.lock_give_up:.3f}",
     f"{TARGET_LOCK_GIVE_UP[0]:g} to {TARGET_LOCK_GIVE_UP[1]:g}"),
    (f"a killed holder's lock (ttl {HOLDER_TTL:g} s) taken after, s",
     lambda r: f"{r.dead_holder:.3f}", lambda r: f"< {TARGET_DEAD_HOLDER[r.name]:g}"),
    (f"single flight: {FLIGHT_PROCESSES} processes, one {FLIGHT_SECONDS:g} s computation, "
     "to the last answer, s", lambda r: f"{r.flight_last:.2f}", f"<= {TARGET_FLIGHT:g}"),
    (f"a person beside {FLOODS} processes of background work: longest wait, s",
     lambda r: f"{r.person_worst:.4f}", f"< {TARGET_PERSON_WAIT:g}"),
    ("  background slots taken meanwhile", lambda r: r.background_calls, ""),
    ("background work once a person gave up: wait, s", lambda r: f"{r.after_give_up:.4f}",
     f"< {TARGET_AFTER_GIVE_UP:g}"),
)  # fmt: skip


def table(results):
    return Table(
        "The shared state alone, outside gunicorn: the request budget, locks and single "
        "flight, on files and on Redis",
        ["measure", *(r.name for r in results), "target"],
        [
            [label, *(value(r) for r in results), _targets(target, results)]
            for label, value, target in MEASURES
        ],
    )


def _targets(target, results):
    if callable(target):
        return ", ".join(f"{r.name} {target(r)}" for r in results)
    return target


def checks(results):
    low, high = TARGET_LOCK_GIVE_UP
    return [
        Check.across(
            "limiter: the last slot within "
            f"{LIMITER_SLACK:g} s of what the budget requires ({LIMITER_NEEDED:.2f} s)",
            results,
            lambda r: f"{r.limiter_last:.2f} s",
            lambda r: r.limiter_last <= LIMITER_NEEDED + LIMITER_SLACK,
        ),
        Check.across(
            f"a wait for a slot: at most {TARGET_WAITED:g} s, under {TARGET_WAIT_CPU:g} s of "
            "CPU (slept, did not spin)",
            results,
            lambda r: f"{r.waited:.3f} s, CPU {r.wait_cpu:.4f} s",
            lambda r: r.waited <= TARGET_WAITED and r.wait_cpu < TARGET_WAIT_CPU,
        ),
        Check.across(
            "giving up: a slot that cannot come in time at once, a lock at its timeout",
            results,
            lambda r: f"{r.give_up:.4f} s, lock {r.lock_give_up:.3f} s",
            lambda r: r.give_up < GIVE_UP_TIMEOUT and low <= r.lock_give_up < high,
        ),
        Check.across(
            "a killed holder's lock is free at once on files, after its ttl on Redis",
            results,
            lambda r: f"{r.dead_holder:.3f} s",
            lambda r: r.dead_holder < TARGET_DEAD_HOLDER[r.name],
        ),
        Check.across(
            f"single flight answers everyone within {TARGET_FLIGHT:g} s",
            results,
            lambda r: f"{r.flight_last:.2f} s",
            lambda r: r.flight_last <= TARGET_FLIGHT,
        ),
        Check.across(
            f"people first: a person waits under {TARGET_PERSON_WAIT:g} s beside background "
            "work, and background work goes at once after a person gave up",
            results,
            lambda r: f"{r.person_worst:.4f} s, after {r.after_give_up:.4f} s",
            lambda r: (
                r.person_worst < TARGET_PERSON_WAIT and r.after_give_up < TARGET_AFTER_GIVE_UP
            ),
        ),
    ]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="bench-pacing-") as directory:
        measured = measure(directory)
    print("\n" + table(measured).text() + "\n")
    for check in checks(measured):
        print(check.line())
