"""Names looked up since a page was shown: the page asks for the ones it still waits for, and
gets each one back as an element that takes the place of every one showing an email or id.
Only what a page of this session was served waiting for is looked up (`tickets.refs`)."""

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from dashboard import budget
from dashboard.templatetags.dashboard_tags import person_html, product
from dashboard.tickets import names, refs
from dashboard.tickets.filter_fields import DIGITS

MAX_IDS = 100
MAX_REFS = 20  # a list with a few "Load more" and a thread beside it
# The page asks every 2 s at first, then less often; a person has a few tabs open.
ASKS_PER_MINUTE = 90


def _too_often(request):
    """A 429 when this person asked more than `ASKS_PER_MINUTE` times in the last minute."""
    try:
        wait, _ = budget.backend().admit_attempt(
            f"names-asked:{request.user.pk}", 60, ASKS_PER_MINUTE
        )
    except budget.SharedStateError:
        return None  # names are a nicety: asked again later
    if wait <= 0:
        return None
    response = HttpResponse(status=429)
    response["Retry-After"] = str(max(1, int(wait) + 1))
    return response


@require_GET
def waiting_names(request):
    """Only ids a page of this session was served waiting for are looked up (its signed
    references, `ref`), and a person asks at most `ASKS_PER_MINUTE` times a minute."""
    refused = _too_often(request)
    if refused is not None:
        return refused
    vouched_people, vouched_products = refs.named(
        request.session.session_key, request.GET.getlist("ref")[:MAX_REFS]
    )
    people, titles = {}, {}
    asked_people, asked_titles = set(), set()
    # An open thread's names are asked for apart from the list's: they are looked up first,
    # and an id in both is asked for once, as the thread's.
    for prefix, shown_on in (("thread_", names.THREAD), ("", names.PAGE)):
        requesters = set(_ids(request.GET.getlist(prefix + "requester"))) - asked_people
        requesters &= vouched_people
        people.update(names.customers(requesters, shown_on))
        products = set(_ids(request.GET.getlist(prefix + "product"))) - asked_titles
        products &= vouched_products
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
