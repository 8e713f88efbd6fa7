"""A person's own settings for how pages look: the list's density, the open thread's width."""

from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from dashboard.models import Preference


@require_POST
def set_density(request):
    """Remember the density with the person's account. Without JavaScript the form posts and
    comes back to the page it was on; with HTMX the switch is swapped for its new state, and
    app.js moves the page's class to match."""
    density = request.POST.get("density", "")
    if density not in dict(Preference.DENSITIES):
        return HttpResponseBadRequest("Unknown density.")
    return _kept(request, "density", density, "dashboard/list.html#density-switch")


def _kept(request, name, value, switch):
    """Keep the person's `name` preference, then answer: the `switch` partial in its new state
    for HTMX, else a redirect back to the page the form was on."""
    Preference.objects.update_or_create(user=request.user, defaults={name: value})
    setattr(request, name, value)
    if request.htmx:
        return render(request, switch, {"back_url": _back(request)})
    return HttpResponseRedirect(_back(request))


def _back(request):
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    return reverse("ticket_list")


@require_POST
def set_thread_width(request):
    """Remember how wide the open thread is beside the list, as the density is remembered:
    with HTMX the switch comes back in its new state and app.js moves the page's class."""
    try:
        width = int(request.POST.get("thread_width", ""))
    except ValueError:
        width = None
    if width not in dict(Preference.THREAD_WIDTHS):
        return HttpResponseBadRequest("Unknown width.")
    return _kept(request, "thread_width", width, "dashboard/thread.html#width-switch")
