"""Bulk changes from the list: the list's form posts the ticked tickets here (`/bulk/`), and
the progress page (`/bulk/<id>/`) shows how far the change has gone, then each ticket's
outcome. The list's form swaps that progress in beside the list by HTMX and polls it every
two seconds; without JavaScript the POST leads to the page, which a link refreshes."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from dashboard import store
from dashboard.models import BulkChange
from dashboard.triage import bulk, may_triage
from dashboard.views.common import staff_or_empty

TEMPLATE = "dashboard/bulk.html"
POLL_SECONDS = 2
STOP_POLLING = 286  # htmx swaps this answer and polls no more


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


def bar(user, agents, back):
    """What the list's bulk bar needs, or None for a person who may not change tickets. While
    the store refuses the token `tickets:write` (remembered ten minutes), no form: a note."""
    if not may_triage(user):
        return None
    form = None
    if not store.scope_refused(store.WRITE_SCOPE):
        form = bulk.BulkForm(initial={"back": back}, staff=agents, auto_id="bulk-%s")
    return {"form": form, "write_scope": store.WRITE_SCOPE, "most": settings.BULK_MAX}


@require_POST
def start_bulk(request):
    if not may_triage(request.user):
        raise PermissionDenied("Changing tickets from the list needs the permission to triage.")
    form = bulk.BulkForm(request.POST, staff=staff_or_empty())
    if not form.is_valid():
        context = {"reasons": form.reasons(), "back_url": _back(form.data.get("back"))}
        template = TEMPLATE + ("#refused" if request.htmx else "")
        return render(request, template, {**context, "refused": True}, status=400)
    started = bulk.start(request.user, form.cleaned_data["ids"], form.changes())
    back = form.cleaned_data["back"]
    if request.htmx:
        return _progress(request, started, back, TEMPLATE + "#bulk-progress", status=201)
    return HttpResponseSeeOther(progress_url(started, back))


@require_GET
@vary_on_headers("HX-Request")
def bulk_progress(request, bulk_id):
    found = BulkChange.objects.filter(pk=bulk_id).first()
    # Only who started it, or staff: anyone else finds nothing here.
    if found is None or not (found.user_id == request.user.pk or request.user.is_staff):
        raise Http404("No such bulk change.")
    bulk.settle_if_lost(found)
    back = _back(request.GET.get("back"))
    if request.htmx:
        return _progress(request, found, back, TEMPLATE + "#bulk-poll")
    return _progress(request, found, back, TEMPLATE)


def progress_url(found, back=""):
    url = reverse("bulk_progress", args=[found.pk])
    return f"{url}?{urlencode({'back': back})}" if back else url


def _progress(request, found, back, template, status=200):
    shown = bulk.progress(found)
    context = {
        "bulk": found,
        "progress": shown,
        "described": bulk.describe(found.changes, store.staff(fetch=False)),
        "back_url": back or reverse("ticket_list"),
        "refresh_url": progress_url(found, back),  # and what the poller asks
        "poll_seconds": POLL_SECONDS,
    }
    if template.endswith("#bulk-poll") and shown.finished:
        status = STOP_POLLING
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _back(value):
    return bulk.local_path(value)
