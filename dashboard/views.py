from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dashboard import store
from dashboard.forms import MAX_ID, TicketFilterForm, querystring

LIST_TEMPLATE = "dashboard/list.html"
THREAD_TEMPLATE = "dashboard/thread.html"


@require_GET
@vary_on_headers("HX-Request")
def ticket_list(request):
    form = _filter_form(request)
    context = {"form": form, "page": None, "error": None}
    if not form.is_valid():
        context["invalid_cursor"] = form.cursor_error
        context["filters_qs"] = _raw_filters(request)
        template = _list_template(request, paging=bool(request.GET.get("cursor")))
        if template.endswith("#results"):
            # The errors belong beside the fields, which live outside the swapped results.
            template = LIST_TEMPLATE + "#invalid-filters"
        return render(request, template, context, status=400)

    query = form.query()
    canonical = querystring(query)
    if not request.htmx and request.META.get("QUERY_STRING", "") != canonical:
        return HttpResponseRedirect(_list_url(canonical))

    context.update(query=query, filters_qs=querystring(query.filters))
    try:
        context["page"] = store.list_tickets(query)
    except store.TicketsAPIError as exc:
        context["error"] = exc
        context["invalid_cursor"] = isinstance(exc, store.InvalidCursor)
    context["ticket_types"] = form.ticket_types or {}
    response = render(
        request,
        _list_template(request, paging=bool(query.cursor)),
        context,
        status=context["error"].http_status if context["error"] else 200,
    )
    if request.htmx and not query.cursor:
        # The filter form swaps the list in place; the address bar must still be the bookmark.
        response["HX-Push-Url"] = _list_url(canonical)
    return _with_retry_after(response, context["error"])


@require_GET
@vary_on_headers("HX-Request")
def ticket_detail(request, ticket_id):
    if not 1 <= ticket_id <= MAX_ID:
        raise Http404("No such ticket.")
    template = THREAD_TEMPLATE + ("#thread" if _is_fragment(request) else "")
    context = {"ticket_id": ticket_id, "ticket": None, "error": None}
    try:
        context["ticket"] = store.get_ticket(ticket_id)
    except store.TicketsAPIError as exc:
        context["error"] = exc
        return _with_retry_after(render(request, template, context, status=exc.http_status), exc)
    context["ticket_types"] = _ticket_types()
    return render(request, template, context)


def _with_retry_after(response, error):
    """Tell clients (and proxies) when a rate-limited or busy answer is worth asking again."""
    if isinstance(error, store.RateLimited | store.StoreBusy):
        response["Retry-After"] = str(getattr(error, "retry_seconds", None) or 5)
    return response


def _filter_form(request):
    """A bound filter form. Validation never calls the store: ticket types come from the cache,
    and are fetched only once the rest of the input is known to be good."""
    ticket_types = store.ticket_types(fetch=False)
    form = TicketFilterForm(request.GET, ticket_types=ticket_types)
    if ticket_types is None and form.is_valid():
        ticket_types = _ticket_types()
        if ticket_types:
            form = TicketFilterForm(request.GET, ticket_types=ticket_types)
    return form


def _ticket_types():
    """Ticket type names are a nicety: without them the list still shows, with type ids."""
    try:
        return store.ticket_types()
    except store.TicketsAPIError:
        return None


def _raw_filters(request):
    """The request's own filters without its cursor, for a "start again" link."""
    params = request.GET.copy()
    params.pop("cursor", None)
    return params.urlencode()


def _is_fragment(request):
    return bool(request.htmx) and not request.htmx.history_restore_request


def _list_template(request, paging=False):
    if not _is_fragment(request):
        return LIST_TEMPLATE
    return LIST_TEMPLATE + ("#ticket-rows" if paging else "#results")


def _list_url(canonical):
    url = reverse("ticket_list")
    return f"{url}?{canonical}" if canonical else url
