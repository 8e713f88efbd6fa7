"""Saved views' counts: the one door through which the sidebar asks how many tickets a filter
holds. Behind it is the shared count walk (`counts`), keyed by the store and the canonical
filter, so every view, person and worker on one filter shares one walk, in the background lane,
refreshed about once a minute while someone's sidebar asks.

Nothing here calls the store: a count is what the shared cache knows, and a count that is due
takes its next step in this process's background thread. A count the ticket index answers is
read there instead (`Count.exactly`), and its filter is not walked.
"""

import time
from dataclasses import dataclass

from django.conf import settings

from dashboard.tickets import counts


@dataclass(frozen=True)
class Count:
    total: int | None  # None while nothing is counted yet
    complete: bool
    capped: bool
    cap: int
    counting: bool  # a walk is under way or due: worth asking again soon
    as_of: float | None = None  # when the count shown was finished (epoch seconds)
    stale: bool = False  # its refresh is late: the store failed, or the budget was full

    @classmethod
    def exactly(cls, total):
        """A count known exactly without a walk (read from the ticket index)."""
        return cls(total, complete=True, capped=False, cap=counts.CAP, counting=False)

    @property
    def settled(self):
        """A number to read as it is: exact, or past the cap."""
        return self.complete or self.capped

    @property
    def label(self):
        return counts.count_label(self.total, self.complete, self.capped, self.cap)

    @property
    def age_minutes(self):
        return None if self.as_of is None else max(0, int((time.time() - self.as_of) // 60))


def counts_for(queries, start=True):
    """What is known of each of `queries`' counts, read in one go: None for a query of None,
    when counts are off, or when a count is better left unsaid (the store failed the walk
    before it finished once, or the shared state is unavailable). With `start`, walks that are
    due take their next step in the background."""
    if not settings.STORE_VIEW_COUNTS:
        return [None] * len(queries)
    asked = [query.filters for query in queries if query is not None]
    known = iter(counts.totals(asked, start=start))
    return [None if query is None else _count(next(known)) for query in queries]


def _count(known):
    if known is None:
        return None
    counted = known.counts
    if counted is None:
        return Count(None, complete=False, capped=False, cap=counts.CAP, counting=True)
    return Count(
        counted.total,
        complete=counted.complete,
        capped=counted.capped,
        cap=counted.cap,
        counting=known.counting,
        as_of=known.as_of,
        stale=known.stale(),
    )


def counting_on():
    """Whether the sidebar shows counts (and so asks for them again)."""
    return settings.STORE_VIEW_COUNTS
