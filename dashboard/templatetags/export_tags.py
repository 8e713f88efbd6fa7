"""The list's "Download CSV" and "Download Excel" links, with what the files will hold."""

from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.inclusion_tag("dashboard/_export_link.html")
def export_link(filters_qs):
    query = f"?{filters_qs}" if filters_qs else ""
    return {
        "csv_url": reverse("export_csv") + query,
        "xlsx_url": reverse("export_xlsx") + query,
        "max_rows": f"{settings.EXPORT_MAX_ROWS:,}",
    }
