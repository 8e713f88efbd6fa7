"""The two lanes of the shared budget, across real processes, on files and on Redis: people
first, background work in the slots they leave, and the store's ceiling always kept."""

import json
import sys
import time
from itertools import pairwise

from dashboard import budget, store
from dashboard.budget import BACKGROUND, INTERACTIVE, lanes
from dashboard.budget.limiter import WAITER_GRACE
from tests.redis_server import redis_url  # noqa: F401
from tests.test_pacing import (  # noqa: F401
    make_backend,
    most_within,
    run_children,
    tried,
    unique,
    where,
)

RATE, WINDOW, MARGIN = 4, 0.5, 0.05
SPAN = WINDOW + MARGIN


def lane_child():
    """In a child process: take slots in one lane for `seconds`, or `count` times spaced
    `every` seconds apart; print each call's looks at a slot, as `tried` records them."""
    kind, location, key, lane, seconds, count, every = sys.argv[1:]
    backend = make_backend(kind, location)
    if kind == "redis":
        backend.client.ping()
    looks = tried(backend)
    print("ready", flush=True)
    sys.stdin.readline()
    calls, sent = [], []
    stop = time.monotonic() + float(seconds)
    while time.monotonic() < stop and len(sent) < int(count):
        if sent and float(every):
            time.sleep(max(0.0, sent[-1] + float(every) - time.monotonic()))
        before = len(looks)
        backend.acquire_slot(key, RATE, WINDOW, MARGIN, 10.0, lane, RATE - 1)
        sent.append(time.monotonic())
        calls.append(looks[before:])
    print(json.dumps({"lane": lane, "calls": calls}))


def taken(out):
    """When each call of a child took its slot: the clocks around its last look."""
    return [tuple(looks[-1][:2]) for looks in out["calls"]]


def waiting(out):
    """When a person certainly stood marked as waiting: from the end of each look that said
    "wait" to the start of their next look, or to the mark's expiry if that came first."""
    return [
        (after, min(next_before, before + wait + WAITER_GRACE))
        for looks in out["calls"]
        for (before, after, wait), (next_before, _, _) in pairwise(looks)
    ]


def test_a_background_flood_leaves_a_person_a_slot_at_once(where):  # noqa: F811
    kind, location = where
    key = unique("token")
    flood = [kind, location, key, BACKGROUND, 6, 1000, 0]
    # A person comes back every 1.2 s: by then their own last call has left the window, so
    # only the background flood could stand in their way.
    person = [kind, location, key, INTERACTIVE, 6, 5, 1.2]
    _, outputs = run_children(lane_child, [flood, flood, flood, person], timeout=40)
    people = [out for out in outputs if out["lane"] == INTERACTIVE][0]
    background = [span for out in outputs if out["lane"] == BACKGROUND for span in taken(out)]

    assert len(people["calls"]) == 5
    # Each of the person's calls took a slot at its first look: they never waited.
    assert [len(looks) for looks in people["calls"]] == [1] * 5, people["calls"]
    assert len(background) >= 15  # the flood made progress in the slots people left
    assert most_within(background, WINDOW) <= RATE - 1  # a slot always left free
    assert most_within(background + taken(people), WINDOW) <= RATE


def test_background_work_never_takes_a_slot_while_a_person_waits(where):  # noqa: F811
    kind, location = where
    key = unique("token")
    people = [kind, location, key, INTERACTIVE, 3, 1000, 0]
    late = [kind, location, key, BACKGROUND, 3, 1000, 0]
    _, outputs = run_children(lane_child, [people, people, late], timeout=40)
    persons = [out for out in outputs if out["lane"] == INTERACTIVE]
    background = taken([out for out in outputs if out["lane"] == BACKGROUND][0])
    waits = [span for out in persons for span in waiting(out)]

    assert waits  # two people who always want the next slot do wait
    for before, after in background:
        # No background slot was certainly taken while a person stood waiting.
        assert not any(start < before and after < end for start, end in waits), (before, after)
    # The people had the budget: background got only the slots taken before anyone waited,
    # and the odd one between a person's calls.
    assert len(background) < sum(len(out["calls"]) for out in persons) / 3
    assert most_within([span for out in outputs for span in taken(out)], WINDOW) <= RATE


def test_a_person_who_gives_up_stops_counting_as_waiting(where):  # noqa: F811
    kind, location = where
    backend = make_backend(kind, location)
    key = unique("token")
    for _ in range(RATE):
        backend.acquire_slot(key, RATE, WINDOW, MARGIN, 1.0)
    try:
        backend.acquire_slot(key, RATE, WINDOW, MARGIN, 0.01)
    except Exception as exc:
        assert type(exc).__name__ == "WaitTimeout"
    else:
        raise AssertionError("the budget was spent; the call should have timed out")
    # The spent slots leave the window; the person's mark, had it stayed, would not have
    # expired yet (it lasts their wait and WAITER_GRACE more).
    time.sleep(SPAN)
    looks = tried(backend)
    backend.acquire_slot(key, RATE, WINDOW, MARGIN, 1.0, BACKGROUND, RATE - 1)
    # Nobody is waiting any more: background work takes a slot at its first look.
    assert [wait for _, _, wait in looks] == [0]


def test_a_store_call_records_when_it_went_not_when_its_slot_was_taken(monkeypatch):
    # Background work takes its slot before the answer's lock, and may wait for that lock: its
    # request then goes later than the budget recorded it, and the record moves with it.
    monkeypatch.setattr(lanes, "LATE_SEND", 0.05)
    token_key = store.client.identity()
    with budget.background():
        budget.wait_for_slot(token_key)
        taken = time.time()
        time.sleep(0.2)  # the case under test: held up between the slot and the request
        before = time.time()
        with budget.slot_in_hand():
            store.client.get("tickets/", [("page_size", "1")])
    recorded = [
        float(line.split()[0])
        for line in budget.backend().rate_file(token_key).read_text().splitlines()
    ]
    assert len(recorded) == 1 and recorded[0] >= before > taken + 0.15
