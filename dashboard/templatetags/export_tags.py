"""The list's "Download CSV" link, with what the file will hold."""

from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.inclusion_tag("dashboard/_export_link.html")
def export_link(filters_qs):
    url = reverse("export_csv") + (f"?{filters_qs}" if filters_qs else "")
    return {"url": url, "max_rows": f"{settings.EXPORT_MAX_ROWS:,}"}
