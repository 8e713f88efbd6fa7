"""Saved views: who sees and changes which, their order, a person's default, and what their
filters mean.

A view keeps the list's canonical query string. Its filters are read by the list's own form
whenever they are used, so a view whose agent or ticket type has gone shows the form's errors
rather than reaching the store; they carry ids, never names, so reading them asks the store
nothing.
"""

import unicodedata
import zlib

from django.conf import settings
from django.core.exceptions import PermissionDenied, TooManyFieldsSent
from django.db import connection, transaction
from django.http import Http404, QueryDict
from django.urls import reverse

from dashboard.bidi import isolate
from dashboard.models import DefaultView, SavedView
from dashboard.tickets.filters import MAX_ID, MINE, TicketFilterForm
from dashboard.tickets.labels import InWords

ALL, MY_TICKETS, NEEDS_REPLY = "all", "mine", "waiting"  # the built-in views' keys
MAX_NAME = SavedView._meta.get_field("name").max_length
SHARE_PERMISSION = "dashboard.share_views"
# The key of PostgreSQL's lock under which views are saved and shared (see `_one_at_a_time`).
_LOCK_KEY = zlib.crc32(b"dashboard.saved_views")


class Refused(Exception):
    """Why a view was not saved or shared, in words for the person: nothing was changed."""


def can_share(user):
    """Whether the person may share views with the team: a permission staff grant (the
    "Team views" group has it), so that the team's sidebar is kept by the people it trusts."""
    return getattr(user, "is_authenticated", False) and user.has_perm(SHARE_PERMISSION)


def visible(user):
    """The team's views, then the person's own, each group in its order."""
    views = list(SavedView.objects.visible_to(user).select_related("owner"))
    return [v for v in views if v.shared], [v for v in views if not v.shared]


def find(user, view_id):
    """A view the person can see; 404 otherwise, whether it is another's or does not exist."""
    if not 1 <= view_id <= MAX_ID:
        raise Http404("No such view.")
    try:
        return SavedView.objects.visible_to(user).select_related("owner").get(pk=view_id)
    except SavedView.DoesNotExist:
        raise Http404("No such view.") from None


def changeable(user, view_id):
    """A view the person may change: 404 when they cannot see it, 403 when they may only look."""
    view = find(user, view_id)
    if not view.can_change(user):
        raise PermissionDenied("Only its owner, or staff for a team view, can change this view.")
    return view


def form_for(query_string, context):
    """The list's filter form bound to a saved query string, validated."""
    try:
        data = QueryDict(query_string)
    except TooManyFieldsSent:
        data = QueryDict("id=0")  # not a filter the form accepts
    form = TicketFilterForm(data, context=context)
    form.is_valid()
    return form


def filters_of(query_string, context):
    """The `TicketQuery` of a saved query string, or None when its filters no longer hold."""
    form = form_for(query_string, context)
    return form.query().filters if form.is_valid() else None


def for_walls(user, context):
    """The views a display link can be made from, in the sidebar's order, as `(view,
    needs_agent)`: every view the person sees whose filters hold. One that means the
    signed-in person ("Mine") needs an agent picked in its place, since an unattended screen
    has nobody to be."""
    team, own = visible(user)
    found = []
    for view in team + own:
        if uses_mine(view.query):
            if form_for(for_agent(view.query, None), context).is_valid():
                found.append((view, True))
        elif form_for(view.query, context).is_valid():
            found.append((view, False))
    return found


def uses_mine(query_string):
    """Whether a view's filters mean the signed-in person ("Mine")."""
    try:
        return QueryDict(query_string).get("assignee") == MINE
    except TooManyFieldsSent:
        return False


def for_agent(query_string, agent_id):
    """A view's filters with the agent `agent_id` in place of "Mine" (None: any assignee)."""
    data = QueryDict(query_string, mutable=True)
    data.pop("assignee", None)
    if agent_id is not None:
        data["assignee"] = str(agent_id)
    return data.urlencode()


def describe_mine(query_string, context):
    """A view of "Mine" in words, whoever reads it: "Status: Open · Assignee: Mine"."""
    mine = InWords((("Assignee", (("Mine", False),)),))
    return describe(for_agent(query_string, None), context) + mine


def name_key(name):
    """What two names must differ in to be two views: "Ärger" and "ärger", "Waiting" and
    "WAITING", "ﬁx" and "fix" are each one name."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def name_problem(name, owner, shared, exclude=None):
    """Why `name` cannot be a view's name among its siblings, or "" when it can."""
    if not name:
        return "Give the view a name."
    if len(name) > MAX_NAME:
        return f"A view's name has at most {MAX_NAME} characters."
    siblings = SavedView(owner=owner, shared=shared).siblings()
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude.pk)
    # Compared here rather than by the database's `iexact`, which folds only ASCII on SQLite
    # ("Ärger" and "ärger" both passed) and knows nothing of compatibility forms.
    wanted = name_key(name)
    if not any(name_key(known) == wanted for known in siblings.values_list("name", flat=True)):
        return ""
    whose = "The team already has" if shared else "You already have"
    return f"{whose} a view called “{isolate(name)}”."


