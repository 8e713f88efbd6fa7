"""Saved views: each at its own URL, saved from the list, renamed, reordered, shared and
deleted on the views page, one of them a person's default at `/`; the built-in "All tickets"
and "Mine"; and the sidebar's counts.

Every change is checked here, on every request: only its owner, or staff for a team view, can
change a view (403), and nobody sees another person's own views (404).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from dashboard import store
from dashboard.saved import saved_views
from dashboard.saved.forms import RenameViewForm, SaveViewForm
from dashboard.saved.saved_views import ALL, MY_TICKETS
from dashboard.tickets.filter_fields import bounded_id
from dashboard.tickets.querystring import MINE
from dashboard.views import tickets
from dashboard.views.common import filter_form, is_fragment, known_context, list_url
from dashboard.views.sidebar import sidebar

MINE_QUERY = f"assignee={MINE}"
BUILTINS = [
    (ALL, "All tickets", "Every ticket, without filters."),
    (MY_TICKETS, "Mine", "The tickets assigned to you: the agent whose email is yours."),
]


@require_GET
@vary_on_headers("HX-Request")
def home(request):
    """`/`: the person's default view when the address has no filters, else the list."""
    if not request.META.get("QUERY_STRING") and not is_fragment(request):
        default = saved_views.default_of(request.user)
        if default == MY_TICKETS:
            return _mine(request)
        if default is not None:
            return _view_list(request, default.query, str(default.pk))
    return tickets.ticket_list(request)


@require_GET
@vary_on_headers("HX-Request")
def saved_view(request, view_id):
    view = saved_views.find(request.user, view_id)
    return _view_list(request, view.query, str(view.pk))


@require_GET
@vary_on_headers("HX-Request")
def all_tickets(request):
    return _view_list(request, "", ALL)


@require_GET
@vary_on_headers("HX-Request")
def my_tickets(request):
    return _mine(request)


def _mine(request):
    """The tickets assigned to the agent whose email is the person's; when no agent's is, the
    page says so and the store is asked for no tickets."""
    form = filter_form(request, QueryDict(MINE_QUERY))
    if form.context.me is not None:
        return _view_list(request, MINE_QUERY, MY_TICKETS)
    context = {"email": form.context.my_email, "agents_known": store.staff(fetch=False) is not None}
    results = render_to_string("dashboard/_mine_missing.html", context, request)
    if is_fragment(request):
        return render(request, "dashboard/_mine_missing.html", context)
    views = sidebar(request, MY_TICKETS, context=form.context)
    page = {"form": form, "results_html": results, "sidebar": views}
    return render(request, tickets.LIST_TEMPLATE, page)


def _view_list(request, saved, key):
    """A view's list at its own URL. Its address may add a cursor to the view's filters ("Load
    more" without JavaScript); other filters are the plain list's, so they lead there."""
    params = request.GET.copy()
    cursor = params.pop("cursor", [""])[-1]
    if params and params.urlencode() != saved:
        return HttpResponseRedirect(list_url(request.META.get("QUERY_STRING", "")))
    data = QueryDict(saved, mutable=True)
    if cursor:
        data["cursor"] = cursor
    return tickets.list_response(request, filter_form(request, data), current=key)


@require_POST
def save_view(request):
    """The list's current filters saved as a view, read by the list's own form."""
    form = SaveViewForm(request.POST)
    filters = filter_form(request, QueryDict(request.POST.get("query", "")))
    if form.is_valid() and form.cleaned_data["shared"]:
        _may_share(request.user)
    if form.is_valid() and filters.is_valid():
        name, shared = form.cleaned_data["name"], form.cleaned_data["shared"]
        query = filters.bookmark(filters.query().filters)
        try:
            return redirect(saved_views.create(request.user, name, query, shared))
        except saved_views.Refused as refused:
            form.add_error("name", str(refused))
    context = {"form": form, "filters": filters, "back": list_url(form.data.get("query", ""))}
    return render(request, "dashboard/save_view.html", context, status=400)


def _may_share(user):
    if not saved_views.can_share(user):
        raise PermissionDenied(
            "Sharing views with the team takes the “Can share views with the team” "
            "permission (the “Team views” group has it). Staff can grant it in the admin."
        )


@require_GET
def manage(request):
    return _manage_page(request)


@require_POST
def rename(request, view_id):
    view = saved_views.changeable(request.user, view_id)
    form = RenameViewForm(request.POST)
    name = form.cleaned_data["name"] if form.is_valid() else ""
    problem = saved_views.name_problem(name, view.owner, view.shared, exclude=view)
    if problem:
        return _manage_page(request, problems={view.pk: problem}, status=400)
    view.name = name
    view.save(update_fields=["name", "updated_at"])
    return _back_to_manage()


@require_POST
def move(request, view_id):
    view = saved_views.changeable(request.user, view_id)
    step = {"up": -1, "down": 1}.get(request.POST.get("direction", ""))
    if step is None:
        return HttpResponseBadRequest("Move a view up or down.")
    saved_views.move(view, step)
    return _back_to_manage()


@require_POST
def share(request, view_id):
    """Make a view the team's, or its owner's own again."""
    view = saved_views.changeable(request.user, view_id)
    shared = request.POST.get("shared") == "1"
    if shared:
        _may_share(request.user)
    try:
        saved_views.share(view, shared)
    except saved_views.Refused as refused:
        return _manage_page(request, share_problems={view.pk: str(refused)}, status=400)
    return _back_to_manage()


@require_http_methods(["GET", "POST"])
def delete(request, view_id):
    """GET asks to confirm; POST deletes."""
    view = saved_views.changeable(request.user, view_id)
    if request.method == "GET":
        return render(request, "dashboard/delete_view.html", {"view": view})
    view.delete()
    return _back_to_manage()


@require_POST
def make_default(request):
    """The view `/` opens for this person: any view they can see, or a built-in one."""
    choice = request.POST.get("view", "")
    if choice not in (ALL, MY_TICKETS):
        view_id = bounded_id(choice)
        if view_id is None:
            return HttpResponseBadRequest("Choose a view.")
        choice = saved_views.find(request.user, view_id)
    saved_views.set_default(request.user, choice)
    return _back_to_manage()


@require_GET
def counts(request):
    """The sidebar's counts, asked for again and again while someone looks: what the shared
    cache knows, each due count stepped on in the background. Never waits for the store."""
    response = render(
        request, "dashboard/_views_sidebar.html#counts", {"sidebar": sidebar(request, start=True)}
    )
    response["Cache-Control"] = "no-store"
    return response


def _manage_page(request, problems=None, share_problems=None, status=200):
    user, context = request.user, known_context(request)
    team, own = saved_views.visible(user)

    def rows(views):
        return [
            {
                "view": view,
                "about": saved_views.describe(view.query, context),
                "can_change": view.can_change(user),
                "problem": (problems or {}).get(view.pk, ""),
                "share_problem": (share_problems or {}).get(view.pk, ""),
                "first": i == 0,
                "last": i == len(views) - 1,
            }
            for i, view in enumerate(views)
        ]

    page = {
        "builtins": BUILTINS,
        "team": rows(team),
        "own": rows(own),
        "default": saved_views.default_key(user),
        "can_share": saved_views.can_share(user),
        "kept": sum(1 for view in team + own if view.owner_id == user.pk),
        "limits": {"own": settings.VIEWS_PER_PERSON, "team": settings.TEAM_VIEWS},
    }
    return render(request, "dashboard/saved_views.html", page, status=status)


def _back_to_manage():
    return HttpResponseRedirect(reverse("saved_views"))
