"""The store's webhook deliveries: each ticket change POSTed, signed, to every active webhook
that wants its event, from a background thread, never from the request that made the change.

As the store's docs describe it: only a `200` counts as received; anything else, or no answer,
is tried again later with exponential backoff (`retry_base` seconds doubled each time, at most
`retry_cap`, `max_attempts` tries in all), and a `410` disables the webhook. And as a real
store does now and then, a delivery is sent twice (the same `event_id`, body and signature;
`repeat_rate`) or held back so that later ones overtake it (`hold_rate`, `hold_seconds`), both
drawn from a seeded generator so a run can be repeated.
"""

import heapq
import http.client
import itertools
import random
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, replace
from urllib.parse import urlsplit

from .webhooks import SIGNATURE_HEADER, WebhookRegistry, body_of, envelope, sign

LOG_SIZE = 1000


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_base: float = 1.0  # seconds before the first retry, doubled for each one after
    retry_cap: float = 60.0  # the longest wait between two tries
    max_attempts: int = 8
    timeout: float = 20.0  # seconds the target has to answer, as on the store
    repeat_rate: float = 0.05  # chance a delivered event is sent once more
    hold_rate: float = 0.05  # chance an event waits `hold_seconds` and arrives out of order
    hold_seconds: float = 3.0
    seed: int = 29

    def validated(self) -> "DeliveryPolicy":
        for name in ("retry_base", "retry_cap", "timeout", "hold_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number of seconds, 0 or more")
        for name in ("repeat_rate", "hold_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability, from 0 to 1")
        for name in ("max_attempts", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number, 1 or more")
        return self


@dataclass
class Delivery:
    webhook_id: int
    target: str
    event_id: str
    event_type: str
    ticket_id: int
    body: bytes
    signature: str
    attempt: int = 0  # tries made so far
    repeat: bool = False  # a second sending of a delivered event


class Dispatcher:
    """Queues a delivery per webhook for each ticket change (`ticket_changed`, a listener of
    `SandboxData`) and sends them from one background thread, oldest due first."""

    def __init__(self, registry: WebhookRegistry, policy: DeliveryPolicy | None = None):
        self.registry = registry
        self._defaults = (policy or DeliveryPolicy()).validated()
        self._policy = self._defaults
        self._seed_generators()
        self._order = itertools.count()
        self._queue: list[tuple[float, int, Delivery]] = []
        self._in_flight = 0
        self._counts: Counter = Counter()
        self._log: deque[dict] = deque(maxlen=LOG_SIZE)
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- Life cycle --

    def start(self) -> None:
        with self._changed:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, daemon=True, name="deliveries")
        self._thread.start()

    def stop(self) -> None:
        """Stop sending; what is still queued is dropped."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self._policy.timeout + 5)

    def reset(self) -> None:
        """Nothing queued, nothing counted, the constructor's policy and seed."""
        with self._changed:
            self._queue.clear()
            self._counts.clear()
            self._log.clear()
            self._policy = self._defaults
            self._seed_generators()
            self._changed.notify_all()

    def configure(self, **changes) -> dict:
        """Change the delivery policy; returns it."""
        unknown = set(changes) - set(asdict(self._defaults))
        if unknown:
            raise ValueError(f"Unknown delivery setting(s): {', '.join(sorted(unknown))}")
        with self._changed:
            self._policy = replace(self._policy, **changes).validated()
            if "seed" in changes:
                self._seed_generators()
            return asdict(self._policy)

    def policy(self) -> dict:
        return asdict(self._policy)

    def _seed_generators(self) -> None:
        # One generator per decision, each drawn from in an order that timing cannot change:
        # hold-backs as changes are made, repeats as deliveries succeed.
        self._holds = random.Random(self._policy.seed)
        self._repeats = random.Random(self._policy.seed + 1)

    # -- Queueing --

    def ticket_changed(self, event_type: str, ticket: dict) -> None:
        """Queue `event_type` on `ticket` for each webhook that wants it. Quick: the request
        that made the change only writes the bodies."""
        for hook in self.registry.subscribed(event_type):
            payload = envelope(hook, event_type, ticket)
            body = body_of(payload)
            delivery = Delivery(
                webhook_id=hook["id"],
                target=hook["target"],
                event_id=payload["event_id"],
                event_type=event_type,
                ticket_id=ticket["id"],
                body=body,
                signature=sign(body, hook["secret_key"]),
            )
            with self._changed:
                self._counts["queued"] += 1
                wait = 0.0
                if self._holds.random() < self._policy.hold_rate:
                    self._counts["held_back"] += 1
                    wait = self._policy.hold_seconds
                self._push(delivery, wait)

    def _push(self, delivery: Delivery, wait: float) -> None:
        heapq.heappush(self._queue, (time.monotonic() + wait, next(self._order), delivery))
        self._changed.notify_all()

    # -- What happened --

    def stats(self) -> dict:
        """Counts since the last reset: `queued` events, `sent` POSTs, `delivered` (answered
        200), `failed` tries, `retried`, `given_up`, `repeated`, `held_back`, `disabled`
        webhooks (410), `dropped` (their webhook gone or off), and `pending` still to send."""
        names = ("queued", "sent", "delivered", "failed", "retried", "given_up", "repeated",
                 "held_back", "disabled", "dropped")  # fmt: skip
        with self._changed:
            counts = {name: self._counts[name] for name in names}
            return {**counts, "pending": len(self._queue) + self._in_flight}

    def log(self) -> list[dict]:
        """The latest tries, oldest first: event, webhook, attempt, and the answer's status
        (None when there was none, with the error)."""
        with self._changed:
            return list(self._log)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or being sent; False if `timeout` passed first."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._queue and not self._in_flight, timeout=timeout
            )

    # -- Sending --

    def _run(self) -> None:
        while True:
            with self._changed:
                delivery = self._next_due()
                if delivery is None:
                    return
                self._in_flight += 1
                policy = self._policy
            try:
                self._deliver(delivery, policy)
            finally:
                with self._changed:
                    self._in_flight -= 1
                    self._changed.notify_all()

    def _next_due(self) -> Delivery | None:
        """The next delivery once it is due (the condition held), or None when stopping."""
        while not self._stopping:
            if self._queue:
                due = self._queue[0][0] - time.monotonic()
                if due <= 0:
                    return heapq.heappop(self._queue)[2]
                self._changed.wait(due)
            else:
                self._changed.wait()
        return None

    def _deliver(self, delivery: Delivery, policy: DeliveryPolicy) -> None:
        if not self.registry.is_active(delivery.webhook_id):
            with self._changed:
                self._counts["dropped"] += 1
            return
        status, error = _post(delivery, policy.timeout)
        with self._changed:
            delivery.attempt += 1
            self._counts["sent"] += 1
            self._log.append(
                {
                    "attempt": delivery.attempt,
                    "error": error,
                    "event_id": delivery.event_id,
                    "event_type": delivery.event_type,
                    "repeat": delivery.repeat,
                    "status": status,
                    "ticket": delivery.ticket_id,
                    "webhook": delivery.webhook_id,
                }
            )
            if status == 200:
                self._delivered(delivery, policy)
            elif status == 410:
                self._counts["failed"] += 1
                self._counts["disabled"] += 1
                self.registry.disable(delivery.webhook_id)
            else:
                self._failed(delivery, policy)

    def _delivered(self, delivery: Delivery, policy: DeliveryPolicy) -> None:
        self._counts["delivered"] += 1
        if not delivery.repeat and self._repeats.random() < policy.repeat_rate:
            self._counts["repeated"] += 1
            again = replace(delivery, attempt=0, repeat=True)
            self._push(again, self._repeats.uniform(0, policy.hold_seconds))

    def _failed(self, delivery: Delivery, policy: DeliveryPolicy) -> None:
        self._counts["failed"] += 1
        if delivery.attempt >= policy.max_attempts:
            self._counts["given_up"] += 1
            self.registry.warn(delivery.webhook_id)
            return
        self._counts["retried"] += 1
        wait = min(policy.retry_cap, policy.retry_base * 2 ** (delivery.attempt - 1))
        self._push(delivery, wait)


def _post(delivery: Delivery, timeout: float) -> tuple[int | None, str | None]:
    """POST one delivery, redirects not followed; (status, None) or (None, what went wrong)."""
    parts = urlsplit(delivery.target)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    connection = kind(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request(
            "POST",
            path,
            body=delivery.body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: delivery.signature,
                "User-Agent": "SandboxStore-Webhooks/1.0",
            },
        )
        response = connection.getresponse()
        response.read()
        return response.status, None
    except (OSError, http.client.HTTPException) as error:
        return None, f"{type(error).__name__}: {error}"
    finally:
        connection.close()
