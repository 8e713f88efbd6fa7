"""The two lanes of the shared budget, across real processes, on files and on Redis: people
first, background work in the slots they leave, and the store's ceiling always kept."""

import json
import sys
import time

from dashboard.budget import BACKGROUND, INTERACTIVE
from tests.redis_server import redis_url  # noqa: F401
from tests.test_pacing import make_backend, run_children, unique, where  # noqa: F401

RATE, WINDOW, MARGIN = 4, 0.5, 0.05
SPAN = WINDOW + MARGIN


def lane_child():
    """In a child process: take slots in one lane for `seconds`, or `count` times spaced
    `every` seconds apart; print the send times and the waits."""
    kind, location, key, lane, seconds, count, every = sys.argv[1:]
    backend = make_backend(kind, location)
    if kind == "redis":
        backend.client.ping()
    print("ready", flush=True)
    sys.stdin.readline()
    sent, waits = [], []
    stop = time.monotonic() + float(seconds)
    while time.monotonic() < stop and len(sent) < int(count):
        if sent and float(every):
            time.sleep(max(0.0, sent[-1][1] + float(every) - time.monotonic()))
        waited = backend.acquire_slot(key, RATE, WINDOW, MARGIN, 10.0, lane, RATE - 1)
        sent.append((time.time(), time.monotonic()))
        waits.append(waited)
    print(json.dumps({"lane": lane, "times": [t for t, _ in sent], "waits": waits}))


def most_in_any_span(times):
    times = sorted(times)
    return max(
        (sum(1 for u in times[i:] if u - t < WINDOW) for i, t in enumerate(times)), default=0
    )


def test_a_background_flood_leaves_a_person_a_slot_at_once(where):  # noqa: F811
    kind, location = where
    key = unique("token")
    flood = [kind, location, key, BACKGROUND, 6, 1000, 0]
    # A person comes back every 1.2 s: by then their own last call has left the window, so
    # only the background flood could stand in their way.
    person = [kind, location, key, INTERACTIVE, 6, 5, 1.2]
    _, outputs = run_children(lane_child, [flood, flood, flood, person], timeout=40)
    people = [out for out in outputs if out["lane"] == INTERACTIVE][0]
    background = [t for out in outputs if out["lane"] == BACKGROUND for t in out["times"]]

    assert len(people["times"]) == 5
    assert max(people["waits"]) < 0.1, people["waits"]
    assert len(background) >= 15  # the flood made progress in the slots people left
    assert most_in_any_span(background) <= RATE - 1  # a slot always left free
    assert most_in_any_span(background + people["times"]) <= RATE


def test_background_work_never_takes_a_slot_while_a_person_waits(where):  # noqa: F811
    kind, location = where
    key = unique("token")
    people = [kind, location, key, INTERACTIVE, 3, 1000, 0]
    late = [kind, location, key, BACKGROUND, 3, 1000, 0]
    _, outputs = run_children(lane_child, [people, people, late], timeout=40)
    persons = [out for out in outputs if out["lane"] == INTERACTIVE]
    background = [out for out in outputs if out["lane"] == BACKGROUND][0]["times"]
    waiting = [
        (sent - waited, sent)
        for out in persons
        for sent, waited in zip(out["times"], out["waits"], strict=True)
        if waited > 0.05
    ]

    assert waiting  # two people who always want the next slot do wait
    for moment in background:
        assert not any(start + 0.02 < moment < end - 0.02 for start, end in waiting)
    # The people had the budget: background got only the slots taken before anyone waited,
    # and the odd one between a person's calls.
    assert len(background) < sum(len(out["times"]) for out in persons) / 3
    assert most_in_any_span([t for out in outputs for t in out["times"]]) <= RATE


def test_a_person_who_gives_up_stops_counting_as_waiting(where):  # noqa: F811
    kind, location = where
    backend = make_backend(kind, location)
    key = unique("token")
    for _ in range(RATE):
        backend.acquire_slot(key, RATE, WINDOW, MARGIN, 1.0)
    start = time.monotonic()
    try:
        backend.acquire_slot(key, RATE, WINDOW, MARGIN, 0.01)
    except Exception as exc:
        assert type(exc).__name__ == "WaitTimeout"
    else:
        raise AssertionError("the budget was spent; the call should have timed out")
    time.sleep(SPAN)
    # Nobody is waiting any more: background work goes at once.
    assert backend.acquire_slot(key, RATE, WINDOW, MARGIN, 1.0, BACKGROUND, RATE - 1) < 0.1
    assert time.monotonic() - start < SPAN + 0.3
