"""The wall's pictures beside its counts: the SVG from `dashboard.wall.charts`, with headings
and notes that say what was counted."""

from django import template
from django.utils import timezone

from dashboard.wall import charts

register = template.Library()

BACKLOG_TITLE = "Open backlog by age"
CREATED_TITLE = "Created per day, last 14 days"


@register.inclusion_tag("dashboard/_wall_pictures.html")
def wall_pictures(board):
    counts = board.snapshot.counts
    today = timezone.localdate()
    backlog = charts.backlog_of(counts)
    created = charts.daily_of(counts, today)
    return {
        # Rendered by the chart's own template, which escapes every word.
        "backlog_svg": charts.horizontal_bars("backlog-chart", BACKLOG_TITLE, backlog),
        "created_svg": charts.columns("created-chart", CREATED_TITLE, created),
        "backlog_title": BACKLOG_TITLE,
        "created_title": CREATED_TITLE,
        "scope": "this board's tickets" if board.query.params() else "all tickets",
        "counts": counts,
        "uncounted": any(bar.value is None for bar in created),
    }
