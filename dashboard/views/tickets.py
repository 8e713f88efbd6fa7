"""The ticket list and a ticket's thread."""

import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
    QueryDict,
)
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dashboard import bidi, budget, store, timing
from dashboard.index import counts as index_counts
from dashboard.index import freshness
from dashboard.index import known as index_known
from dashboard.saved import saved_views
from dashboard.saved.saved_views import ALL
from dashboard.templatetags.dashboard_tags import describe_query, scope_needs
from dashboard.tickets import counts, names, prefetch, refs
from dashboard.tickets.filter_fields import as_id
from dashboard.tickets.filters import (
    MAX_ID,
    SHOWN_REQUESTER,
    TicketFilterForm,
    bookmark_query,
)
from dashboard.views import arrivals, questions, threads
from dashboard.views import bulk as bulk_views
from dashboard.views.common import (
    filter_form,
    is_fragment,
    list_filters,
    list_url,
    started,
    with_retry_after,
)
from dashboard.views.sidebar import sidebar
from dashboard.views.sidebar import swapped as sidebar_swap

LIST_TEMPLATE = "dashboard/list.html"
THREAD_TEMPLATE = "dashboard/thread.html"


@require_GET
@vary_on_headers("HX-Request")
def ticket_list(request):
    early = _asked_early(request)
    try:
        form = filter_form(request)
        if not form.is_valid():
            return _invalid_filters(request, form)
        query = form.query()
        ticket_id = _open_ticket(request.GET)  # the thread open beside the list; not a filter
        bookmark = form.bookmark(query)
        canonical = _with_ticket(bookmark, ticket_id)
        if request.META.get("QUERY_STRING", "") != canonical:
            if not request.htmx:
                return HttpResponseRedirect(_bookmark_url(request, canonical))
            form = _canonical_form(canonical, form)
        current = None if bookmark else ALL
        response = list_response(request, form, current, ticket_id, early)
    finally:
        if early is not None and not early.taken:
            early.release()  # the page did not take it: let its store thread go on
    if request.htmx and not query.cursor and response.status_code != 400:
        # The filter form swaps the list in place; the address bar must still be the bookmark,
        # and the sidebar must not name a view these filters have left.
        response["HX-Push-Url"] = _bookmark_url(request, canonical)
        if is_fragment(request):
            response.content += sidebar_swap(request, current).encode()
    return response


def list_response(request, form, current=None, ticket_id=None, early=None):
    """The list of a valid filter `form`: the whole page, with the views' sidebar (the view
    `current` marked) and the thread `ticket_id` open beside it, or the fragment HTMX asked
    for. The list and every view share it. `early` is its query asked of the store already
    (`_asked_early`), if it was."""
    if not form.is_valid():
        return _invalid_filters(request, form, current)
    query = form.query()
    if early is not None and early.query == query:
        answer, early.taken = early, True
    else:
        timing.mark(request, "request")
        answer = _ask(query)
    try:
        if is_fragment(request):
            response, error = _list_fragment(request, form, query, answer)
        else:
            response, error = _whole_list(request, form, query, answer, current, ticket_id)
    except BaseException:
        answer.release()
        raise
    if isinstance(error, store.FilterRefused):
        answer.release()
        return _refused(request, form, error, current)
    return with_retry_after(_released_once_sent(response, answer), error)


def _ask(query):
    """`query`'s page asked of the store in another thread (see `Asked`). The shared cache is
    read here first: a page found there is the answer at once, with no other thread. (For a
    bookmark, that read was made with the session's, in one round trip: `filters.first_reads`.)"""
    answer = Asked(query)
    cached = store.cached_page(query)
    if cached is not None:
        answer.found(cached)
    started(_first_page, query, answer, cached)
    return answer


def _asked_early(request):
    """A bookmark's page, asked of the store as soon as the person is known. Every link the
    dashboard makes is a canonical bookmark, whose query is known without the filter form: the
    form is then checked while the store answers. None for any other address, which the form
    reads first, as always (and may send elsewhere)."""
    query = bookmark_query(request)
    if query is None:
        return None
    timing.mark(request, "request")
    answer = _ask(query)
    answer.early = True
    answer.wait_sent()
    timing.mark(request, "ask")
    return answer


