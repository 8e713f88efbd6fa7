from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
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


# Badges and the requester cell stand in every row, so they are written here once rather than
# included as partials: an include per cell doubled the time a page of rows takes to render.


@register.simple_tag
def status_badge(ticket):
    return format_html(
        '<span class="badge status status-{}">{}</span>',
        css_token(ticket.status),
        label(ticket.status),
    )


@register.simple_tag
def priority_badge(ticket):
    return format_html(
        '<span class="priority priority-{}">{}</span>',
        css_token(ticket.priority),
        label(ticket.priority),
    )


@register.simple_tag
def requester(ticket):
    """Who asked: their email, with the customer id beside it when the store gave one."""
    if ticket.from_email:
        customer = (
            format_html('<span class="muted small"> · Customer #{}</span>', ticket.requester)
            if ticket.requester is not None
            else ""
        )
        return format_html(
            '<span class="email" title="{0}">{0}</span>{1}', ticket.from_email, customer
        )
    if ticket.requester is not None:
        return format_html("Customer #{}", ticket.requester)
    return mark_safe('<span class="muted">Unknown</span>')


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
    """A <time> showing relative time, with the absolute time on hover.

    Written out by hand: a list renders fifty of these, and Django's `naturaltime` and `date`
    filters cost most of a page's rendering time.
    """
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    absolute = local.strftime("%a %-d %b %Y, %H:%M ") + (local.tzname() or "")
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        absolute,
        ago(moment, timezone.now()),
    )


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


# Django renders each widget and each option through its own template; for the filter row's
# selects and status pills that cost more than the rest of a list page, so they are written
# here directly. Values and labels are escaped by format_html as everywhere else.
SELECTED = mark_safe(" selected")
CHECKED = mark_safe(" checked")


@register.simple_tag
def select_for(field):
    chosen = "" if field.value() is None else str(field.value())
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (value, SELECTED if str(value) == chosen else "", text)
            for value, text in field.field.choices
        ),
    )
    return format_html(
        '<select name="{}" id="{}">{}</select>', field.html_name, field.id_for_label, options
    )


@register.simple_tag
def input_for(field):
    """A text, number or date field's <input>, with its help and first error as its description."""
    widget = field.field.widget
    attrs = {**widget.attrs}
    kind = attrs.pop("type", widget.input_type)
    described_by = [f"{field.auto_id}_helptext"] if field.help_text else []
    if field.errors:
        described_by.append(f"{field.auto_id}_error")
        attrs["aria-invalid"] = "true"
    if described_by:
        attrs["aria-describedby"] = " ".join(described_by)
    value = widget.format_value(field.value())
    pairs = [("type", kind), ("name", field.html_name), ("id", field.auto_id)]
    pairs += [("value", value)] if value not in (None, "") else []
    return format_html("<input{}>", format_html_join("", ' {}="{}"', pairs + sorted(attrs.items())))


@register.simple_tag
def status_pills(field):
    chosen = {str(value) for value in field.value() or ()}
    return format_html_join(
        "\n",
        '<label class="pill status-{}"><input type="checkbox" name="{}" value="{}" id="{}_{}"{}>'
        "<span>{}</span></label>",
        (
            (value, field.html_name, value, field.id_for_label, index,
             CHECKED if value in chosen else "", text)
            for index, (value, text) in enumerate(field.field.choices)
        ),
    )  # fmt: skip
