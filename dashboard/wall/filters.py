"""A display link's filters: one list filter per line, each read by the list's own form, so a
screen shows exactly what the list would."""

from django.core.exceptions import TooManyFieldsSent, ValidationError
from django.http import QueryDict

from dashboard import store
from dashboard.tickets.filters import FilterContext, TagCatalogue, TicketFilterForm, querystring

MAX_WALL_FILTERS = 10  # a display link rotates among at most this many


def parse_wall_filters(text, tags=None):
    """The canonical queries of a display link's filters, one per line; ValidationError if any
    line is not a filter the list itself would accept. A screen has nobody signed in, so
    "mine" means nobody here; tag names are read from the catalogue `tags`."""
    lines = [line.strip().lstrip("?") for line in str(text).splitlines() if line.strip()]
    if not lines:
        raise ValidationError("Give at least one filter, e.g. status=new&status=open.")
    if len(lines) > MAX_WALL_FILTERS:
        raise ValidationError(f"A display link rotates among at most {MAX_WALL_FILTERS} filters.")
    context = FilterContext(
        ticket_types=store.ticket_types(fetch=False),
        tags=tags or TagCatalogue(),
        signed_in=False,
    )
    queries = []
    for number, line in enumerate(lines, start=1):
        try:
            data = QueryDict(line)
        except TooManyFieldsSent:
            raise ValidationError(
                f"Line {number} has too many parameters to be a filter."
            ) from None
        form = TicketFilterForm(data, context=context)
        if not form.is_valid():
            problems = "; ".join(
                f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()
            )
            raise ValidationError(f"Line {number} ({line}) is not a valid filter: {problems}")
        queries.append(form.query().filters)
    return queries


def canonical_filters(text, tags=None):
    return "\n".join(querystring(query) for query in parse_wall_filters(text, tags))
