"""Display links: made from saved views (or typed filters), listed and revoked by signed-in
people. A new link's URL is shown once; revoking one asks first."""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from dashboard.models import DisplayLink
from dashboard.saved import saved_views
from dashboard.saved.forms import DisplayLinkForm
from dashboard.views.common import known_context, staff_or_empty


@require_http_methods(["GET", "POST"])
def display_links(request):
    context = known_context(request)
    views = _views(request, context)
    # A view of "Mine" is shown for an agent picked in its place: the agents are needed then.
    agents = context.agents or (staff_or_empty() if any(v[2] for v in views) else {})
    if request.method == "GET":
        initial = {"filters": request.GET.get("filters", ""), "views": request.GET.getlist("view")}
        return _page(request, DisplayLinkForm(initial=initial, views=views, agents=agents))
    form = DisplayLinkForm(request.POST, views=views, agents=agents)
    if not form.is_valid():
        return _page(request, form, status=400)
    link = form.save(commit=False)
    link.created_by = request.user
    secret = link.issue_secret()
    link.save()
    new_link = (link, request.build_absolute_uri(link.path_for(secret)))
    form = DisplayLinkForm(views=views, agents=agents)
    return _page(request, form, new_link=new_link, status=201)


@require_http_methods(["GET", "POST"])
def revoke_display_link(request, link_id):
    """GET asks to confirm; POST revokes."""
    link = get_object_or_404(DisplayLink, pk=link_id)
    if not link.can_revoke(request.user):
        raise PermissionDenied(
            "Only the person who made this display link, or staff, can revoke it."
        )
    if request.method == "GET":
        _describe([link], known_context(request))
        return render(request, "dashboard/revoke_link.html", {"link": link})
    link.revoke()
    return HttpResponseRedirect(reverse("display_links"))


def _views(request, context):
    """The saved views this person may show on a screen, with their filters in words, and
    whether each uses "Mine" (and needs an agent in its place)."""
    found = []
    for view, needs_agent in saved_views.for_walls(request.user, context):
        describe = saved_views.describe_mine if needs_agent else saved_views.describe
        found.append((view, describe(view.query, context), needs_agent))
    return found


def _describe(links, context):
    """Each link's filters in words, beside the query strings they are kept as."""
    for link in links:
        link.described = [(line, saved_views.describe(line, context)) for line in link.filter_list]
    return links


def _page(request, form, new_link=None, status=200):
    links = DisplayLink.objects.select_related("created_by").order_by("revoked_at", "name")
    for link in links:
        link.revocable = link.can_revoke(request.user)
    context = {
        "form": form,
        "links": _describe(links, known_context(request)),
        "new_link": new_link,
    }
    return render(request, "dashboard/display_links.html", context, status=status)
