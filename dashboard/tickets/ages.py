"""How long tickets have waited: one measure for the list's rows, the wall's colours and the
count walk's backlog bars, and the days the count walk tallies."""

from datetime import UTC, datetime

HOUR = 3600
# (upper age in seconds, the bar's label, the same in words); the last bucket has no end.
AGE_BUCKETS = (
    (4 * HOUR, "Under 4 h", "under 4 hours"),
    (24 * HOUR, "4 to 24 h", "4 to 24 hours"),
    (72 * HOUR, "1 to 3 days", "1 to 3 days"),
    (None, "Older", "older than 3 days"),
)
DAYS = 14  # tickets created per day are tallied for this many days, to today


def age_bucket(age_seconds):
    """Which backlog bar a ticket of this age belongs to."""
    for index, (upper, _, _) in enumerate(AGE_BUCKETS):
        if upper is None or age_seconds < upper:
            return index
    raise AssertionError("the last bucket has no end")  # pragma: no cover


def age_seconds(ticket, now=None):
    """How long ago `ticket` was created, in seconds (None when the store did not say)."""
    if ticket.created_at is None:
        return None
    return ((now or datetime.now(UTC)) - ticket.created_at).total_seconds()


def standing(seconds, ageing, overdue):
    """ "overdue", "ageing" or "ok": an age in seconds against the two limits, in seconds."""
    if seconds >= overdue:
        return "overdue"
    if seconds >= ageing:
        return "ageing"
    return "ok"
