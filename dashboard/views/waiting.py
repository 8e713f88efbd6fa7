""" "Needs reply" (`/views/waiting/`): every ticket that waits on the team, longest waiting
first, read from the ticket index alone (the store is asked nothing), a page at a time after
an opaque cursor of our own: a signed keyset place, (waiting since, id) of the last row shown.
While the index does not answer, the page says so."""

from django.db import DatabaseError
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dashboard.index import attention, freshness
from dashboard.saved.saved_views import NEEDS_REPLY
from dashboard.tickets import names
from dashboard.views.common import is_fragment, known_context
from dashboard.views.sidebar import sidebar

TEMPLATE = "dashboard/waiting.html"
PAGE_SIZE = 25


@require_GET
@vary_on_headers("HX-Request")
def needs_reply(request):
    paging = is_fragment(request) and bool(request.GET.get("cursor"))
    template = TEMPLATE + "#waiting-rows" if paging else TEMPLATE
    context = {"problem": "", "rows": [], "more_cursor": None, "paging": paging}
    status = 200
    cursor = None
    if token := request.GET.get("cursor", ""):
        try:
            cursor = attention.load_cursor(token)
        except ValueError:
            context["problem"], status = "This page link is not valid any more.", 400
    known = freshness.current()
    if not context["problem"] and not known.answers:
        context["problem"], status = (
            (
                "The ticket index is not ready, so this view cannot say what waits: it is filled "
                "by a walk of every ticket, which starts by itself. Try again in a few minutes."
            ),
            503,
        )
    form_context = known_context(request)
    if not context["problem"]:
        try:
            rows, after = attention.page_after(None, cursor, PAGE_SIZE)
            tally = None if cursor else attention.tally(attention.waiting(), timezone.now())
        except DatabaseError:
            rows, after, tally = [], None, None
            context["problem"], status = "The ticket index cannot be read just now.", 503
        else:
            tickets = [attention.as_ticket(row) for row in rows]
            context.update(
                rows=tickets,
                waiting={row.id: (row.waiting_since, row.priority) for row in rows},
                more_cursor=attention.dump_cursor(after) if after else None,
                tally=tally,
                as_of=known.shown_as_of,
                names=names.Shown(
                    ticket_types=form_context.ticket_types or {},
                    staff=form_context.agents,
                    people=names.customers(t.requester for t in tickets if t.requester),
                    tags=form_context.tags,
                ),
            )
    if not paging:
        context["sidebar"] = sidebar(request, NEEDS_REPLY, context=form_context)
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    return response
