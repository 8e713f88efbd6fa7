import hashlib
import logging
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
    HttpResponseServerError,
    QueryDict,
)
from django.shortcuts import get_object_or_404, render
from django.template import loader
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from dashboard import store
from dashboard.filters import MAX_ID, TicketFilterForm, parse_wall_filters, querystring
from dashboard.forms import DisplayLinkForm
from dashboard.models import DisplayLink, hash_secret
from dashboard.wall import WallOptions, build_board, rotation

WALL_RELOAD_HOURS = 12

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
    if request.META.get("QUERY_STRING", "") != canonical:
        if not request.htmx:
            return HttpResponseRedirect(_list_url(canonical))
        # An HTMX request is answered where it stands, but the form it shows (and caches) is
        # the bookmark's, never the raw spelling: "2026-1-7" would show as an empty date.
        form = TicketFilterForm(QueryDict(canonical), ticket_types=form.ticket_types)
        form.is_valid()

    context.update(form=form, query=query, filters_qs=querystring(query.filters))
    context["form_cache_key"] = _form_cache_key(canonical, form.ticket_types)
    try:
        context["page"] = store.list_tickets(query)
    except store.TicketsAPIError as exc:
        context["error"] = exc
        context["invalid_cursor"] = isinstance(exc, store.InvalidCursor)
    context["ticket_types"] = form.ticket_types or {}
    # Agent names are asked for only when the store is answering.
    context["staff"] = _staff() if context["page"] else {}
    # A rendered row is reused for the rest of the minute: its times are relative, to the
    # minute, and its names change rarely (ticket types and agents are re-read every minute).
    context["row_minute"] = int(time.time() // 60)
    context["names_key"] = f"{id(context['ticket_types'])}-{id(context['staff'])}"
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
    canonical = reverse("ticket_detail", args=[ticket_id])
    if request.path != canonical:  # /tickets/007/ is /tickets/7/
        query = request.META.get("QUERY_STRING", "")
        return HttpResponsePermanentRedirect(f"{canonical}?{query}" if query else canonical)
    template = THREAD_TEMPLATE + ("#thread" if _is_fragment(request) else "")
    context = {"ticket_id": ticket_id, "ticket": None, "error": None}
    try:
        context["ticket"] = store.get_ticket(ticket_id)
    except store.TicketsAPIError as exc:
        context["error"] = exc
        return _with_retry_after(render(request, template, context, status=exc.http_status), exc)
    context["ticket_types"] = _ticket_types()
    context["staff"] = _staff()
    return render(request, template, context)


def _form_cache_key(canonical, ticket_types):
    """What a valid filter form's HTML depends on: the bookmark and the ticket type names."""
    names = sorted((t.id, t.name) for t in (ticket_types or {}).values())
    return hashlib.sha256(f"{canonical}|{names}".encode()).hexdigest()


def _with_retry_after(response, error):
    """Tell clients (and proxies) when a rate-limited or busy answer is worth asking again."""
    if error is not None and error.http_status == 503:
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
    return _nicety(store.ticket_types, None)


def _raw_filters(request):
    """The request's own filters without its cursor, for a "start again" link."""
    params = request.GET.copy()
    params.pop("cursor", None)
    return params.urlencode()


def _staff():
    """Agent names are a nicety too: without them pages show agent ids."""
    return _nicety(store.staff, None) or {}


def _nicety(fetch, default):
    try:
        return fetch()
    except store.TicketsAPIError:
        return default


def _is_fragment(request):
    return bool(request.htmx) and not request.htmx.history_restore_request


def _list_template(request, paging=False):
    if not _is_fragment(request):
        return LIST_TEMPLATE
    return LIST_TEMPLATE + ("#ticket-rows" if paging else "#results")


def _list_url(canonical):
    url = reverse("ticket_list")
    return f"{url}?{canonical}" if canonical else url


# --- The wall ------------------------------------------------------------------------------

WALL_TEMPLATE = "dashboard/wall.html"


@require_GET
@vary_on_headers("HX-Request")
def wall(request):
    """A wall board for the list's own filters, for signed-in people."""
    form = _filter_form(request)
    if not form.is_valid():
        return render(request, LIST_TEMPLATE, {"form": form, "page": None}, status=400)
    query = form.query().filters
    poll = querystring(query)
    tools = {"make_link_filters": poll, "make_link_query": urlencode({"filters": poll})}
    return _wall_response(request, [query], 0, WallOptions(), poll_query=poll, extra=tools)


@login_not_required
@require_GET
@vary_on_headers("HX-Request")
def display_link(request, secret):
    """A display link's wall: the link's filters only, whatever the URL asks for."""
    link = DisplayLink.objects.filter(secret_hash=hash_secret(secret)).first()
    if link is None or link.is_revoked:
        # The screen's board is replaced by this notice at its next refresh.
        return _wall_notice(request, {"revoked": bool(link)}, status=410 if link else 404)
    _note_seen(link)
    try:
        queries = parse_wall_filters(link.filters)
    except ValidationError:
        # Saved filters the store no longer accepts (a ticket type was removed): say so on
        # the screen rather than show an error page.
        return _wall_notice(request, {"invalid": True, "title": link.name})
    index = rotation(len(queries), link.rotate_seconds)
    options = WallOptions(
        title=link.name,
        sort=link.sort,
        refresh=link.refresh_seconds,
        warn_hours=link.warn_after_hours,
        alert_hours=link.alert_after_hours,
    )
    return _wall_response(request, queries, index, options)


def _wall_response(request, queries, index, options, poll_query="", extra=None):
    board = build_board(queries[index], options.sort)
    shown_at = timezone.now()
    since = _since(request, index)
    poll = f"{poll_query}&" if poll_query else ""
    context = {
        "board": board,
        "options": options,
        "rotation": (index + 1, len(queries)) if len(queries) > 1 else None,
        "since": since,
        "now": shown_at,
        "poll_url": f"{request.path}?{poll}{urlencode(_poll_params(shown_at, index))}",
        "ticket_types": store.ticket_types(fetch=False) or {},
        # A stale board asks the store for nothing more.
        "staff": (store.staff(fetch=False) or {}) if board.stale else _staff(),
        "reload_hours": WALL_RELOAD_HOURS,
        **(extra or {}),
    }
    response = render(request, _wall_template(request, "board"), context)
    # A wall answer is about this moment; no cache between the screen and the dashboard.
    response["Cache-Control"] = "no-store"
    return response


def _wall_template(request, part):
    return WALL_TEMPLATE + (f"#{part}" if _is_fragment(request) else "")


def _wall_notice(request, context, status=200):
    """A notice in place of the board: the screen shows it and stops polling."""
    response = render(
        request, _wall_template(request, "gone"), {"gone": True, **context}, status=status
    )
    response["Cache-Control"] = "no-store"  # a link revoked later must not linger in a cache
    return response


def _poll_params(shown_at, index):
    # A second early: a ticket created in the same second as this refresh still counts as new.
    return {"since": int(shown_at.timestamp()) - 1, "view": index}


def _since(request, index):
    """When the screen last refreshed the same view: tickets created after it are new."""
    try:
        if int(request.GET.get("view", -1)) != index:
            return None
        return datetime.fromtimestamp(int(request.GET["since"]), tz=UTC)
    except (KeyError, ValueError, OverflowError, OSError):
        return None


def _note_seen(link):
    # At most one write a minute per link, however many screens poll it.
    now = timezone.now()
    if link.last_seen_at is None or now - link.last_seen_at > timedelta(minutes=1):
        DisplayLink.objects.filter(pk=link.pk).update(last_seen_at=now)


# --- Display links -------------------------------------------------------------------------


def display_links(request):
    """Make, list and revoke display links. A new link's URL is shown once, here."""
    if request.method == "POST":
        form = DisplayLinkForm(request.POST)
        if form.is_valid():
            link = form.save(commit=False)
            link.created_by = request.user
            secret = link.issue_secret()
            link.save()
            new_link = (link, request.build_absolute_uri(link.path_for(secret)))
            return _display_links_page(request, DisplayLinkForm(), new_link=new_link, status=201)
        return _display_links_page(request, form, status=400)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    initial = {"filters": request.GET.get("filters", "")}
    return _display_links_page(request, DisplayLinkForm(initial=initial))


@require_POST
def revoke_display_link(request, link_id):
    link = get_object_or_404(DisplayLink, pk=link_id)
    link.revoke()
    return HttpResponseRedirect(reverse("display_links"))


def _display_links_page(request, form, new_link=None, status=200):
    context = {
        "form": form,
        "links": DisplayLink.objects.order_by("revoked_at", "name"),
        "new_link": new_link,
    }
    return render(request, "dashboard/display_links.html", context, status=status)


@login_not_required
@require_GET
def healthz(request):
    """For load balancers: says the process answers, and nothing else."""
    response = HttpResponse("ok\n", content_type="text/plain")
    response["Cache-Control"] = "no-store"
    return response


@requires_csrf_token
def server_error(request):
    """The 500 page, which says the error was logged only when a handler really took it."""
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({"logged": _errors_are_logged()}))


def _errors_are_logged():
    """Whether a handler takes django.request's error records, as `Logger.callHandlers` would
    find one (the last resort included)."""
    logger = logging.getLogger("django.request")
    if not logger.isEnabledFor(logging.ERROR):
        return False
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "probe", (), None)
    found = False
    while logger is not None:
        for handler in logger.handlers:
            found = True
            if record.levelno >= handler.level and handler.filter(record):
                return True
        logger = logger.parent if logger.propagate else None
    return not found and logging.lastResort is not None


@login_not_required
def admin_login(request):
    """The admin signs in through the dashboard's own, throttled sign-in."""
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = ""
    query = urlencode({"next": target or reverse("admin:index")})
    return HttpResponseRedirect(f"{reverse('login')}?{query}")
