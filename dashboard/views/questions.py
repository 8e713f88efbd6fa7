"""The list's question when several customers (or products) answer what was typed: each is a
choice, by name and e-mail, with how many tickets they have, and picking one is a link to the
list of these filters with that customer's id (the bookmark).

Customers are counted from the ticket index when it answers, in two queries however many
match: all their tickets, and those the list's other filters keep. When the index does not
answer, the counts are left out: asking the store would cost a call per customer."""

from dataclasses import dataclass

from django.http import QueryDict

from dashboard.index import counts as index_counts
from dashboard.tickets.filters import SHOWN_REQUESTER
from dashboard.views.common import list_url


@dataclass(frozen=True)
class Pick:
    """One choice as the list offers it."""

    id: int
    name: str
    email: str
    href: str
    tickets: int | None = None  # all of theirs; None when not counted
    listed: int | None = None  # those these filters keep; None when not counted

    @property
    def counted(self):
        """Their tickets in words: "48 tickets", "1 ticket, none with these filters"."""
        if self.tickets is None:
            return ""
        every = _tickets(self.tickets)
        if self.listed is None or self.listed == self.tickets:
            return every
        kept = "none" if self.listed == 0 else f"{self.listed}"
        return f"{every}, {kept} with these filters"


@dataclass(frozen=True)
class Asked:
    """The question the list asks in place of its tickets."""

    field: str
    text: str
    kind: str
    message: str
    picks: tuple[Pick, ...]
    counts_as_of: object = None  # when counted from an index no webhook keeps live
    filtered: bool = False  # the list has other filters, which each pick keeps


def asked(form):
    """The question a filter form asks (the first, if it asks two), or None."""
    if not form.questions:
        return None
    name = "requester" if "requester" in form.questions else next(iter(form.questions))
    question = form.questions[name]
    others = form.query_apart_from(name)
    counted = None
    if question.kind == "customer" and others is not None:
        counted = index_counts.by_requester(others, [c.id for c in question.choices])
    picks = [_pick(form, question, choice, counted) for choice in question.choices]
    if counted is not None:
        # The customer with the most tickets these filters keep is likeliest the one meant.
        picks.sort(key=lambda pick: (-(pick.listed or 0), -(pick.tickets or 0)))
    return Asked(
        field=name,
        text=question.text,
        kind=question.kind,
        message=question.message,
        picks=tuple(picks),
        counts_as_of=counted.shown_as_of if counted is not None else None,
        filtered=others is not None and others.params() != [],
    )


def _pick(form, question, choice, counted):
    tickets = listed = None
    if counted is not None:
        tickets = counted.every.get(choice.id)
        listed = counted.listed.get(choice.id) if counted.listed is not None else None
    return Pick(
        id=choice.id,
        name=choice.name,
        email=choice.email,
        href=list_url(_picked(form.data, question, choice.id)),
        tickets=tickets,
        listed=listed,
    )


def _picked(data, question, chosen):
    """The list's parameters with `chosen` in place of what was typed: every other filter and
    the open thread kept, the cursor (a page of another list) dropped, empty ones left out.
    The list redirects them to their bookmark."""
    params = QueryDict(mutable=True)
    for name, values in data.lists():
        if name in ("cursor", SHOWN_REQUESTER):
            continue
        if name == question.field:
            values = (
                [str(chosen)]
                if question.kind == "customer"
                else _replaced(values, question.text, chosen)
            )
        kept = [value for value in values if str(value).strip()]
        if kept:
            params.setlist(name, kept)
    if question.field not in params:
        params[question.field] = str(chosen)
    return params.urlencode()


def _replaced(values, text, chosen):
    """A field's values with the item `text` replaced by the id `chosen`: a product list keeps
    its other items ("Starter, 40" becomes "12, 40")."""
    items = [item.strip() for value in values for item in str(value).split(",")]
    return [", ".join(str(chosen) if item == text else item for item in items if item)]


def _tickets(number):
    if number == 0:
        return "no tickets"
    return "1 ticket" if number == 1 else f"{number} tickets"
