"""The wall's pictures beside its counts: the SVG from `wall_charts`, with headings and notes
that say what was counted."""

from django import template
from django.utils import timezone
from django.utils.safestring import mark_safe

from dashboard import wall_charts

register = template.Library()

BACKLOG_TITLE = "Open backlog by age"
CREATED_TITLE = "Created per day, last 14 days"


@register.inclusion_tag("dashboard/_wall_pictures.html")
def wall_pictures(board):
    counts = board.snapshot.counts
    today = timezone.localdate()
    backlog = counts.backlog_bars()
    created = counts.daily_bars(today)
    return {
        # Built from numbers and escaped words only (see wall_charts).
        "backlog_svg": mark_safe(
            wall_charts.horizontal_bars("backlog-chart", BACKLOG_TITLE, backlog)
        ),
        "created_svg": mark_safe(wall_charts.columns("created-chart", CREATED_TITLE, created)),
        "backlog_title": BACKLOG_TITLE,
        "created_title": CREATED_TITLE,
        "scope": "this board's tickets" if board.query.params() else "all tickets",
        "counts": counts,
        "uncounted": any(bar.value is None for bar in created),
    }
