"""The wall's pictures beside its counts: the SVG from `dashboard.wall.charts`, with headings
and notes that say what was counted."""

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from dashboard.index import attention
from dashboard.wall import charts

register = template.Library()

BACKLOG_TITLE = "Open backlog by age"
WAITING_TITLE = "Waiting on us, by how long"
CREATED_TITLE = "Created per day, last 14 days"


@register.inclusion_tag("dashboard/_wall_pictures.html")
def wall_pictures(board):
    counts = board.snapshot.counts
    today = timezone.localdate()
    waits = board.snapshot.attention
    created = charts.daily_of(counts, today)
    if waits is not None:  # how long tickets have waited on the team, not since created
        backlog_title, backlog = WAITING_TITLE, charts.backlog_bars(waits.by_wait)
    else:
        backlog_title, backlog = BACKLOG_TITLE, charts.backlog_of(counts)
    return {
        # Rendered by the chart's own template, which escapes every word.
        "backlog_svg": charts.horizontal_bars("backlog-chart", backlog_title, backlog),
        "waiting": waits is not None,
        "created_svg": charts.columns("created-chart", CREATED_TITLE, created),
        "backlog_title": backlog_title,
        "created_title": CREATED_TITLE,
        "scope": "this board's tickets" if board.query.params() else "all tickets",
        "counts": counts,
        "uncounted": any(bar.value is None for bar in created),
    }


@register.simple_tag
def wall_wait(ticket, marks, part, now=None):
    """A wall row's wait on the team from the index's `marks` ({id: (since, priority)}, None
    when the index does not answer): its `hooks`, its row `class` or its `label`."""
    since, priority = (marks or {}).get(ticket.id, (None, None))
    now = now or timezone.now()
    overdue = attention.is_overdue(since, priority, now)
    if part == "hooks":
        if since is None:
            return ""
        hooks = f' data-waiting-since="{since.isoformat()}"' + (" data-overdue" if overdue else "")
        return mark_safe(hooks)
    if part == "class":
        return "age-alert" if overdue else ("age-ok" if since else "age-answered")
    if since is None:
        return mark_safe('<span class="age-word">Answered</span>')
    text = attention.waited_text((now - since).total_seconds())
    word = "Overdue" if overdue else "Waiting"
    return format_html('{} <span class="age-word">{}</span>', text, word)
