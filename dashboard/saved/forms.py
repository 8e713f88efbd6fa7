"""The forms of saved views: saving the list's filters under a name, renaming, and making a
display link from views. (The display link's form lives here, not in dashboard/wall: it is a
form of the models, and dashboard.models already reads the wall's options and filters.)"""

from django import forms

from dashboard.models import DisplayLink, SavedView, Tag
from dashboard.saved.saved_views import MAX_NAME
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

    def __init__(self, *args, views=(), **kwargs):
        """`views`: `(view, description)` pairs of the saved views the person may pick."""
        super().__init__(*args, **kwargs)
        self.offered = [view.pk for view, _ in views]
        self.described = list(views)
        labels = {view.pk: _label(view, description) for view, description in views}
        field = self.fields["views"]
        field.queryset = SavedView.objects.filter(pk__in=self.offered)
        field.label_from_instance = lambda view: labels[view.pk]
        name = self.fields["name"]
        name.required = False
        name.help_text = "Left empty, the link is named after the views it shows."
        filters = self.fields["filters"]
        filters.required = False
        filters.label = "Or type filters"
        filters.help_text = (
            "One ticket-list filter per line, as the list's address has it, e.g. "
            "status=new&status=open. They take turns after the views picked above."
        )
        self.order_fields(["views", "name"])

    def view_options(self):
        """The views to pick from, for the page to show as checkboxes with their filters."""
        chosen = {str(pk) for pk in self["views"].value() or ()}
        return [
            {"view": view, "about": about, "checked": str(view.pk) in chosen}
            for view, about in self.described
        ]

    def clean_filters(self):
        typed = self.cleaned_data["filters"]
        return canonical_filters(typed, Tag.catalogue()) if typed.strip() else ""

    def clean(self):
        cleaned = super().clean()
        if "filters" in self.errors or "views" in self.errors:
            return cleaned
        picked = sorted(cleaned.get("views") or (), key=lambda view: self.offered.index(view.pk))
        lines = [view.query for view in picked] + cleaned["filters"].splitlines()
        if not lines:
            self.add_error("views", "Pick at least one view, or type a filter below.")
        elif len(lines) > MAX_WALL_FILTERS:
            self.add_error(
                None, f"A display link takes turns among at most {MAX_WALL_FILTERS} filters."
            )
        else:
            cleaned["filters"] = "\n".join(lines)
        if not cleaned.get("name"):
            if not picked:
                self.add_error("name", "Give the link a name.")
            cleaned["name"] = " · ".join(view.name for view in picked)[:NAME_LENGTH]
        return cleaned


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
