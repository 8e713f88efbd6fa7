"""A thread's triage form, and what its POST answers.

The form is shown only to people with the permission `dashboard.triage_tickets`, and hidden for
ten minutes once the store refused the token `tickets:write` (`store.scope_refused`). Its POST:

- 403 for anyone without the permission (and Django's 403 without a CSRF token); no write;
- 400 for a form that is not valid, or a change the store refused (its words beside the field);
- 409 when the ticket changed since the form was shown: nothing written, what changed said,
  and the person's own choices kept for a second try;
- otherwise the thread as the store answered the write: in place with HTMX (the thread, its row
  on the list beside it, and a `tickets-changed` event for the counts), or, without
  JavaScript, a redirect back to the thread with a message saying what changed.
"""

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard import bidi, store
from dashboard.templatetags.dashboard_tags import agent
from dashboard.templatetags.ticket_rows import ticket_rows
from dashboard.triage import may_triage
from dashboard.triage.changes import Conflict, apply
from dashboard.triage.forms import TriageForm, status_label
from dashboard.views import threads
from dashboard.views.common import is_fragment, list_filters, staff_or_empty

logger = logging.getLogger(__name__)

THREAD_TEMPLATE = "dashboard/thread.html"
# The store's field names, where the form's differ.
FORM_FIELDS = {"comment": "note", "body": "note"}


@require_POST
def triage(request, ticket_id):
    if not may_triage(request.user):
        raise PermissionDenied("You may not change tickets.")
    if store.scope_refused(store.WRITE_SCOPE):
        return _thread(request, ticket_id, None, status=403, problem=threads.SCOPE_MESSAGE)
    staff, tag_names = staff_or_empty(), threads.tag_names()
    form = TriageForm(request.POST, staff=staff, tag_names=tag_names)
    if not form.is_valid():
        return _thread(request, ticket_id, form, status=400)
    try:
        done = apply(request.user, ticket_id, form.wanted())
    except Conflict as conflict:
        again = TriageForm.again(request.POST, conflict, staff=staff, tag_names=tag_names)
        return _thread(request, ticket_id, again, status=409, conflict=conflict, staff=staff)
    except store.WriteRefused as exc:
        for name, words in exc.field_errors.items():
            name = FORM_FIELDS.get(name, name)
            form.add_error(name if name in form.fields else None, " ".join(_words(words)))
        if not exc.field_errors:
            form.add_error(None, exc.message)
        return _thread(request, ticket_id, form, status=400)
    except store.ScopeMissing:
        return _thread(request, ticket_id, None, status=403, problem=threads.SCOPE_MESSAGE)
    except store.TicketsAPIError as exc:
        return _thread(request, ticket_id, form, status=exc.http_status, problem=_not_made(exc))
    if done is None:
        said = "Nothing changed, so nothing was sent."
    else:
        said = _said(ticket_id, done, staff)
    if is_fragment(request):
        return _changed(request, done.ticket if done else None, ticket_id, said)
    messages.success(request, said)
    return HttpResponseRedirect(_thread_url(request, ticket_id))


def _thread(request, ticket_id, form, status, problem="", conflict=None, staff=None):
    """The thread with the form as the person left it (or none), and what went wrong."""
    if conflict is not None:
        store.forget_ticket(ticket_id)  # the thread shows the ticket as it is now
    fetched = threads.fetch_ticket(ticket_id)
    context = threads.thread_context(request, ticket_id, fetched, list_filters(request.GET), form)
    if problem:
        if status == 403:
            context.pop("triage_form", None)
        context["triage_problem"] = problem
    if conflict is not None:
        context["conflict"] = _conflict_lines(conflict, staff or {})
    context["in_panel"] = is_fragment(request)
    template = THREAD_TEMPLATE + ("#thread" if is_fragment(request) else "")
    return render(request, template, context, status=status)


def _changed(request, ticket, ticket_id, said):
    """The thread in place, its row on the list beside it, and word for the counts."""
    fetched = (ticket, None) if ticket is not None else threads.fetch_ticket(ticket_id)
    context = threads.thread_context(request, ticket_id, fetched, list_filters(request.GET))
    context["triage_done"] = said
    context["in_panel"] = True
    html = render_to_string(THREAD_TEMPLATE + "#thread", context, request)
    if fetched[0] is not None:
        # The list's row, swapped where it stands (a <tr> travels inside a <template>).
        # The person just changed a ticket: the row keeps its box to tick, as the list has it.
        row = ticket_rows([fetched[0]], context["names"], list_filters(request.GET), pick=True)
        target = f"outerHTML:#ticket-rows tr[data-ticket-id='{int(ticket_id)}']"
        html += (
            "<template>"
            + row.replace("<tr ", f'<tr data-hx-swap-oob="{target}" ', 1)
            + "</template>"
        )
    response = HttpResponse(html)
    response["HX-Trigger"] = "tickets-changed"
    return response


def _said(ticket_id, done, staff):
    """What a change did, in words: "Ticket #7 changed: status New → Open; note added"."""
    parts = []
    for name, (before, after) in done.fields.items():
        if name == "tags":
            added = sorted(set(after or ()) - set(before or ()))
            removed = sorted(set(before or ()) - set(after or ()))
            parts.append(
                "tags"
                + (f" +{', +'.join(map(bidi.isolate, added))}" if added else "")
                + (f" −{', −'.join(map(bidi.isolate, removed))}" if removed else "")
            )
        else:
            was, now = _shown(name, before, staff), _shown(name, after, staff)
            if name == "assignee":  # agents' names, isolated from the sentence (dashboard.bidi)
                was, now = bidi.isolate(was), bidi.isolate(now)
            parts.append(f"{name} {was} → {now}")
    if done.note:
        parts.append("public reply sent" if done.note == "public" else "internal note added")
    return f"Ticket #{ticket_id} changed: " + "; ".join(parts) + "."


def _conflict_lines(conflict, staff):
    lines = []
    for difference in conflict.differences:
        lines.append(
            (
                difference.label,
                _shown(difference.name, difference.seen, staff),
                _shown(difference.name, difference.now, staff),
            )
        )
    return {"lines": lines, "new_comments": conflict.new_comments}


def _shown(name, value, staff):
    if name == "assignee":
        return _agent_name(value, staff)
    if name == "tags":
        return ", ".join(sorted(value or ())) or "none"
    return status_label(value)


def _agent_name(value, staff):
    return "Unassigned" if value in (None, "") else agent(value, staff)


def _words(words):
    if isinstance(words, dict):  # a nested comment's errors: {"body": ["..."]}
        return [w for value in words.values() for w in _words(value)]
    if isinstance(words, (list, tuple)):
        return [w for value in words for w in _words(value)]
    return [str(words)]


def _not_made(error):
    if isinstance(error, store.StoreTimeout):
        return (
            "The store did not answer in time, so the dashboard cannot tell whether the change "
            "was made. Reload the ticket to see it as the store has it before trying again."
        )
    return f"The change was not made: {error.message}"


def _thread_url(request, ticket_id):
    filters = list_filters(request.GET)
    url = reverse("ticket_detail", args=[ticket_id])
    return f"{url}?{filters}" if filters else url
