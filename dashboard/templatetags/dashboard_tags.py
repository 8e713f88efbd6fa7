import functools
from datetime import datetime
from html import escape

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from dashboard import bidi, store
from dashboard.tickets import ages, labels, names, quotes, refs
from dashboard.wall import board

register = template.Library()


@register.filter
def label(value):
    """A human label for an API enum value (one label per value everywhere: filters, rows,
    walls, the Excel export); "—" for none."""
    return labels.label(value) or "—"


@register.filter
def bdi(value):
    """People's and the store's words beside other text, isolated in a `<bdi>` (see
    `dashboard.bidi`): a name's direction and controls end where the name ends."""
    return bidi.bdi(value)


@register.filter(is_safe=True)
def title_text(value):
    """A page's `<title>` without the controls that reorder text (see `dashboard.bidi`)."""
    return bidi.plain(value)


# Badges, the requester cell, tags and times: the list's rows' own pieces, written in Python
# for their speed (25 rows: 0.43 ms here, 7.0 ms as a template; see ticket_rows.py), and used
# as they are by the thread and the wall so that each piece has one markup. Every value from
# the store is escaped.


@functools.lru_cache(maxsize=256)
def badge_html(classes, value):
    # A handful of statuses and priorities make every badge of every page: each is built once.
    return f'<span class="{classes}-{css_token(value)}">{escape(label(value))}</span>'


def person_html(person_id, person, fallback="", short=False, oob=False):
    """A customer by name, their email on hover; while the name is unknown, `fallback` (their
    email, or "Customer #id") in the same element, which the names poller replaces in place
    (`oob`: the poller's answer, swapped out of band in place of every element of this id).
    `short` (the wall's "Anna K.") shows no email at all. The name is isolated from what is
    beside it (`dir="auto"` on an element that holds only the name)."""
    if person_id is None:
        return bidi.bdi(fallback) if fallback else '<span class="muted">Unknown</span>'
    if person:
        shown, email, waiting = (person.short_name if short else person.name), person.email, ""
    else:
        shown, email = fallback or f"Customer #{person_id}", fallback if "@" in fallback else ""
        # The list and the thread ask for the name a little later (app.js); a wall shows it
        # at its next refresh.
        waiting = "" if short else " data-waiting"
    hover = f' title="{escape(email)}"' if email and email != shown and not short else ""
    swap = f"data-hx-swap-oob=\"outerHTML:[data-requester-id='{int(person_id)}']\" " if oob else ""
    return (
        f'<span {swap}class="person" dir="auto" data-requester-id="{int(person_id)}"{hover}'
        f"{waiting}>{escape(bidi.contained(shown))}</span>"
    )


def requester_html(ticket, people, short=False):
    """Who asked: by name when known, else by email or customer id."""
    person = people.get(ticket.requester) if ticket.requester is not None else None
    fallback = ticket.from_email or ""
    if short:
        fallback = mask_email(fallback)  # the wall is seen across a room
    if ticket.requester is None:
        return person_html(None, None, fallback)
    return person_html(ticket.requester, person, fallback, short)


def tags_html(tags, catalogue):
    """A ticket's tags; each one the catalogue knows links to its filter."""
    if not tags:
        return ""
    items = []
    for tag in tags:
        tag_id = catalogue.id_for(tag) if catalogue else None
        name = f"<bdi>{escape(bidi.contained(tag))}</bdi>"
        items.append(
            f'<li><a href="/?tags={tag_id}">{name}</a></li>' if tag_id else f"<li>{name}</li>"
        )
    return f'<ul class="tags" aria-label="Tags">{"".join(items)}</ul>'


@register.simple_tag
def requester(ticket, people=None, short=False):
    return mark_safe(requester_html(ticket, people or {}, short))


@register.simple_tag
def person(person_id, people=None, fallback=""):
    return mark_safe(person_html(person_id, (people or {}).get(person_id), fallback))


def scope_needs(user):
    """For staff: which scope the store's token would need to show names, in words ("" when
    it needs none, or for anyone else). Never "rejected": the token works, it just may not
    read customers or products."""
    if not getattr(user, "is_staff", False):
        return ""
    adds = {"users:read": "customers' names", "catalogue:read": "products' titles"}
    return "; ".join(f"{adds[scope]} need the {scope} scope" for scope in names.missing_scopes())


