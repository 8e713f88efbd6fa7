"""The forms of the dashboard's own records: display links."""

from django import forms

from dashboard.filters import canonical_filters
from dashboard.models import DisplayLink, Tag


class DisplayLinkForm(forms.ModelForm):
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

    def clean_filters(self):
        return canonical_filters(self.cleaned_data["filters"], Tag.catalogue())
