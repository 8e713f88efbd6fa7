"""Saved views' counts: the one door through which the sidebar asks how many tickets a filter
holds. Behind it is the shared count walk (`counts`), keyed by the store and the canonical
filter, so every view, person and worker on one filter shares one walk, in the background lane,
refreshed about once a minute while someone's sidebar asks.

Nothing here calls the store: a count is what the shared cache knows, and a count that is due
takes its next step in this process's background thread.
"""

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

    @property
    def settled(self):
        """A number to read as it is: exact, or past the cap."""
        return self.complete or self.capped

    @property
    def label(self):
        return counts.count_label(self.total, self.complete, self.capped, self.cap)


def count_for(query, start=True):
    """What is known of `query`'s count, or None when counts are off or better left unsaid
    (the store failed the walk lately, or the shared state is unavailable). With `start`, a
    walk that is due takes its next step in the background."""
    if not settings.STORE_VIEW_COUNTS:
        return None
    known = counts.total(query.filters, start=start)
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
    )


def counting_on():
    """Whether the sidebar shows counts (and so asks for them again)."""
    return settings.STORE_VIEW_COUNTS
