import functools
from html import escape

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from dashboard import store, wall

register = template.Library()

# One label per value everywhere (filters, rows, walls): the API's own, for channels.
LABELS = store.CHANNELS


@register.filter
def label(value):
    """A human label for an API enum value; unknown values are shown as they come."""
    if value is None or value == "":
        return "—"
    value = str(value)
    return LABELS.get(value, value.replace("_", " ").capitalize())


# Badges and the requester cell, written once here for the thread and the wall, and for the
# list's rows (see ticket_rows.py). Every value from the store is escaped.


@functools.lru_cache(maxsize=256)
def badge_html(classes, value):
    # A handful of statuses and priorities make every badge of every page: each is built once.
    return f'<span class="{classes}-{css_token(value)}">{escape(label(value))}</span>'


def requester_html(ticket):
    """Who asked: their email, with the customer id beside it when the store gave one."""
    if ticket.from_email:
        email = escape(ticket.from_email)
        customer = (
            f'<span class="muted small"> · Customer #{ticket.requester}</span>'
            if ticket.requester is not None
            else ""
        )
        return f'<span class="email" title="{email}">{email}</span>{customer}'
    if ticket.requester is not None:
        return f"Customer #{ticket.requester}"
    return '<span class="muted">Unknown</span>'


@register.simple_tag
def status_badge(ticket):
    return mark_safe(badge_html("badge status status", ticket.status))


@register.simple_tag
def priority_badge(ticket):
    return mark_safe(badge_html("priority priority", ticket.priority))


@register.simple_tag
def requester(ticket):
    return mark_safe(requester_html(ticket))


@register.filter
def css_token(value):
    """An enum value reduced to a safe class-name suffix (unknown values get a neutral style)."""
    value = str(value or "none").lower()
    return "".join(c if c.isalnum() else "-" for c in value)[:40]


@register.filter
def type_name(type_id, ticket_types):
    if type_id is None:
        return "—"
    ticket_type = (ticket_types or {}).get(type_id)
    return ticket_type.name if ticket_type else f"Type #{type_id}"


@register.filter
def agent(person_id, staff):
    """An agent's name when the store told us, else their id."""
    person = (staff or {}).get(person_id)
    return person.name if person else f"Agent #{person_id}"


@register.simple_tag
def when(moment):
    """A <time> showing relative time, with the absolute time on hover."""
    return mark_safe(time_html(moment, timezone.now(), timezone.get_current_timezone()))


def time_html(moment, now, zone):
    """`when`, written out by hand: a list shows fifty of these, and Django's `naturaltime`
    and `date` filters cost most of a page's rendering time."""
    if moment is None:
        return "—"
    local = moment.astimezone(zone)
    absolute = local.strftime("%a %-d %b %Y, %H:%M ") + (local.tzname() or "")
    return f'<time datetime="{moment.isoformat()}" title="{absolute}">{ago(moment, now)}</time>'


AGES = (
    (365 * 86400, "year"),
    (30 * 86400, "month"),
    (86400, "day"),
    (3600, "hour"),
    (60, "minute"),
)


def ago(moment, now):
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now" if seconds > -60 else "in the future"
    for size, unit in AGES:
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"


@register.simple_tag
def page_url(base, filters_qs, cursor):
    """A list URL that carries the current filters plus a cursor."""
    query = f"{filters_qs}&" if filters_qs else ""
    return f"{base}?{query}{urlencode({'cursor': cursor})}"


@register.filter
def shown(counts, number):
    return counts.shown(number)


@register.filter
def is_new(since, ticket):
    """Whether a ticket arrived since the screen's last refresh."""
    return bool(since and ticket.created_at and ticket.created_at > since)


@register.filter
def mask_email(email):
    return wall.mask_email(email)


@register.simple_tag
def wall_age(ticket, options):
    return wall.age_class(ticket, options.warn_hours, options.alert_hours)


@register.simple_tag
def wall_age_label(ticket, options):
    """The ticket's age in words, with "overdue"/"ageing" spelled out (not colour alone)."""
    if ticket.created_at is None:
        return "—"
    age = timezone.now() - ticket.created_at
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 60:
        text = f"{minutes}m"
    elif minutes < 48 * 60:
        text = f"{minutes // 60}h {minutes % 60:02d}m"
    else:
        text = f"{minutes // (24 * 60)}d {minutes % (24 * 60) // 60}h"
    state = wall.age_class(ticket, options.warn_hours, options.alert_hours)
    word = {"age-alert": "overdue", "age-warn": "ageing"}.get(state)
    if word:
        return format_html('{} <span class="age-word">{}</span>', text, word)
    return text


@register.filter
def describe_query(query, ticket_types=None):
    """A filter in words, for a wall's heading: "Status new, open · Priority high"."""
    parts = []
    for name in store.FILTER_NAMES:
        value = getattr(query, name)
        if value in (None, "", ()):
            continue
        values = value if isinstance(value, tuple) else (value,)
        if name == "ticket_type":
            values = (type_name(value, ticket_types),)
        elif name in ("status", "priority", "channel"):
            values = tuple(label(v) for v in values)
        parts.append(f"{DESCRIBED.get(name, name)} {', '.join(str(v) for v in values)}")
    return " · ".join(parts) or "All tickets"


DESCRIBED = {
    "filter_text": "Search",
    "id": "Ticket",
    "subject": "Subject contains",
    "status": "Status",
    "requester": "Requester",
    "assignee": "Assignee",
    "order_number": "Order",
    "product": "Products",
    "tags": "Tags",
    "ticket_type": "Type",
    "priority": "Priority",
    "channel": "Channel",
    "created_from": "From",
    "created_to": "To",
}