class Asked:
    """A page's store call, made in another thread while the view does what does not need its
    answer. Python runs one thread at a time, and a thread that wants to run again while the
    other computes can wait up to 5 ms for its turn (`sys.getswitchinterval()`): so each side
    leaves the CPU to the other while the other is on the person's way.

    - Until the request has gone (`went`), the view waits: the store hears it at once, and the
      view renders its frame while the store answers.
    - The answer (`result()`) reaches the view before the store thread does anything else
      with it.
    - Until the page is sent (`release()`, at the latest after RELEASE_WAIT), the store thread
      waits in turn: only then does it note the page for the ticket index, write it into the
      shared cache for others and ask for the next page. The request ends once it has
      (`finished`, at most FINISH_WAIT later): what a page sets going is done when it is over.
    """

    SENT_WAIT = 0.025  # the store thread is waiting its turn in the budget, or for another
    RELEASE_WAIT = 0.25
    FINISH_WAIT = 1.0

    def __init__(self, query):
        self.query = query
        self.early = False  # asked before the filter form was checked (see `_asked_early`)
        self.taken = False  # the page it was asked early for is shown with it
        # The answer as it was known (a `store.Answer`, with its age), when the store was too
        # busy to ask at once: set before the page is given.
        self.known = None
        self._answer = Future()
        self._sent = threading.Event()
        self._released = threading.Event()
        self._finished = threading.Event()

    def went(self):
        self._sent.set()

    def wait_sent(self):
        self._sent.wait(self.SENT_WAIT)

    def give(self, page, error):
        """The answer, to the view; then, for a page, wait until the view has sent it."""
        if self._answer.done():
            return
        self._answer.set_result((page, error))
        self._sent.set()
        if page is not None:
            self.wait_released()

    def found(self, page):
        """The answer, found in the shared cache by the view itself: nothing to wait for."""
        self._answer.set_result((page, None))
        self._sent.set()

    def wait_released(self):
        """Wait until the view has sent its page (`release()`), at most RELEASE_WAIT."""
        self._released.wait(self.RELEASE_WAIT)

    def fail(self, exc):
        if not self._answer.done():
            self._answer.set_exception(exc)
            self._sent.set()

    def answered(self):
        """Whether the answer is in: then nothing is left to do while the store answers."""
        return self._answer.done()

    def result(self):
        return self._answer.result()

    def release(self):
        self._released.set()

    def finish(self):
        self._finished.set()

    def finished(self):
        """Let the store thread go on, and wait until it has done what it does after a page."""
        self.release()
        self._finished.wait(self.FINISH_WAIT)


def _released_once_sent(response, answer):
    """`response`, which lets `answer`'s store thread go on once the server has sent it (the
    server calls `close()` then), and not before (see `Asked`)."""
    close = response.close

    def closed():
        answer.finished()
        close()

    response.close = closed
    return response


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
    freshness.current()  # read here, kept a while: whether deliveries keep the thread current
    # The list's filters come along, for the links back to it ("← All tickets", "Close").
    fetched = threads.fetch_ticket(ticket_id, stale_ok=True)
    context = threads.thread_context(request, ticket_id, fetched, list_filters(request.GET))
    context["in_panel"] = is_fragment(request)
    error = context["error"]
    response = render(request, template, context, status=error.http_status if error else 200)
    return with_retry_after(response, error)


@require_GET
def ticket_count(request):
    """The list summary's total for the filters, which the list page asks for while it is
    counted: the ticket index's total once it answers, else what the background count knows.
    Nothing here calls the store; a count that is due takes its next step in this process's
    background thread."""
    form = filter_form(request, fetch=False)
    if not form.is_valid():
        return HttpResponseBadRequest()
    query = form.query().filters
    # Only a total a page of this session was served counting: a filter of the client's own
    # choosing would have the background walk the store for it (see `tickets.refs`).
    reference = request.GET.get("ref", "")
    if not refs.counted(request.session.session_key, reference, form.bookmark(query)):
        return HttpResponseForbidden("This count was not asked for by a page of yours.")
    total = _known_total(query, start=True)
    context = {"total": total, "filters_qs": form.bookmark(query), "again": True}
    response = render(request, LIST_TEMPLATE + "#list-total", context)
    response["Cache-Control"] = "no-store"
    return response


