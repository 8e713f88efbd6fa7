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
    Preference.objects.update_or_create(user=request.user, defaults={"density": density})
    request.density = density
    if request.htmx:
        context = {"back_url": _back(request)}
        return render(request, "dashboard/list.html#density-switch", context)
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
    Preference.objects.update_or_create(user=request.user, defaults={"thread_width": width})
    request.thread_width = width
    if request.htmx:
        context = {"back_url": _back(request)}
        return render(request, "dashboard/thread.html#width-switch", context)
    return HttpResponseRedirect(_back(request))
