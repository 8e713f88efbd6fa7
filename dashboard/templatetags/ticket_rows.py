"""The list's ticket rows, written out in Python.

A list page shows 25 rows, and the template language spends about a quarter of a millisecond
on each (every variable is looked up, localised and escaped through several layers), which on
a slow machine was most of what a first view adds to the store's answer. Measured (timeit, best
of 5, on the 2-core development machine): 25 rows written here take 0.43 ms, the same rows as a
template 7.0 ms. So rows stay in Python and need no cache; their pieces (badges, requester,
tags, times) are the ones in dashboard_tags. Every value that comes from the store goes through
`escape`, exactly as the template's autoescaping would.
"""

from html import escape

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from dashboard import bidi, store
from dashboard.index import attention
from dashboard.templatetags.dashboard_tags import (
    agent,
    badge_html,
    datetime_value,
    label,
    requester_html,
    tags_html,
    time_html,
    type_name,
)
from dashboard.tickets import ages

register = template.Library()


def _e(value):
    return escape(str(value), quote=True)


def _bdi(value):
    """People's and the store's words beside others, isolated (see `dashboard.bidi`)."""
    return f"<bdi>{_e(bidi.contained(value))}</bdi>"


@register.simple_tag
def ticket_rows(tickets, names, filters_qs="", waiting=None, pick=False, ahead=None):
    """Every ticket's row, in order; `names` holds the ticket types, agents, customers and
    tags the rows are shown with, `filters_qs` the list's filters, which a thread's links keep.
    `waiting` is `{id: (waiting_since, priority)}` from the index; without it the rows' own
    ids are asked of the index (one query, for those not in the marks read `ahead`), when the
    index answers. With `pick`, each row has a box to tick it for the list's bulk change (the
    form `#bulk-form`, which is outside the table, so rows added by "Load more" belong to it
    as well)."""
    tickets = list(tickets)
    now, zone = timezone.now(), timezone.get_current_timezone()
    links = _links(filters_qs)
    limits = (settings.LIST_AGEING_HOURS * 3600, settings.LIST_OVERDUE_HOURS * 3600)
    if waiting is None:
        waiting = attention.marks_of(
            [ticket.id for ticket in tickets], ahead if isinstance(ahead, dict) else None
        )
    return mark_safe(
        "".join(_row(ticket, links, names, now, zone, limits, waiting, pick) for ticket in tickets)
    )


def _links(filters_qs):
    """A row's two links, by ticket id: its subject opens the thread beside this list (the
    href is that URL, so it works without JavaScript, in a new tab and as a copied link; HTMX
    fetches the thread alone, and the page's script puts the URL in the address bar), and its
    id is the thread's own page. Both keep the list's filters. One reverse() each for the page:
    tickets' URLs differ from one another only by the id."""
    opened = _e(f"{reverse('ticket_list')}?{filters_qs + '&' if filters_qs else ''}ticket=")
    page = _e(reverse("ticket_detail", args=[1]).removesuffix("1/"))
    query = _e(f"?{filters_qs}" if filters_qs else "")
    return lambda ticket_id: (f"{opened}{ticket_id}", f"{page}{ticket_id}/{query}")