@register.inclusion_tag("dashboard/_scope_notice.html", takes_context=True)
def scope_notice(context):
    """The notice of `scope_needs`, read when the page shows it unless the view read it before
    (`scope_needs` in the context)."""
    needs = context.get("scope_needs")
    if needs is None:
        request = context.get("request")
        needs = scope_needs(request.user) if request else ""
    return {"needs": needs}


@register.inclusion_tag("dashboard/_requester_email.html")
def requester_email(ticket, people=None):
    """The requester's email beside their name, once the name stands in for it."""
    person = (people or {}).get(ticket.requester)
    if not person or not person.email or person.name == person.email:
        return {}
    return {"email": person.email}


@register.simple_tag
def comment_author(comment, names):
    """Who wrote a comment: an agent, or a customer by name; the email it came from else."""
    if comment.author is not None and comment.author in names.staff:
        return bidi.bdi(names.staff[comment.author].name)
    if comment.author is not None:
        person = names.people.get(comment.author)
        return mark_safe(person_html(comment.author, person, comment.from_email or ""))
    return bidi.bdi(comment.from_email) if comment.from_email else "Unknown sender"


@register.inclusion_tag("dashboard/_product.html")
def product(product_id, products=None, oob=False):
    """A product by title, while unknown by id, in an element the names poller replaces."""
    found = (products or {}).get(product_id)
    known = bool(found and found.title)
    return {
        "product_id": int(product_id),
        "title": found.title if known else f"Product #{product_id}",
        "waiting": not known,
        "oob": oob,
    }


@register.simple_tag
def tag_list(tags, catalogue=None):
    return mark_safe(tags_html(tags, catalogue))


@register.simple_tag
def status_badge(ticket):
    return mark_safe(badge_html("badge status status", ticket.status))


@register.simple_tag
def priority_badge(ticket):
    return mark_safe(badge_html("priority priority", ticket.priority))


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


@register.filter
def datetime_value(moment):
    """`moment` as a `<time datetime>` value: HTML allows at most three digits of a second."""
    return moment.isoformat(timespec="milliseconds") if isinstance(moment, datetime) else ""


def time_html(moment, now, zone):
    """`when`, written out by hand: a list shows fifty of these, and Django's `naturaltime`
    and `date` filters cost most of a page's rendering time."""
    if moment is None:
        return "—"
    local = moment.astimezone(zone)
    absolute = local.strftime("%a %-d %b %Y, %H:%M ") + (local.tzname() or "")
    return f'<time datetime="{datetime_value(moment)}" title="{absolute}">{ago(moment, now)}</time>'


@register.simple_tag
def counts_as_of(moment, lead="counts"):
    """ "counts as of 14:02", the time a <time>: beside every number read from a ticket index
    that no webhook keeps live, in local time as the wall's clock; with the day when it is not
    today's."""
    local = timezone.localtime(moment)
    shown = f"{local:%H:%M}" if local.date() == timezone.localdate() else f"{local:%-d %b, %H:%M}"
    return format_html(
        '{} as of <time datetime="{}" title="{}" data-counts-as-of>{}</time>',
        lead,
        datetime_value(moment),
        local.strftime("%a %-d %b %Y, %H:%M ") + (local.tzname() or ""),
        shown,
    )


@register.simple_tag
def as_of_time(moment):
    """ "as of 14:02", the time a <time>: beside an answer shown as it was known while the
    store was busy, in local time; with the day when it is not today's."""
    local = timezone.localtime(moment)
    shown = f"{local:%H:%M}" if local.date() == timezone.localdate() else f"{local:%-d %b, %H:%M}"
    return format_html(
        'as of <time datetime="{}" title="{}">{}</time>',
        iso_moment(moment),
        local.strftime("%a %-d %b %Y, %H:%M:%S ") + (local.tzname() or ""),
        shown,
    )


@register.filter
def iso_moment(moment):
    """A moment as HTML's `datetime` takes it: ISO 8601 to the second, with its offset."""
    return moment.isoformat(timespec="seconds") if moment else ""


