"""Names looked up since a page was shown: the page asks for the ones it still waits for, and
gets each one back as an element that takes the place of every one showing an email or id."""

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from dashboard.templatetags.dashboard_tags import person_html, product
from dashboard.tickets import names
from dashboard.tickets.filter_fields import DIGITS

MAX_IDS = 100


@require_GET
def waiting_names(request):
    people, titles = {}, {}
    asked_people, asked_titles = set(), set()
    # An open thread's names are asked for apart from the list's: they are looked up first,
    # and an id in both is asked for once, as the thread's.
    for prefix, shown_on in (("thread_", names.THREAD), ("", names.PAGE)):
        requesters = set(_ids(request.GET.getlist(prefix + "requester"))) - asked_people
        people.update(names.customers(requesters, shown_on))
        products = set(_ids(request.GET.getlist(prefix + "product"))) - asked_titles
        titles.update(names.products(products, shown_on))
        asked_people |= requesters
        asked_titles |= products
    # Out of band, in place of every element showing this id (rows, facts, comment authors).
    parts = [person_html(i, person, oob=True) for i, person in sorted(people.items())]
    parts += [
        render_to_string("dashboard/_product.html", product(i, {i: found}, oob=True))
        for i, found in sorted(titles.items())
    ]
    response = HttpResponse("".join(parts))
    response["Cache-Control"] = "no-store"
    return response


def _ids(values):
    return sorted({int(v) for v in values[:MAX_IDS] if DIGITS.fullmatch(v) and len(v) < 11})
