"""What the views share: the bound filter form, fragments, names that are a nicety, and when to
ask again."""

import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connections
from django.http import QueryDict
from django.urls import reverse

from dashboard import store
from dashboard.models import Tag
from dashboard.tickets.filters import MINE, FilterContext, TicketFilterForm


def filter_form(request, data=None, fetch=True):
    """The list's filter form, bound to the request (or to a saved view's `data`). Validation
    never calls the store for names it should know: ticket types and agents come from the
    cache, and are fetched only once the rest of the input is known to be good. With
    `fetch=False` it never calls the store at all: only what is cached is known, and a name
    to find is a field error."""
    data = request.GET if data is None else data
    ticket_types, agents = store.ticket_types(fetch=False), store.staff(fetch=False)
    mine = str(data.get("assignee", "")).strip() == MINE
    if fetch and agents is None and mine and request.user.email:
        agents = staff_or_empty()  # "Mine" is whoever has your email: that must be known first
    form = TicketFilterForm(data, context=_context(request, ticket_types, agents, look_up=fetch))
    if fetch and (ticket_types is None or agents is None) and form.is_valid():
        ticket_types = ticket_types_or_none() if ticket_types is None else ticket_types
        agents = staff_or_empty() if agents is None else agents
        form = TicketFilterForm(data, context=_context(request, ticket_types, agents))
    return form


def known_context(request):
    """The filter form's context from what is cached, asking the store nothing: enough to read
    saved views, whose filters carry ids rather than names to look up."""
    return _context(request, store.ticket_types(fetch=False), store.staff(fetch=False))


def _context(request, ticket_types, agents, look_up=True):
    email = (getattr(request.user, "email", "") or "").strip()
    me = next(
        (
            agent.id
            for agent in (agents or {}).values()
            if email and agent.email.casefold() == email.casefold()
        ),
        None,
    )
    return FilterContext(
        ticket_types=ticket_types,
        tags=Tag.catalogue(),
        agents=agents or {},
        me=me,
        my_email=email,
        look_up=look_up,
    )


def ticket_types_or_none():
    """Ticket type names are a nicety: without them pages show type ids."""
    return _nicety(store.ticket_types, None)


def staff_or_empty():
    """Agent names are a nicety too: without them pages show agent ids."""
    return _nicety(store.staff, None) or {}


def _nicety(fetch, default):
    try:
        return fetch()
    except store.TicketsAPIError:
        return default


def is_fragment(request):
    """An HTMX swap wants its fragment; a history restore (or no HTMX) wants the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def list_url(canonical):
    url = reverse("ticket_list")
    return f"{url}?{canonical}" if canonical else url


def list_filters(params):
    """The list's filters that a thread's URL carries (`/tickets/7/?status=open`), for its links
    back to the list: only the filters' own parameters, re-encoded. They are never sent to the
    store from here; the list checks them as always when the link is followed."""
    kept = QueryDict(mutable=True)
    for name, values in params.lists():
        if name in store.FILTER_NAMES:
            kept.setlist(name, values)
    return kept.urlencode()


def thread_links(ticket_id, filters_qs):
    """Where a thread's links lead: the list it was opened from, that list with this thread
    open beside it (the thread's own link, to copy), and the thread alone (to open in a tab)."""
    opened = f"{filters_qs}&ticket={ticket_id}" if filters_qs else f"ticket={ticket_id}"
    page = reverse("ticket_detail", args=[ticket_id])
    return {
        "list_href": list_url(filters_qs),
        "thread_href": list_url(opened),
        "page_href": f"{page}?{filters_qs}" if filters_qs else page,
    }


def with_retry_after(response, error):
    """Tell clients (and proxies) when a 503 is worth asking again."""
    if error is not None and error.http_status == 503:
        response["Retry-After"] = str(getattr(error, "retry_seconds", None) or 5)
    return response


_pool = None  # (pid, executor): one pool per process, made after gunicorn forks
_pool_lock = threading.Lock()


def started(function, *args):
    """`function(*args)` running now in another thread, for its result to be read later: a
    view starts the store's call, renders what does not depend on the answer meanwhile, and
    reads the answer last. (Its thread waits on the store's socket, which frees the GIL.)"""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=16, thread_name_prefix="store"))
    # The caller's context goes along: the request budget's lane is kept in it.
    return _pool[1].submit(contextvars.copy_context().run, _task, function, *args)


def _task(function, *args):
    """A store thread is nobody's request: a database connection it opened (to read what the
    ticket index knows, say) is closed with its task, not left open for ever."""
    try:
        return function(*args)
    finally:
        connections.close_all()
