"""How far the index can be believed: whether a whole walk of the store's tickets has filled
it, whether the store's webhooks keep it current, and as of when it holds what it holds.

- With webhooks (`NEXT_WEBHOOK_SECRET` set) and one whole walk done, the index is live: every
  count reads it, with no time to show.
- Without webhooks, the walks are its only source: it answers while its last walk is younger
  than `INDEX_RESYNC_HOURS`, and every number read from it says "as of" that walk's end.
- Before its first whole walk (or for another store than the one it walked) it answers
  nothing, and counts walk the store's cursor as before.

Each process reads the index's state at most once every `CHECK_SECONDS`: it is read on every
page, and changes a few times a day.
"""

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from dashboard.models import IndexSync

CHECK_SECONDS = 5.0


@dataclass(frozen=True)
class Freshness:
    complete: bool  # a whole walk of this store's tickets has filled the index
    live: bool  # the store's webhooks keep it current
    as_of: datetime | None  # when the last whole walk ended

    @property
    def answers(self) -> bool:
        """Whether counts read the index rather than walking the store."""
        if not self.complete or self.as_of is None:
            return False
        return self.live or timezone.now() - self.as_of < resync_after()

    @property
    def shown_as_of(self) -> datetime | None:
        """The time a number read from the index should show: none when it is live."""
        return None if self.live else self.as_of


NOTHING = Freshness(complete=False, live=False, as_of=None)

_lock = threading.Lock()
_kept: tuple[float, Freshness] | None = None


def store_name() -> str:
    """A hash naming the store the index describes (its address, never the token)."""
    return hashlib.sha256(settings.NEXT_API_BASE_URL.encode()).hexdigest()[:24]


def resync_after() -> timedelta:
    return timedelta(hours=settings.INDEX_RESYNC_HOURS)


def current() -> Freshness:
    global _kept
    now = time.monotonic()
    with _lock:
        if _kept is not None and now - _kept[0] < CHECK_SECONDS:
            return _kept[1]
    found = read()
    with _lock:
        _kept = (now, found)
    return found


def last_read() -> Freshness:
    """What this process read last, however long ago (NOTHING before its first read), reading
    nothing: for threads that are nobody's request (the store's), which should not open a
    database connection of their own for it. Every list page reads it anew (`current`)."""
    with _lock:
        return _kept[1] if _kept is not None else NOTHING


def read() -> Freshness:
    """The index's state from the database; NOTHING when the database cannot say."""
    try:
        sync = IndexSync.objects.filter(store=store_name()).first()
    except DatabaseError:
        return NOTHING
    if sync is None or sync.finished_at is None:
        return NOTHING
    return Freshness(complete=True, live=bool(settings.NEXT_WEBHOOK_SECRET), as_of=sync.finished_at)


def forget() -> None:
    """Read the state again on the next ask (after a walk ends; in tests)."""
    global _kept
    with _lock:
        _kept = None