def _list_fragment(request, form, query, answer):
    page, error = answer.result()
    timing.mark(request, "store")
    return _fragment(request, form, query, page, error, answer.known), error


def _fragment(request, form, query, page, error, known=None, template=None, list_path=None):
    """The results or rows of a list; `list_path`, where its "Load more" leads (the path asked,
    unless that was not the list's)."""
    filters_qs = form.bookmark(query.filters)
    back = list_url(filters_qs) if filters_qs else reverse("all_tickets")
    template = template or _list_template(request, paging=bool(query.cursor))
    status = error.http_status if error else 200
    with budget.state.read_together(_page_keys(query)):  # and the names: two reads in all
        context = _list_context(form, query, page, error, known=known)
        context.update(_bulk(request, form, back), list_path=list_path)
        return render(request, template, context, status=status)


def _page_keys(query):
    """What a list page reads of the shared state whatever its answer: the scopes the store
    refused the token, and the list's total as far as it is known (a first page's)."""
    keys = store.scope_keys(store.WRITE_SCOPE)
    if not query.cursor:
        keys += counts.state_keys([query.filters])
    return keys


def _bulk(request, form, back):
    """The list's bulk change, for a person who may change tickets: its bar and whether rows
    have boxes to tick (not while the store's token may not write)."""
    bar = bulk_views.bar(request.user, form.context.agents, back)
    return {"bulk_bar": bar, "bulk_pick": bool(bar and bar["form"])}


def _refused(request, form, error, current=None):
    """The store refused the filters (400): its own words, beside the fields they are about."""
    for name, messages in error.field_errors.items():
        form.add_error(name if name in form.fields else None, messages)
    return _invalid_filters(request, form, current)


def _whole_list(request, form, query, answer, current=None, ticket_id=None):
    """The whole list page, its frame (the filter form, the views' sidebar with `current`
    marked) rendered while the store is still answering, the results when it has: `(response,
    error)`. With `ticket_id`, that ticket's thread is open beside the list, asked of the store
    at the same time as the list.

    What the page reads of the shared state before the store answers (the views' counts, the
    scopes the token lacks, the list's known total) is read in one round trip, the sidebar's
    first; after the answer, the rows' names in one more (`state.read_together`), unless the
    ticket index listed them all first (`index_known.page_ahead`)."""
    with budget.state.read_together(_page_keys(query)):
        return _list_page(request, form, query, answer, current, ticket_id)


