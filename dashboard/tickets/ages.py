"""How long tickets have waited: the backlog's age bars, and the days the count walk tallies."""

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
