"""A ticket's thread as pages show it: fetched, named, its attention marks, and the triage form
for those who may change it."""

import time
from typing import NamedTuple

from django.urls import reverse

from dashboard import bidi, store
from dashboard.index import attention, known
from dashboard.models import Tag
from dashboard.tickets import names
from dashboard.triage import may_triage
from dashboard.triage.forms import TriageForm
from dashboard.views.common import staff_or_empty, thread_links, ticket_types_or_none

SCOPE_MESSAGE = (
    "Changing tickets needs the tickets:write scope, which the store's token does not have. "
    "Ask whoever manages the store's API access to add it."
)


# How long a page polls for the fresh thread (or list) it was shown the known one of.
POLL_FOR = 60


class Fetched(NamedTuple):
    """A thread as a page shows it: the ticket, or the error that stands in its place, and
    `known` (a `store.Answer` with its age) when it is what was known, not the store's answer."""

    ticket: store.Ticket | None
    error: store.TicketsAPIError | None
    known: store.Answer | None = None


def fetch_ticket(ticket_id, stale_ok=False):
    """`(ticket, error, known)`: the ticket with its comments, or why the store could not give
    it. With `stale_ok`, while the store is too busy to ask at once, the thread as last known
    (or as the ticket index holds it, without the comments' words), with its age in `known`."""
    try:
        if not stale_ok:
            return Fetched(store.get_ticket(ticket_id), None)
        found = store.ticket_or_known(ticket_id, fallback=lambda: known.thread(ticket_id))
    except store.TicketsAPIError as exc:
        return Fetched(None, exc)
    return Fetched(found.value, None, found if found.as_of is not None else None)


def poll_url(url, as_of, filters_qs=""):
    """Where a page shown a known answer (`as_of`; None: nothing yet) asks for the fresh one,
    every 2 s for POLL_FOR s."""
    stamp = f"until={int(time.time()) + POLL_FOR}"
    if as_of is not None:
        stamp = f"as_of={int(as_of.timestamp())}&{stamp}"
    return f"{url}?{filters_qs}&{stamp}" if filters_qs else f"{url}?{stamp}"


def thread_context(request, ticket_id, fetched, filters_qs, form=None):
    """What the thread's template shows of `fetched` (`(ticket, error)`), with the triage form
    (`form`, or one showing the ticket as it is) for someone who may change tickets."""
    ticket, error = fetched[0], fetched[1]
    was_known = fetched[2] if len(fetched) > 2 else None
    context = {"ticket_id": ticket_id, "ticket": ticket, "error": error}
    context.update(thread_links(ticket_id, filters_qs))
    if isinstance(error, store.StillAsking):
        context["fresh_url"] = poll_url(reverse("fresh_thread", args=[ticket_id]), None, filters_qs)
    if was_known is not None:
        context["as_of"] = was_known.as_of
        context["without_words"] = was_known.source == known.INDEX
        context["fresh_url"] = poll_url(
            reverse("fresh_thread", args=[ticket_id]), was_known.as_of, filters_qs
        )
    if ticket is not None:
        context["names"] = names.Shown(
            ticket_types=ticket_types_or_none() or {},
            staff=staff_or_empty(),
            people=names.customers(
                [ticket.requester, *(c.author for c in ticket.comments)], names.THREAD
            ),
            products=names.products(ticket.products, names.THREAD),
            tags=Tag.catalogue(),
        )
        requester = context["names"].people.get(ticket.requester)
        context["attention"] = attention.of_thread(ticket, getattr(requester, "email", "") or "")
        context.update(_triage(request, ticket, context["names"], requester, form, filters_qs))
    return context


def _triage(request, ticket, shown, requester, form, filters_qs):
    """The triage form's part, or {} for someone who may not use it. Once the store refused the
    token `tickets:write`, the form stays hidden (ten minutes, as for the name scopes)."""
    if not may_triage(request.user):
        return {}
    if store.scope_refused(store.WRITE_SCOPE):
        return {"triage_refused": SCOPE_MESSAGE}
    if form is None:
        form = TriageForm.for_ticket(ticket, shown.staff, tag_names())
    url = reverse("ticket_triage", args=[ticket.id])
    return {
        "triage_form": form,
        "triage_recipient": recipient(ticket, requester),
        "triage_url": f"{url}?{filters_qs}" if filters_qs else url,
    }


def tag_names():
    return sorted(Tag.catalogue().by_id.values(), key=str.casefold)


def recipient(ticket, requester):
    """Who a public reply reaches: the requester, by name and address where known, each
    isolated from the sentence around it."""
    name = getattr(requester, "name", "") or ""
    email = getattr(requester, "email", "") or ticket.from_email or ""
    if name and email:
        return f"{bidi.isolate(name)} <{bidi.isolate(email)}>"
    if name or email:
        return bidi.isolate(name or email)
    if ticket.requester is not None:  # not looked up yet: their address is the store's
        return f"the requester, customer #{ticket.requester}, at the address the store has"
    return "the customer, at the address the store has"
