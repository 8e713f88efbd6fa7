"""The ticket list and a ticket's thread."""

import secrets
from concurrent.futures import Future

from django.http import (
    Http404,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
    QueryDict,
)
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dashboard import names, prefetch, saved_views, store
from dashboard.filters import MAX_ID, TicketFilterForm
from dashboard.models import Tag
from dashboard.saved_views import ALL
from dashboard.views.common import (
    filter_form,
    is_fragment,
    list_url,
    staff_or_empty,
    started,
    ticket_types_or_none,
    with_retry_after,
)
from dashboard.views.sidebar import sidebar
from dashboard.views.sidebar import swapped as sidebar_swap

LIST_TEMPLATE = "dashboard/list.html"
THREAD_TEMPLATE = "dashboard/thread.html"


@require_GET
@vary_on_headers("HX-Request")
def ticket_list(request):
    form = filter_form(request)
    if not form.is_valid():
        return _invalid_filters(request, form)
    query = form.query()
    canonical = form.bookmark(query)
    if request.META.get("QUERY_STRING", "") != canonical:
        if not request.htmx:
            return HttpResponseRedirect(_bookmark_url(request, canonical))
        form = _canonical_form(canonical, form)
    current = None if canonical else ALL
    response = list_response(request, form, current)
    if request.htmx and not query.cursor and response.status_code != 400:
        # The filter form swaps the list in place; the address bar must still be the bookmark,
        # and the sidebar must not name a view these filters have left.
        response["HX-Push-Url"] = _bookmark_url(request, canonical)
        if is_fragment(request):
            response.content += sidebar_swap(request, current).encode()
    return response


def list_response(request, form, current=None):
    """The list of a valid filter `form`: the whole page, with the views' sidebar (the view
    `current` marked), or the fragment HTMX asked for. The list and every view share it."""
    if not form.is_valid():
        return _invalid_filters(request, form, current)
    query = form.query()
    answer = Future()
    started(_first_page, query, answer)
    if is_fragment(request):
        response, error = _list_fragment(request, form, query, answer)
    else:
        response, error = _whole_list(request, form, query, answer, current)
    if isinstance(error, store.FilterRefused):
        return _refused(request, form, error, current)
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
    ticket = context["ticket"]
    context["names"] = names.Shown(
        ticket_types=ticket_types_or_none() or {},
        staff=staff_or_empty(),
        people=names.customers([ticket.requester, *(c.author for c in ticket.comments)]),
        products=names.products(ticket.products),
        tags=Tag.catalogue(),
    )
    return render(request, template, context)


def _list_fragment(request, form, query, answer):
    page, error = answer.result()
    template = _list_template(request, paging=bool(query.cursor))
    status = error.http_status if error else 200
    return render(request, template, _list_context(form, query, page, error), status=status), error


def _refused(request, form, error, current=None):
    """The store refused the filters (400): its own words, beside the fields they are about."""
    for name, messages in error.field_errors.items():
        form.add_error(name if name in form.fields else None, messages)
    return _invalid_filters(request, form, current)


def _whole_list(request, form, query, answer, current=None):
    """The whole list page, its frame and filter form rendered while the store is still
    answering, the results when it has: `(response, error)`."""
    marker = f"<!-- results {secrets.token_hex(8)} -->"
    frame_context = {"form": form, "query": query, "results_html": mark_safe(marker),
                     "sidebar": sidebar(request, current)}  # fmt: skip
    frame = render_to_string(LIST_TEMPLATE, frame_context, request)
    page, error = answer.result()
    results = render_to_string(
        LIST_TEMPLATE + "#results", _list_context(form, query, page, error), request
    )
    response = HttpResponse(
        frame.replace(marker, results, 1), status=error.http_status if error else 200
    )
    return response, error


def _canonical_form(canonical, form):
    """An HTMX request is answered where it stands, but the form it shows is the bookmark's,
    never the raw spelling: "2026-1-7" would show as an empty date."""
    form = TicketFilterForm(QueryDict(canonical), context=form.context)
    form.is_valid()
    return form


def _list_context(form, query, page, error):
    tickets = page.tickets if page else ()
    return {
        "form": form,
        "query": query,
        "page": page,
        "error": error,
        "invalid_cursor": isinstance(error, store.InvalidCursor),
        "filters_qs": form.bookmark(query.filters),
        "names": names.Shown(
            ticket_types=form.ticket_types or {},
            staff=form.context.agents,
            # Known names now; the others are looked up in the background, never waited for.
            people=names.customers(t.requester for t in tickets),
            tags=form.context.tags,
        ),
    }


def _first_page(query, answer):
    """Ask the store for `query`'s page and give `answer` `(page, error)` as soon as it is
    known: before the page is cached for others, who wait for that, not the person here."""

    def ready(page):
        if not answer.done():
            answer.set_result((page, None))

    try:
        page = store.list_tickets(query, ready=ready)
    except store.TicketsAPIError as exc:
        if not answer.done():
            answer.set_result((None, exc))
        return
    except BaseException as exc:  # whatever it is, the view must not wait for ever
        if not answer.done():
            answer.set_exception(exc)
        raise
    ready(page)  # an answer from the cache
    prefetch.next_page(query, page)  # so that "Load more" answers from the cache


def _invalid_filters(request, form, current=None):
    """Field errors beside the fields; nothing was asked of the store."""
    params = form.data.copy()  # the request's, or a saved view's
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
    elif template == LIST_TEMPLATE:
        context["sidebar"] = sidebar(request, current)
    return render(request, template, context, status=400)


def _bookmark_url(request, canonical):
    """The list's URL for `canonical` filters; no filters at all is "All tickets" when `/`
    opens the person's default view."""
    return list_url(canonical) if canonical else saved_views.unfiltered_url(request.user)


def _list_template(request, paging=False):
    if not is_fragment(request):
        return LIST_TEMPLATE
    return LIST_TEMPLATE + ("#ticket-rows" if paging else "#results")
