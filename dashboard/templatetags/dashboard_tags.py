from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from dashboard import store, wall

register = template.Library()

LABELS = {
    "customer_account": "Customer account",
    "follow_up": "Follow-up",
    "api": "API",
}


@register.filter
def label(value):
    """A human label for an API enum value; unknown values are shown as they come."""
    if value is None or value == "":
        return "—"
    value = str(value)
    return LABELS.get(value, value.replace("_", " ").capitalize())


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
def when(moment, relative=True):
    """A <time> showing relative time, with the absolute time on hover."""
    if moment is None:
        return "—"
    absolute = date_filter(moment, "D j M Y, H:i T")
    shown = naturaltime(moment) if relative else absolute
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', moment.isoformat(), absolute, shown
    )


@register.simple_tag
def page_url(base, filters_qs, cursor):
    """A list URL that carries the current filters plus a cursor."""
    query = f"{filters_qs}&" if filters_qs else ""
    return f"{base}?{query}{urlencode({'cursor': cursor})}"


@register.filter
def shown(counts, number):
    return counts.shown(number)


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