def _row(ticket, links, names, now, zone, limits, waiting, pick=False):
    # `dir="auto"`: a subject in Arabic or Hebrew reads from the right, whatever the page's
    # direction, and its controls end with it, like every name's (`_bdi`). The time cells
    # carry their own labels, shown where the table becomes cards.
    opened, page = links(ticket.id)
    if waiting is None:
        hooks, mark = "", _age(ticket, now, limits)
    else:
        hooks, mark = _waiting(waiting.get(ticket.id), ticket, now, zone)
    return (
        f'<tr data-ticket-id="{ticket.id}"{hooks}>'
        f'<td class="col-id">{_pick(ticket.id) if pick else ""}'
        f'<a href="{page}" tabindex="-1">{ticket.id}</a></td>'
        f'<td class="col-subject"><div class="subject-line"><a class="subject" dir="auto"'
        f' href="{opened}" data-hx-get="{page}" data-hx-target="#thread-panel"'
        ' data-hx-swap="innerHTML" data-hx-indicator="#thread-panel">'
        f"{_e(bidi.contained(ticket.subject or '(no subject)'))}</a>"
        f"{tags_html(ticket.tags, names.tags)}"
        "</div></td>"
        f'<td class="col-status">{badge_html("badge status status", ticket.status)}'
        f"{mark}</td>"
        f"<td>{badge_html('priority priority', ticket.priority)}</td>"
        f'<td class="col-people">{requester_html(ticket, names.people)}</td>'
        f'<td class="col-people col-assignee">{_assignee(ticket, names.staff)}</td>'
        f'<td class="col-meta">{_meta(ticket, names.ticket_types)}</td>'
        f'<td class="col-time"><span class="cell-label">Created </span>'
        f"{time_html(ticket.created_at, now, zone)}</td>"
        f'<td class="col-time col-updated"><span class="cell-label">Updated </span>'
        f"{time_html(ticket.updated_at, now, zone)}</td>"
        "</tr>"
    )


def _pick(ticket_id):
    return (
        f'<input type="checkbox" class="pick" name="ids" value="{ticket_id}" form="bulk-form"'
        f' aria-label="Tick ticket {ticket_id}">'
    )


def _age(ticket, now, limits):
    """How long an open ticket has waited since it was created (the wall's measure, so both
    mark the same tickets), and past the ageing and overdue limits, which, in words."""
    seconds = None if ticket.status in store.RESOLVED else ages.age_seconds(ticket, now)
    if seconds is None:
        return ""
    if seconds < 3600:
        text = f"{max(int(seconds // 60), 0)} min"
    elif seconds < 86400:
        text = f"{int(seconds // 3600)} h"
    else:
        text = f"{int(seconds // 86400)} d"
    standing = ages.standing(seconds, *limits)
    if standing != "ok":
        word = standing.capitalize()
        return f'<span class="age age-{standing}"><strong>{word}</strong> {text}</span>'
    return f'<span class="age">{text}<span class="visually-hidden"> waiting</span></span>'


def _waiting(indexed, ticket, now, zone):
    """The row's hooks and its mark: since when it waits on the team, and whether that is
    overdue for its priority (the index's, read with the same wait). The exact time shows on
    hover and when the row has the focus, and is read out always."""
    since, priority = indexed if indexed is not None else (None, ticket.priority)
    if since is None:
        return "", ""
    overdue = attention.is_overdue(since, priority, now)
    local = since.astimezone(zone)
    exact = local.strftime("%a %-d %b %Y, %H:%M ") + (local.tzname() or "")
    hooks = f' data-waiting-since="{since.isoformat()}"' + (" data-overdue" if overdue else "")
    text = attention.waited_text((now - since).total_seconds())
    word = "<strong>Overdue</strong> · " if overdue else ""
    return hooks, (
        f'<span class="age waiting{" age-overdue" if overdue else ""}">{word}'
        f'<time datetime="{datetime_value(since)}" title="Waiting since {exact}">'
        f"Waiting {text}</time>"
        f'<span class="waiting-exact"> since {_e(exact)}</span></span>'
    )


def _assignee(ticket, staff):
    if ticket.assignee is None:
        return '<span class="muted">Unassigned</span>'
    return _bdi(agent(ticket.assignee, staff))


def _meta(ticket, ticket_types):
    order = f" · Order {_bdi(ticket.order)}" if ticket.order else ""
    count = ticket.comment_count
    comments = f"{count} comment{'' if count == 1 else 's'}"
    return (
        f'<span class="meta-line">{_bdi(type_name(ticket.ticket_type, ticket_types))}</span>'
        f'<span class="meta-line muted">{_e(label(ticket.channel))}{order} · '
        f'<span class="comment-count">{comments}</span></span>'
    )