@register.inclusion_tag("dashboard/_when_exact.html")
def when_exact(moment):
    """A <time> showing the exact date and time, with the relative time beside it: a thread
    is read closely, and eight comments of "5 months ago" cannot be told apart."""
    if moment is None:
        return {"moment": None}
    local = moment.astimezone(timezone.get_current_timezone())
    return {
        "moment": moment,
        "exact": local.strftime("%-d %b %Y, %H:%M"),
        "title": local.strftime("%a %-d %b %Y, %H:%M ") + (local.tzname() or ""),
        "ago": ago(moment, timezone.now()),
    }


@register.filter
def quote_parts(body):
    """A comment's text in parts, quoted replies and history apart (see
    `dashboard.tickets.quotes`); the template escapes each part."""
    return quotes.split(body)


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
def among(value, values):
    """Whether `value` is one of `values`, for a `{% with %}`."""
    return value in (values or ())


@register.filter
def mask_email(email):
    return board.mask_email(email)


@register.simple_tag
def wall_age(ticket, options):
    return board.age_class(ticket, options.warn_hours, options.alert_hours)


@register.inclusion_tag("dashboard/_wall_age.html")
def wall_age_label(ticket, options):
    """The ticket's age in words, with "overdue"/"ageing" spelled out (not colour alone)."""
    seconds = ages.age_seconds(ticket, timezone.now())
    if seconds is None:
        return {"text": "—"}
    minutes = max(int(seconds // 60), 0)
    if minutes < 60:
        text = f"{minutes}m"
    elif minutes < 48 * 60:
        text = f"{minutes // 60}h {minutes % 60:02d}m"
    else:
        text = f"{minutes // (24 * 60)}d {minutes % (24 * 60) // 60}h"
    state = board.age_class(ticket, options.warn_hours, options.alert_hours)
    return {"text": text, "word": {"age-alert": "overdue", "age-warn": "ageing"}.get(state)}


@register.simple_tag
def filters_set(form):
    """How many of the list's filters `form` sets (two statuses are one filter), for the phone's
    "Filters" button: the valid ones it read, and those in error, which are set too."""
    read = getattr(form, "cleaned_data", None) or {}
    names = {name for name, value in read.items() if value not in (None, "", [], ())}
    names.update(form.errors)
    names.difference_update(("cursor", "__all__"))
    return len(names)


@register.filter
def describe_query(query, ticket_types=None):
    """A filter in words, for a wall's heading and a tab's title: "Status New, Open · Priority
    High" (an `InWords`: a page isolates each value, `str()` is the text)."""
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
        parts.append((DESCRIBED.get(name, name), tuple((str(v), False) for v in values)))
    return labels.InWords(tuple(parts), colon=False)


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


def _names_ref(context, people, products=()):
    request = context.get("request")
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    reference = refs.names(session_key, people, products)
    if not reference:
        return ""
    return format_html('<template data-names-ref="{}"></template>', reference)


@register.simple_tag(takes_context=True)
def list_names_ref(context, tickets, shown):
    """The signed reference to the customers a list's rows show before their names are known:
    what the page may ask `/names/` for (see `tickets.refs`)."""
    known = getattr(shown, "people", None) or {}
    waiting = {t.requester for t in tickets if t.requester is not None} - set(known)
    return _names_ref(context, waiting)


@register.simple_tag(takes_context=True)
def thread_names_ref(context, ticket, shown):
    """Likewise for a thread: its requester, the customers who wrote in it, its products."""
    people = getattr(shown, "people", None) or {}
    staff = getattr(shown, "staff", None) or {}
    titles = getattr(shown, "products", None) or {}
    waiting = {ticket.requester, *(c.author for c in ticket.comments)} - {None} - set(people)
    return _names_ref(context, waiting - set(staff), set(ticket.products) - set(titles))


@register.simple_tag(takes_context=True)
def count_ref(context, filters_qs):
    """The signed reference that lets this page's total be asked of `/count/`."""
    request = context.get("request")
    return refs.count(getattr(getattr(request, "session", None), "session_key", None), filters_qs)
