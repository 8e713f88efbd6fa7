"""The forms of saved views: saving the list's filters under a name, renaming, and making a
display link from views. (The display link's form lives here, not in dashboard/wall: it is a
form of the models, and dashboard.models already reads the wall's options and filters.)"""

from django import forms

from dashboard.bidi import isolate
from dashboard.models import DisplayLink, SavedView, Tag
from dashboard.saved.saved_views import MAX_NAME, for_agent
from dashboard.wall.filters import MAX_WALL_FILTERS, canonical_filters


class DisplayLinkForm(forms.ModelForm):
    """A display link, made by picking saved views; typing filters is the advanced way."""

    views = forms.ModelMultipleChoiceField(
        queryset=SavedView.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Views to show",
        help_text="Several views take turns on the screen.",
    )

    class Meta:
        model = DisplayLink
        fields = [
            "name",
            "filters",
            "sort",
            "refresh_seconds",
            "rotate_seconds",
            "warn_after_hours",
            "alert_after_hours",
        ]
        widgets = {"filters": forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})}

    def __init__(self, *args, views=(), agents=None, **kwargs):
        """`views`: `(view, description, needs_agent)` of the saved views the person may pick,
        in the order they are listed; one that `needs_agent` uses "Mine", and is shown for an
        agent of `agents` (`{id: Person}`) picked in its place."""
        super().__init__(*args, **kwargs)
        self.described = list(views)
        self.offered = [view.pk for view, _, needs_agent in views if not needs_agent]
        labels = {view.pk: _label(view, description) for view, description, _ in views}
        field = self.fields["views"]
        field.queryset = SavedView.objects.filter(pk__in=self.offered)
        field.label_from_instance = lambda view: labels[view.pk]
        self.agents = agents or {}
        agent_choices = [("", "Not shown")] + [
            (str(agent_id), agent.name)
            for agent_id, agent in sorted(self.agents.items(), key=lambda a: a[1].name.casefold())
        ]
        for view, _, needs_agent in views:
            if needs_agent and self.agents:
                self.fields[_agent_field(view)] = forms.TypedChoiceField(
                    label=f"Agent for “{isolate(view.name)}”",
                    choices=agent_choices,
                    coerce=int,
                    empty_value=None,
                    required=False,
                    # The page says beside it why the view needs an agent.
                    widget=forms.Select(attrs={"aria-describedby": f"mine-note-{view.pk}"}),
                )
        name = self.fields["name"]
        name.required = False
        name.help_text = (
            "Everyone signed in sees it. Left empty, a link of team views is named after them; "
            "one that shows any of your own views needs a name of its own."
        )
        filters = self.fields["filters"]
        filters.required = False
        filters.label = "Or type filters"
        filters.help_text = (
            "One ticket-list filter per line, as the list's address has it, e.g. "
            "status=new&status=open. They take turns after the views picked above."
        )
        self.order_fields(["views", "name"])

    def view_options(self):
        """The views to pick from, for the page: a checkbox each, with its filters; one that
        uses "Mine" has a select of agents instead (`agent`, None while no agent is known)."""
        chosen = {str(pk) for pk in self["views"].value() or ()}
        options = []
        for view, about, needs_agent in self.described:
            option = {"view": view, "about": about, "needs_agent": needs_agent}
            if needs_agent:
                name = _agent_field(view)
                option["agent"] = self[name] if name in self.fields else None
            else:
                option["checked"] = str(view.pk) in chosen
            options.append(option)
        return options

    def other_fields(self):
        """The link's own settings, for the page to show after the views."""
        return [
            field
            for field in self
            if field.name not in ("views", "filters") and not field.name.startswith("agent_for_")
        ]

    def clean_filters(self):
        typed = self.cleaned_data["filters"]
        return canonical_filters(typed, Tag.catalogue()) if typed.strip() else ""

    def clean(self):
        cleaned = super().clean()
        if "filters" in self.errors or "views" in self.errors:
            return cleaned
        shown = self._shown(cleaned)
        lines = [line for _, line in shown] + cleaned["filters"].splitlines()
        if not lines:
            self.add_error("views", "Pick at least one view, or type a filter below.")
        elif len(lines) > MAX_WALL_FILTERS:
            self.add_error(
                None, f"A display link takes turns among at most {MAX_WALL_FILTERS} filters."
            )
        else:
            cleaned["filters"] = "\n".join(lines)
        if not cleaned.get("name"):
            if not shown:
                self.add_error("name", "Give the link a name.")
            elif any(not view.shared for (view, _), _ in shown):
                # Every signed-in person sees the links' names; a person's own views' are theirs.
                self.add_error(
                    "name",
                    "Give the link a name of its own: everyone sees the links' names, and "
                    "your own views' names are yours.",
                )
            cleaned["name"] = " · ".join(label for (_, label), _ in shown)[:NAME_LENGTH]
        return cleaned

    def _shown(self, cleaned):
        """`((view, label), filter)` of each view picked, in the order they are listed: a view
        of "Mine" with its agent's id in place of "Mine", and labelled after them too."""
        picked = {view.pk for view in cleaned.get("views") or ()}
        shown = []
        for view, _, needs_agent in self.described:
            agent_id = cleaned.get(_agent_field(view)) if needs_agent else None
            if needs_agent and agent_id is not None:
                line = canonical_filters(for_agent(view.query, agent_id), Tag.catalogue())
                shown.append(((view, f"{view.name} ({self.agents[agent_id].name})"), line))
            elif view.pk in picked:
                shown.append(((view, view.name), view.query))
        return shown


def _agent_field(view):
    return f"agent_for_{view.pk}"


NAME_LENGTH = DisplayLink._meta.get_field("name").max_length


def _label(view, description):
    whose = "team" if view.shared else "yours"
    return f"{view.name} ({whose}): {description}"


class SaveViewForm(forms.Form):
    """The "Save this view" form: a name for the list's current filters, and who sees it."""

    name = forms.CharField(max_length=MAX_NAME, strip=True)
    shared = forms.BooleanField(required=False, label="Share with the team")
    query = forms.CharField(required=False, strip=True, widget=forms.HiddenInput)


class RenameViewForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAME, strip=True)