def _list_page(request, form, query, answer, current, ticket_id):
    thread = started(threads.fetch_ticket, ticket_id, True) if ticket_id else None
    if answer.early:
        timing.mark(request, "form")  # the filters, checked while the store answers
    else:
        answer.wait_sent()  # the store hears the request first; the frame is rendered meanwhile
        timing.mark(request, "ask")
    token = secrets.token_hex(8)
    results_marker, thread_marker = f"<!-- results {token} -->", f"<!-- thread {token} -->"
    title_marker = f"title {token}"  # the tab's title, known once the total and thread are
    # What the results show that does not depend on the answer is known before it: one CSRF
    # token for the page's forms (masking one costs a millisecond of randomness), which scopes
    # the store's token lacks, and (below) the list's links and switches.
    # The sidebar's counts are read first, with everything else the frame reads.
    views = sidebar(request, current, context=form.context)
    known = {"csrf_token": get_token(request), "scope_needs": scope_needs(request.user)}
    known.update(_bulk(request, form, request.get_full_path()))
    frame_context = {
        **known,
        "form": form,
        "query": query,
        "ticket_id": ticket_id,
        "results_html": mark_safe(results_marker),
        "thread_html": mark_safe(thread_marker) if thread else "",
        "sidebar": views,
        "list_title": title_marker,
    }
    frame = render_to_string(LIST_TEMPLATE, frame_context, request)
    # The list's links and switches ask nothing of the answer but that there is one.
    answerless = _answerless(form, query)
    filters_qs = answerless["filters_qs"]
    tools_context = {**known, "query": query, "filters_qs": filters_qs, "page": True}
    tools = render_to_string(LIST_TEMPLATE + "#page-tools", tools_context, request)
    bulk_html = ""
    if known["bulk_bar"]:
        bulk_html = render_to_string(LIST_TEMPLATE + "#bulk-bar", known, request)
    # Read while the store answers: the total known so far (none is asked of the store), and
    # whether the ticket index keeps lists live (the rows' arrivals poller asks; kept a while).
    known_total = _known_total(query.filters) if not query.cursor else None
    total_html = _total_html(request, known_total, filters_qs)
    fresh = freshness.current()
    # The rows' waiting marks and their requesters' names, for the tickets the index lists,
    # unless the answer is in already (from the cache): then they are read with it.
    ahead = None if answer.answered() else index_known.page_ahead(query, fresh)
    if ahead is not None:
        names.read_ahead(ahead.requesters)
    timing.mark(request, "frame")
    page, error = answer.result()
    timing.mark(request, "store")
    context = _list_context(form, query, page, error, known_total, answer.known, answerless)
    context.update(known)
    context["tools"] = tools if page is not None else ""
    context["bulk_html"] = bulk_html
    context["marks_ahead"] = ahead.marks if ahead is not None else None
    if total_html and context["total"] is known_total:  # a page of more than one page
        context["total_html"] = total_html
    shown_view = frame_context["sidebar"].current
    if shown_view is not None:
        context["list_name"] = shown_view.name
    timing.mark(request, "names")
    results = render_to_string(LIST_TEMPLATE + "#results", context, request)
    whole = frame.replace(results_marker, results, 1)
    timing.mark(request, "rows")
    title = list_title(context["list_name"], context["total"])
    if thread is not None:
        answer.release()  # the list is done with: its store thread may go on meanwhile
        thread_context = threads.thread_context(
            request, ticket_id, thread.result(), context["filters_qs"]
        )
        whole = whole.replace(thread_marker, _in_panel(request, thread_context), 1)
        title = f"{thread_title(ticket_id, thread_context['ticket'])} · {title}"
        timing.mark(request, "thread")
    whole = whole.replace(title_marker, escape(bidi.plain(title)), 1)  # as base.html's title
    return HttpResponse(whole, status=error.http_status if error else 200), error


def _total_html(request, known_total, filters_qs):
    """The summary's total as the ticket index or the count knows it, rendered while the store
    answers: what a first page of more than a page shows (see `_total`)."""
    if known_total is None:
        return ""
    context = {"total": known_total, "filters_qs": filters_qs}
    return render_to_string(LIST_TEMPLATE + "#list-total", context, request)


def _in_panel(request, thread_context):
    """A thread as the list's side panel shows it, with its links to copy and to close."""
    context = {**thread_context, "in_panel": True}
    return render_to_string(THREAD_TEMPLATE + "#thread", context, request)


def _canonical_form(canonical, form):
    """An HTMX request is answered where it stands, but the form it shows is the bookmark's,
    never the raw spelling: "2026-1-7" would show as an empty date."""
    form = TicketFilterForm(QueryDict(canonical), context=form.context)
    form.is_valid()
    return form


def _answerless(form, query):
    """What a list's context holds whatever the store answers: its filters as a bookmark's
    query string, and what the list is called in its tab (a view's name is set by the caller,
    else its filters in words). A whole page works them out while the store answers."""
    return {
        "filters_qs": form.bookmark(query.filters),
        "list_name": describe_query(query.filters, form.ticket_types),
    }


def _list_context(form, query, page, error, known_total=None, known=None, answerless=None):
    """The results' context; `answerless` is `_answerless`'s, when it was worked out already."""
    answerless = answerless or _answerless(form, query)
    tickets = page.tickets if page else ()
    from_index = known is not None and known.source == index_known.INDEX
    filters_qs = answerless["filters_qs"]
    return {
        "form": form,
        "query": query,
        "page": page,
        "error": error,
        "invalid_cursor": isinstance(error, store.InvalidCursor),
        "filters_qs": filters_qs,
        "total": _total(query, page, known_total, from_index),
        **_as_of(query, known, filters_qs, error),
        # A first page from the index has no cursor of the store's: more comes with its answer.
        "more_later": from_index and len(tickets) >= index_known.PAGE_SIZE,
        "list_name": answerless["list_name"],
        "arrivals_url": arrivals.poller(query, page, filters_qs),
        "names": names.Shown(
            ticket_types=form.ticket_types or {},
            staff=form.context.agents,
            # Known names now; the others are looked up in the background, never waited for.
            people=names.customers(t.requester for t in tickets),
            tags=form.context.tags,
        ),
    }


