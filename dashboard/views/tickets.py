"""The ticket list and a ticket's thread."""

import time

from django.http import Http404, HttpResponsePermanentRedirect, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dashboard import store
from dashboard.filters import MAX_ID, TicketFilterForm, querystring
from dashboard.views.common import (
    filter_form,
    is_fragment,
    list_url,
    staff_or_empty,
    ticket_types_or_none,
    with_retry_after,
)

LIST_TEMPLATE = "dashboard/list.html"
THREAD_TEMPLATE = "dashboard/thread.html"


@require_GET
@vary_on_headers("HX-Request")
def ticket_list(request):
    form = filter_form(request.GET)
    if not form.is_valid():
        return _invalid_filters(request, form)
    query = form.query()
    canonical = querystring(query)
    if request.META.get("QUERY_STRING", "") != canonical:
        if not request.htmx:
            return HttpResponseRedirect(list_url(canonical))
        form = _canonical_form(canonical, form)
    page, error = _first_page(query)
    response = render(request, _list_template(request, paging=bool(query.cursor)),
                      _list_context(form, query, page, error),
                      status=error.http_status if error else 200)  # fmt: skip
    if request.htmx and not query.cursor:
        # The filter form swaps the list in place; the address bar must still be the bookmark.
        response["HX-Push-Url"] = list_url(canonical)
    return with_retry_after(response, error)


@require_GET
@vary_on_headers("HX-Request")
def ticket_detail(request, ticket_id):
    if not 1 <= ticket_id <= MAX_ID:
        raise Http404("No such ticket.")
    canonical = reverse("ticket_detail", args=[ticket_id])
    if request.path != canonical:  # /tickets/007/ is /tickets/7/
        query = request.META.get("QUERY_STRING", "")
        return HttpResponsePermanentRedirect(f"{canonical}?{query}" if query else canonical)
    template = THREAD_TEMPLATE + ("#thread" if is_fragment(request) else "")
    context = {"ticket_id": ticket_id, "ticket": None, "error": None}
    try:
        context["ticket"] = store.get_ticket(ticket_id)
    except store.TicketsAPIError as exc:
        context["error"] = exc
        return with_retry_after(render(request, template, context, status=exc.http_status), exc)
    context["ticket_types"] = ticket_types_or_none()
    context["staff"] = staff_or_empty()
    return render(request, template, context)


def _canonical_form(canonical, form):
    """An HTMX request is answered where it stands, but the form it shows is the bookmark's,
    never the raw spelling: "2026-1-7" would show as an empty date."""
    form = TicketFilterForm(QueryDict(canonical), ticket_types=form.ticket_types)
    form.is_valid()
    return form


def _list_context(form, query, page, error):
    return {
        "form": form,
        "query": query,
        "page": page,
        "error": error,
        "invalid_cursor": isinstance(error, store.InvalidCursor),
        "filters_qs": querystring(query.filters),
        "ticket_types": form.ticket_types or {},
        "staff": staff_or_empty() if page else {},  # asked for only while the store answers
        # A rendered row is reused for the rest of its minute: its times are to the minute.
        "row_minute": int(time.time() // 60),
    }


def _first_page(query):
    try:
        return store.list_tickets(query), None
    except store.TicketsAPIError as exc:
        return None, exc


def _invalid_filters(request, form):
    """Field errors beside the fields; nothing was asked of the store."""
    params = request.GET.copy()
    params.pop("cursor", None)
    context = {
        "form": form,
        "page": None,
        "error": None,
        "invalid_cursor": form.cursor_error,
        "filters_qs": params.urlencode(),  # the request's own filters, to start again from
    }
    template = _list_template(request, paging=bool(request.GET.get("cursor")))
    if template.endswith("#results"):
        # The errors belong beside the fields, which live outside the swapped results.
        template = LIST_TEMPLATE + "#invalid-filters"
    return render(request, template, context, status=400)


def _list_template(request, paging=False):
    if not is_fragment(request):
        return LIST_TEMPLATE
    return LIST_TEMPLATE + ("#ticket-rows" if paging else "#results")