def create(owner, name, query_string, shared):
    """Save a view, or raise `Refused`: its name is taken among its siblings, its owner keeps
    as many views as one person may, or the team shares as many as it may."""
    with transaction.atomic():
        _one_at_a_time()
        if problem := name_problem(name, owner, shared) or _no_room(owner, shared):
            raise Refused(problem)
        view = SavedView(owner=owner, name=name, query=query_string, shared=shared)
        view.position = _end_of(view.siblings())
        view.save()
    return view


def share(view, shared):
    """Move a view between the team's and its owner's own, at the end of its new group; or
    raise `Refused` (its name is taken there, or the team shares as many as it may)."""
    if view.shared == shared:
        return
    with transaction.atomic():
        _one_at_a_time()
        problem = name_problem(view.name, view.owner, shared, exclude=view)
        if problem := problem or (shared and _no_room(None, shared)):
            raise Refused(problem)
        view.shared = shared
        view.position = _end_of(view.siblings())
        view.save(update_fields=["shared", "position", "updated_at"])


def _no_room(owner, shared):
    """Why one more view cannot be saved (for `owner`, unless None) or shared, or ""."""
    if owner is not None:
        kept = SavedView.objects.filter(owner_id=owner.pk).count()
        if kept >= settings.VIEWS_PER_PERSON:
            return (
                f"You keep {kept} views, the most one person can. Delete one on the views "
                "page to save another."
            )
    if shared:
        team = SavedView.objects.filter(shared=True).count()
        if team >= settings.TEAM_VIEWS:
            return (
                f"The team shares {team} views, the most it can. Its views' owners or staff "
                "can delete or stop sharing one on the views page first."
            )
    return ""


def _one_at_a_time():
    """Views are saved and shared one at a time across machines, inside the caller's
    transaction, so that two saves at once cannot both pass a cap or take one name. On
    PostgreSQL that is a transaction-level advisory lock (a row lock would not stop a new row
    being inserted beside the counted ones); on SQLite every transaction begins by taking the
    database's write lock (settings). Saves are rare: this never waits long."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def move(view, step):
    """Move a view one place up (-1) or down (+1) among its siblings."""
    with transaction.atomic():
        order = list(view.siblings().select_for_update())
        at = next(i for i, sibling in enumerate(order) if sibling.pk == view.pk)
        to = at + step
        if not 0 <= to < len(order):
            return
        order[at], order[to] = order[to], order[at]
        for position, sibling in enumerate(order):
            if sibling.position != position:
                SavedView.objects.filter(pk=sibling.pk).update(position=position)


def _end_of(siblings):
    last = siblings.order_by("-position").values_list("position", flat=True).first()
    return 0 if last is None else last + 1


def default_of(user):
    """A person's default view: a `SavedView` they can see, `MY_TICKETS`, or None (the whole
    list). A team view made personal since by its owner is nobody else's default any more."""
    chosen = DefaultView.objects.filter(user_id=user.pk).select_related("view").first()
    if chosen is None:
        return None
    if chosen.builtin == DefaultView.MINE:
        return MY_TICKETS
    view = chosen.view
    if view is None or not (view.shared or view.owner_id == user.pk):
        return None
    return view


def set_default(user, choice):
    """Make `choice` (a visible `SavedView`, `MY_TICKETS` or `ALL`) the person's default."""
    if choice == ALL:
        DefaultView.objects.filter(user_id=user.pk).delete()
        return
    fields = {"view": None, "builtin": DefaultView.MINE}
    if isinstance(choice, SavedView):
        fields = {"view": choice, "builtin": ""}
    DefaultView.objects.update_or_create(user_id=user.pk, defaults=fields)


def default_key(user):
    """The sidebar's key of the person's default view."""
    default = default_of(user)
    if default is None:
        return ALL
    return MY_TICKETS if default == MY_TICKETS else str(default.pk)


def unfiltered_url(user):
    """Where the list without filters lives: `/`, unless `/` opens the person's default
    view; then the built-in "All tickets"."""
    has_default = DefaultView.objects.filter(user_id=user.pk).exists()
    return reverse("all_tickets") if has_default else reverse("ticket_list")


def describe(query_string, context):
    """A view's filters in words, e.g. "Status: New, Open · Priority: High" (an `InWords`,
    whose values a page isolates: they are people's and the store's words)."""
    form = form_for(query_string, context)
    if not form.is_valid():
        return InWords((("Filters that no longer hold", ((query_string or "none", False),)),))
    parts = []
    for name, field in form.fields.items():
        value = form.cleaned_data.get(name)
        if name == "cursor" or value in (None, "", [], ()):
            continue
        parts.append((field.label or name.capitalize(), _words(form, name, value)))
    return InWords(tuple(parts))


def _words(form, name, value):
    """A filter's values, each `(text, quoted)`: what was typed is quoted."""
    field = form.fields[name]
    if name == "tags":
        return tuple((form.context.tags.by_id.get(tag, f"#{tag}"), False) for tag in value)
    choices = {str(key): label for key, label in getattr(field, "choices", ())}
    items = value if isinstance(value, list | tuple) else [value]
    shown = []
    for item in items:
        if choices:
            shown.append((str(choices.get(str(item), f"#{item}")), False))
        elif isinstance(item, int):
            shown.append((f"#{item}", False))
        elif hasattr(item, "isoformat"):
            shown.append((item.isoformat(), False))
        else:
            shown.append((str(item), True))
    return tuple(shown)
