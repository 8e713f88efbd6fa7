"""Display links: made, listed and revoked by signed-in people. A new link's URL is shown once."""

from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.forms import DisplayLinkForm
from dashboard.models import DisplayLink


@require_http_methods(["GET", "POST"])
def display_links(request):
    if request.method == "GET":
        initial = {"filters": request.GET.get("filters", "")}
        return _page(request, DisplayLinkForm(initial=initial))
    form = DisplayLinkForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    link = form.save(commit=False)
    link.created_by = request.user
    secret = link.issue_secret()
    link.save()
    new_link = (link, request.build_absolute_uri(link.path_for(secret)))
    return _page(request, DisplayLinkForm(), new_link=new_link, status=201)


@require_POST
def revoke_display_link(request, link_id):
    link = get_object_or_404(DisplayLink, pk=link_id)
    link.revoke()
    return HttpResponseRedirect(reverse("display_links"))


def _page(request, form, new_link=None, status=200):
    context = {
        "form": form,
        "links": DisplayLink.objects.order_by("revoked_at", "name"),
        "new_link": new_link,
    }
    return render(request, "dashboard/display_links.html", context, status=status)
