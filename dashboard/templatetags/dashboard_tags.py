from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.template.defaultfilters import date as date_filter
from django.utils.html import format_html
from django.utils.http import urlencode

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