def list_title(name, total):
    """The tab's title for a list called `name`: "Urgent for me (19)", with the total when it
    is known exactly (the `#list-total[data-total]` the page shows)."""
    counted = total.counts if total is not None else None
    if counted is not None and counted.complete and not counted.capped:
        return f"{name} ({counted.total})"
    return name


def thread_title(ticket_id, ticket):
    """An open thread in the tab's title: "#1603 Refund please"."""
    if ticket is None:
        return f"#{ticket_id}"
    subject = " ".join((ticket.subject or "").split()) or "(no subject)"
    return f"#{ticket_id} {Truncator(subject).chars(60)}"


def _as_of(query, known, filters_qs, error):
    """What a page shown as it was known says of its age, and (a first page) where it asks
    for the fresh one; or, for a page still being asked of the store, where it asks for it."""
    if isinstance(error, store.StillAsking):
        asked = f"{filters_qs}&{urlencode([('cursor', query.cursor)])}" if query.cursor else ""
        return {"fresh_url": threads.poll_url(reverse("fresh_list"), None, asked or filters_qs)}
    if known is None:
        return {}
    found = {"as_of": known.as_of}
    if not query.cursor:
        found["fresh_url"] = threads.poll_url(reverse("fresh_list"), known.as_of, filters_qs)
    return found


def _total(query, page, known=None, partial=False):
    """What the first page's summary says of the filter's total: exact when the list fits on
    the page; else what the ticket index or the background count knows (`known`, when it was
    read already), never waited for (the page's poller has it counted). A `partial` page (the
    index's first rows) says nothing of where the list ends."""
    if page is None or query.cursor or not page.tickets:
        return None
    if not page.next_cursor and not partial:
        return counts.Total(counts.Counts.exactly(len(page.tickets)), counting=False)
    return known if known is not None else _known_total(query.filters)


def _known_total(query, start=False):
    """`query`'s total: read from the ticket index when it answers (exact, nothing walked),
    else what the count walk knows, a step started with `start`, and why it walks when the
    index answers other filters."""
    indexed = index_counts.total(query)
    if indexed is not None:
        return counts.Total(indexed, counting=False, indexed=True)
    known = counts.total(query, start=start)
    note = index_counts.walk_note(query)
    return replace(known, walk_note=note) if known is not None and note else known


def _first_page(query, answer, cached=None):
    """Ask the store for `query`'s page and give `answer` `(page, error)` as soon as it is
    known: before the page is cached for others, who wait for that, not the person here. A
    page `cached` already (given by the view) only has its next page fetched."""
    if cached is not None:
        try:
            answer.wait_released()  # the view first, then the next page
            prefetch.next_page(query, cached)
        finally:
            answer.finish()
        return
    try:
        with store.when_sent(answer.went):
            found = store.page_or_known(
                query,
                ready=lambda page: answer.give(page, None),
                fallback=lambda: index_known.first_page(query),
                looked=True,
            )
        if found.as_of is not None:
            answer.known = found  # before the page is given: the view reads both together
        answer.give(found.value, None)  # from the cache, or known (a fetched one was given)
        if found.as_of is None:
            prefetch.next_page(query, found.value)  # so that "Load more" answers from the cache
    except store.TicketsAPIError as exc:
        answer.give(None, exc)
    except BaseException as exc:  # whatever it is, the view must not wait for ever
        answer.fail(exc)
        raise
    finally:
        answer.finish()


def _invalid_filters(request, form, current=None):
    """Field errors beside the fields; nothing was asked of the store. When all that stands in
    the way is which of several customers (or products) was meant, that is a question, not an
    error (200): the list offers each as a choice."""
    params = form.data.copy()  # the request's, or a saved view's
    params.pop("cursor", None)
    params.pop("ticket", None)
    params.pop(SHOWN_REQUESTER, None)
    question = questions.asked(form) if form.asks_only else None
    context = {
        "form": form,
        "page": None,
        "error": None,
        "question": question,
        "invalid_cursor": form.cursor_error,
        "filters_qs": params.urlencode(),  # the request's own filters, to start again from
    }
    template = _list_template(request, paging=bool(request.GET.get("cursor")))
    if template.endswith("#results"):
        # The errors belong beside the fields, which live outside the swapped results.
        template = LIST_TEMPLATE + "#invalid-filters"
    elif template == LIST_TEMPLATE:
        context["sidebar"] = sidebar(request, current, context=form.context)
    return render(request, template, context, status=200 if question else 400)


