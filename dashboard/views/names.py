"""Names looked up since a page was shown: the page asks for the ones it still waits for, and
gets each one back as an element that takes the place of every one showing an email or id."""

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from dashboard.templatetags.dashboard_tags import person_html, product_html
from dashboard.tickets import names
from dashboard.tickets.filter_fields import DIGITS

MAX_IDS = 100


@require_GET
def waiting_names(request):
    requesters = _ids(request.GET.getlist("requester"))
    products = _ids(request.GET.getlist("product"))
    parts = [
        _swap(person_html(i, person), "requester", i)
        for i, person in names.customers(requesters).items()
    ]
    parts += [
        _swap(product_html(i, product), "product", i)
        for i, product in names.products(products).items()
    ]
    response = HttpResponse("".join(parts))
    response["Cache-Control"] = "no-store"
    return response


def _ids(values):
    return sorted({int(v) for v in values[:MAX_IDS] if DIGITS.fullmatch(v) and len(v) < 11})


def _swap(html, kind, item_id):
    # Out of band, in place of every element showing this id (rows, facts, comment authors).
    selector = f"[data-{kind}-id='{item_id}']"
    return html.replace("<span ", f'<span hx-swap-oob="outerHTML:{selector}" ', 1)
