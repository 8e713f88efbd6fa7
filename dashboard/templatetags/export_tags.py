"""The list's "Download CSV" link, with what the file will hold."""

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def export_link(filters_qs):
    """A plain link (no HTMX): the browser downloads the file, shows its progress and can
    cancel it; the note says how far it goes."""
    url = reverse("export_csv") + (f"?{filters_qs}" if filters_qs else "")
    return format_html(
        '<a class="link export-link" href="{}" aria-describedby="export-note">Download CSV</a>'
        '<span id="export-note" class="export-note">up to {} rows</span>',
        url,
        f"{settings.EXPORT_MAX_ROWS:,}",
    )