def _bookmark_url(request, canonical):
    """The list's URL for `canonical` filters; no filters at all is "All tickets" when `/`
    opens the person's default view."""
    return list_url(canonical) if canonical else saved_views.unfiltered_url(request.user)


def _list_template(request, paging=False):
    if not is_fragment(request):
        return LIST_TEMPLATE
    return LIST_TEMPLATE + ("#ticket-rows" if paging else "#results")


def _open_ticket(params):
    """The ticket whose thread is open beside the list (`?ticket=`), or None. A value that is
    not a ticket id is dropped, not refused: the redirect to the bookmark leaves it out and the
    list still shows (a mistyped link still leads somewhere useful)."""
    try:
        return as_id(params["ticket"]) if params.get("ticket") else None
    except ValidationError:
        return None


def _with_ticket(canonical, ticket_id):
    if ticket_id is None:
        return canonical
    return f"{canonical}&ticket={ticket_id}" if canonical else f"ticket={ticket_id}"


@require_GET
def fresh_list(request):
    """What a list page shown as it was known (or still being asked) asks every 2 s, for
    `threads.POLL_FOR` s: its results (or, for "Load more", its rows) once the store's answer
    is in the shared cache, which htmx swaps in; until then 204 (nothing is swapped), and the
    answer asked for again in the background should nobody be asking it. Nothing here waits
    for the store."""
    form = filter_form(request, fetch=False)
    stamps = _stamps(request.GET)
    if not form.is_valid() or stamps is None:
        return HttpResponseBadRequest()
    query = form.query()
    page = store.cached_page(query)
    if page is None:
        return _still_known(request, stamps, store.refresh_page, query, "as-of")
    part = LIST_TEMPLATE + ("#ticket-rows" if query.cursor else "#results")
    response = _fragment(
        request, form, query, page, None, template=part, list_path=reverse("ticket_list")
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def fresh_thread(request, ticket_id):
    """What a thread shown as it was known asks every 2 s: the thread once the store's answer
    is in the shared cache (swapped in by htmx), 204 until then (see `fresh_list`)."""
    stamps = _stamps(request.GET)
    if stamps is None:
        return HttpResponseBadRequest()
    ticket = store.cached_ticket(ticket_id)
    if ticket is None:
        return _still_known(request, stamps, store.refresh_ticket, ticket_id, "thread-as-of")
    fetched = threads.Fetched(ticket, None)
    context = threads.thread_context(request, ticket_id, fetched, list_filters(request.GET))
    context["in_panel"] = request.GET.get("panel") == "1"
    response = render(request, THREAD_TEMPLATE + "#thread", context)
    response["Cache-Control"] = "no-store"
    return response


def _stamps(params):
    """`(as_of, until)` of a poll: when the answer shown was as of (None: nothing was shown,
    it is still being asked), and when to stop asking."""
    try:
        until = int(params.get("until", ""))
        if "as_of" not in params:
            return None, until
        return datetime.fromtimestamp(int(params["as_of"]), UTC), until
    except (ValueError, OverflowError, OSError):
        return None


def _still_known(request, stamps, refresh, question, note_id):
    """No fresh answer yet: 204 while the page may go on asking (the answer asked for again in
    the background, once however many ask); past its time, 286, which stops htmx's poll, with
    what stays in place of the poller: the note of the answer's age, without "updating", or
    (nothing was shown) that the store is still busy."""
    as_of, until = stamps
    if time.time() < until:
        refresh(question)
        response = HttpResponse(status=204)
    else:
        if as_of is not None:
            context = {"as_of": as_of, "note_id": note_id, "gave_up": True}
            response = render(request, "dashboard/_as_of.html", context, status=286)
        else:
            context = {"error": store.StoreBusy(), "gave_up": True}
            response = render(request, "dashboard/_error.html", context, status=286)
        response["HX-Retarget"] = "this"
        response["HX-Reswap"] = "outerHTML"
    response["Cache-Control"] = "no-store"
    return response
