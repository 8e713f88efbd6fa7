"""The shared request budget: one access token's requests shared fairly between every process
that uses it, and the shared state that keeps them.

The store allows `STORE_RATE_LIMIT` requests per `STORE_RATE_WINDOW` seconds per token, counted
at arrival over a sliding window, and every gunicorn worker (on one machine, or on several that
share a Redis) sends with the same token. So the budget is kept in one place that all of them
see: files under `PACING_DIR` guarded by `flock` on one machine, or Redis when `REDIS_URL` is
set. The store client (`dashboard.store.client`) calls:

- `wait_for_slot(token_key)` before every HTTP attempt: it blocks until the request may go
  and records it, or raises `WaitTimeout` (at once, for a person inside `waiting_at_most`,
  when the line is longer than that);
- `single_flight(key, compute, ttl)` around each cacheable query, so that concurrent identical
  queries, in any process, make one upstream call and share its answer (or its error);
- `waiting_room()` before a person waits at all: whether this process has room for one more
  person in the line (`STORE_WAITERS`).

`expected_wait(token_key)` reads the line's length alone, recording nothing (what
`wait_for_slot` reads for a person in the look that takes the slot), for tests and diagnostics.

This is the package's public face; the layers above import from here. Its modules:

- `limiter`: the arithmetic of slots and attempts, and the two lanes;
- `lanes`: the caller's lane (`background()`, `interactive()`) and `wait_for_slot`;
- `base`, `files`, `redis`, `backend`: waiting, its two backends, and the process's choice;
- `flight`: `single_flight`, `cached`, `forget`;
- `state`: the shared cache, and `SharedStateError`, the one error its failures become;
- `worker`: each process's background threads, their jobs by priority (`worker.submit`);
- `filecache`: the file cache backend the settings name;
- `config`: every setting read here.
"""

from dashboard.budget import state, worker
from dashboard.budget.backend import backend, reset_backend
from dashboard.budget.config import config
from dashboard.budget.flight import (
    MISSING,
    answered,
    cached,
    cached_key,
    forget,
    peek,
    single_flight,
)
from dashboard.budget.lanes import (
    background,
    current_lane,
    expected_wait,
    interactive,
    interactive_wait,
    people_waiting,
    slot_in_hand,
    slot_used,
    wait_for_slot,
    waiting_at_most,
    waiting_room,
)
from dashboard.budget.limiter import BACKGROUND, INTERACTIVE, WaitTimeout, attempt_wait
from dashboard.budget.state import SharedStateError

__all__ = [
    "BACKGROUND",
    "MISSING",
    "answered",
    "INTERACTIVE",
    "SharedStateError",
    "WaitTimeout",
    "attempt_wait",
    "background",
    "backend",
    "cached",
    "cached_key",
    "config",
    "current_lane",
    "expected_wait",
    "forget",
    "interactive",
    "interactive_wait",
    "peek",
    "people_waiting",
    "reset_backend",
    "single_flight",
    "slot_in_hand",
    "slot_used",
    "state",
    "wait_for_slot",
    "waiting_at_most",
    "waiting_room",
    "worker",
]
