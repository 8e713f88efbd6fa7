"""The ticket filter form.

The form's field names are the Tickets List parameters, so its URL is the bookmark. It
validates everything the API would reject, so bad input never reaches the store. What it offers
and resolves lives beside it: the choices (`filter_choices`), tags by name (`tags`), customers and
products that only the store can find (`lookups`), and the bookmark itself (`querystring`).

A customer the bookmark names by id is shown by name in the Requester box when the dashboard
knows the name (`shown_customer`): the id stays in the address, and in a hidden input beside the
box, so that the name sent back with it stands for that customer again, with no look-up.
"""

import re
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import parse_qsl

from django import forms
from django.core.exceptions import ValidationError

from dashboard import store
from dashboard.tickets import filter_choices, lookups, tags
from dashboard.tickets.filter_fields import (
    MAX_ID,
    MAX_LIST_ITEMS,
    MAX_TEXT,
    FreeListField,
    FreeListInput,
    IdField,
    MultipleChoiceIgnoringEmpty,
    TextFilterField,
    as_id,
    bounded_id,
)
from dashboard.tickets.lookups import CHOOSE
from dashboard.tickets.querystring import MINE, UNSOLVED, UNSOLVED_STATUSES, querystring
from dashboard.tickets.tags import TagCatalogue

__all__ = [
    "MAX_ID",
    "MINE",
    "FilterContext",
    "TagCatalogue",
    "TicketFilterForm",
    "plain_bookmark",
    "querystring",
]

# Cursors are opaque, but every cursor the API hands out is short URL-safe text.
CURSOR_RE = re.compile(r"^[A-Za-z0-9+/=_.~%-]{1,512}$")
# Beside the Requester box, the id of the customer whose name it shows (never a filter).
SHOWN_REQUESTER = "shown_requester"


def plain_bookmark(query_string, ticket_types=None):
    """The query of `query_string` when it is a canonical bookmark whose every value the form
    takes as it is: statuses, priority and channel of the API's, ids in range, tidy texts, a
    cursor as the API writes them, dates in order, a ticket type among `ticket_types` (the
    known ones), and nothing to look up by name nor "Mine". Such a query is the form's own, and
    can be asked of the store before the form has checked it; None for anything else, which
    only the form can tell. (Every link the dashboard makes is such a bookmark.)"""
    query = store.TicketQuery.from_params(parse_qsl(query_string, keep_blank_values=True))
    if not query_string or querystring(query) != query_string:
        return None
    ids = [query.id, query.requester, *query.product, *query.tags]
    texts = [query.filter_text, query.subject, query.order_number, query.cursor]
    plain = (
        query.status == tuple(s for s in store.STATUSES if s in query.status)
        and query.priority in ("", *store.PRIORITIES)
        and query.channel in ("", *store.CHANNELS)
        and all(i is None or 1 <= i <= MAX_ID for i in ids)
        and all(items == tuple(sorted(set(items))) for items in (query.product, query.tags))
        and max(len(query.product), len(query.tags)) <= MAX_LIST_ITEMS
        and all(len(t) <= MAX_TEXT and t == t.strip() and "\x00" not in t for t in texts)
        and (not query.cursor or bool(CURSOR_RE.match(query.cursor)))
        and not (query.created_to and query.created_from and query.created_from > query.created_to)
        and query.assignee is None
        and (query.ticket_type is None or query.ticket_type in (ticket_types or {}))
    )
    return query if plain else None


def first_reads(request):
    """What a list page at `request` reads of the shared state before anything else of its
    own: its cached answer, when its address is a bookmark (which the list view asks the store
    for at once). The middleware `read_with_session` reads it with the person's session, which
    every page reads first: one round trip to Redis instead of two."""
    query = bookmark_query(request)
    return store.cached_page_keys(query) if query is not None else []


def bookmark_query(request):
    """The list's query when `request`'s address is a canonical bookmark (see `plain_bookmark`),
    else None; worked out once a request."""
    if not hasattr(request, "bookmark_query"):
        filters = request.META.get("QUERY_STRING", "").split("&ticket=")[0]
        # The ticket types only for a query that names one: they may be a read of their own.
        types = store.ticket_types(fetch=False) if "ticket_type=" in filters else None
        request.bookmark_query = plain_bookmark(filters, types)
    return request.bookmark_query


@dataclass(frozen=True)
class FilterContext:
    """What the form knows beyond the request: names to offer and to resolve, and who asks."""

    ticket_types: dict | None = None  # id -> TicketType, None while unknown
    tags: TagCatalogue = TagCatalogue()
    agents: dict = field(default_factory=dict)  # id -> Person
    me: int | None = None  # the signed-in person's agent id, matched by email
    my_email: str = ""
    signed_in: bool = True  # a display link's screen has nobody to be "mine"
    look_up: bool = True  # False: names the store would have to find are field errors


class TicketFilterForm(forms.Form):
    filter_text = TextFilterField(
        label="Search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Ticket id, subject or requester email"}
        ),
    )
    status = MultipleChoiceIgnoringEmpty(
        choices=filter_choices.STATUS_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    priority = forms.ChoiceField(choices=filter_choices.PRIORITY_CHOICES, required=False)
    channel = forms.ChoiceField(choices=filter_choices.CHANNEL_CHOICES, required=False)
    ticket_type = forms.TypedChoiceField(
        label="Ticket type", coerce=int, required=False, empty_value=None
    )
    assignee = forms.ChoiceField(label="Assignee", required=False)
    subject = TextFilterField(label="Subject contains")
    id = IdField(label="Ticket id", what="ticket id")
    order_number = TextFilterField(label="Order number")
    requester = TextFilterField(
        label="Requester",
        widget=forms.TextInput(attrs={"placeholder": "Email, name or customer id"}),
        help_text="An email, a name or a customer id.",
    )
    product = FreeListField(
        label="Products",
        what="product id",
        widget=FreeListInput(attrs={"placeholder": "Titles or ids, e.g. Starter kit, 40"}),
        help_text="Product titles or ids, separated by commas.",
    )
    tags = FreeListField(
        label="Tags",
        what="tag id",
        widget=FreeListInput(attrs={"placeholder": "e.g. vip, refund"}),
        help_text="Any of these tags, by name or id, separated by commas.",
    )
    created_from = forms.DateField(
        label="Created from",
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    created_to = forms.DateField(
        label="Created to",
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)

    # Filters folded under "More filters" unless one of them is in use.
    more_filter_names = (
        "subject",
        "id",
        "order_number",
        "requester",
        "product",
        "tags",
        "created_from",
        "created_to",
    )

    def __init__(self, data=None, *, context=None, ticket_types=None, **kwargs):
        super().__init__(data, **kwargs)
        self.context = context or FilterContext(ticket_types=ticket_types)
        self.ticket_types = self.context.ticket_types
        self.fields["ticket_type"].choices = filter_choices.ticket_types(self.context, data)
        self.fields["assignee"].choices = filter_choices.assignees(self.context, data)
        tag_field, catalogue = self.fields["tags"], self.context.tags
        tag_field.name_to_id = lambda name: tags.tag_id(catalogue, name)
        tag_field.id_to_name = catalogue.by_id
        tag_field.help_text = tags.help_text(tag_field.help_text, catalogue)
        # Several customers or products may answer a name: a question, by field name.
        self.questions = {}

    @property
    def select_fields(self):
        return [self["priority"], self["channel"], self["ticket_type"], self["assignee"]]

    @property
    def more_fields(self):
        return [self[name] for name in self.more_filter_names]

    @property
    def more_filters_used(self):
        return any(str(self.data.get(name, "")).strip() for name in self.more_filter_names)

    def clean_ticket_type(self):
        value = self.cleaned_data.get("ticket_type")
        if value is not None and not 1 <= value <= MAX_ID:
            raise ValidationError("Choose a ticket type from the list.")
        return value

    def clean_assignee(self):
        value = self.cleaned_data.get("assignee", "")
        if value != MINE:
            return as_id(value, "agent") if value else None
        if self.context.me is None:
            who = f" ({self.context.my_email})" if self.context.my_email else ""
            raise ValidationError(
                f"No agent in the store has your email{who}, so the dashboard cannot tell "
                "which tickets are yours."
            )
        return MINE

    def clean_cursor(self):
        cursor = self.cleaned_data.get("cursor", "").strip()
        if cursor and not CURSOR_RE.match(cursor):
            raise ValidationError(
                "This page link is not valid; start again from the top.", code="cursor"
            )
        return cursor

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("created_from"), cleaned.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "The end date is before the start date.")
        if not self.errors:
            picked = self._picked_requester()
            if picked is not None:
                cleaned["requester"] = str(picked)  # the name the box showed, for its id
            # Names that only the store can turn into ids, asked once everything else is valid.
            self._resolve("requester", lookups.find_customer)
            self._resolve("product", lookups.find_product)
        return cleaned

    def _resolve(self, name, find):
        asked = []
        try:
            value = lookups.resolve(
                self.cleaned_data.get(name), name, find, self.context.look_up, asked
            )
        except ValidationError as exc:
            self.add_error(name, exc)
        else:
            self.cleaned_data[name] = value
        if asked:
            self.questions[name] = asked[0]

    @property
    def asks_only(self):
        """Whether all that keeps these filters from a list is a question: which of several
        customers or products was meant (nothing typed is wrong)."""
        errors = self.errors.as_data()
        return bool(self.questions) and all(
            error.code == CHOOSE for found in errors.values() for error in found
        )

    def query_apart_from(self, name):
        """Every filter but `name`, as a query without its cursor; None unless `name` is the
        only field in question or in error."""
        if set(self.errors) - {name}:
            return None
        data = {**self.cleaned_data, name: self.fields[name].to_python("")}
        return self._query(data).filters

    def query(self):
        """The validated filters as a Tickets List query."""
        return self._query(self.cleaned_data)

    def _query(self, data):
        return store.TicketQuery(
            filter_text=data["filter_text"],
            id=data["id"],
            subject=data["subject"],
            status=tuple(s for s in store.STATUSES if s in self._statuses()),
            requester=data["requester"] or None,
            assignee=self.context.me if data["assignee"] == MINE else data["assignee"],
            order_number=data["order_number"],
            product=data["product"],
            tags=data["tags"],
            ticket_type=data["ticket_type"],
            priority=data["priority"],
            channel=data["channel"],
            created_from=data["created_from"],
            created_to=data["created_to"],
            cursor=data["cursor"],
        )

    def _statuses(self):
        chosen = set(self.cleaned_data["status"])
        return chosen | set(UNSOLVED_STATUSES) if UNSOLVED in chosen else chosen

    @cached_property
    def shown_customer(self):
        """The customer the Requester box stands for, shown by name: a `Choice` (id, name,
        email), or None when the box shows what was typed. An id whose name the dashboard
        knows (from a look-up before: nothing is asked of the store here) shows as that name;
        a name sent back with that id (`SHOWN_REQUESTER`) still stands for it."""
        raw = self._typed("requester")
        if (typed_id := bounded_id(raw)) is not None:
            return _known_customer(typed_id)
        picked = self._picked_requester()
        return None if picked is None else _known_customer(picked)

    def _picked_requester(self):
        """The customer id sent beside the Requester box, when the box still holds that
        customer's name; None when the person typed something else."""
        raw, shown = self._typed("requester"), self._typed(SHOWN_REQUESTER)
        shown_id = bounded_id(shown)
        if not raw or shown_id is None:
            return None
        known = _known_customer(shown_id)
        return known.id if known and known.name.casefold() == raw.casefold() else None

    def _typed(self, name):
        return str(self.data.get(name, "") or "").strip() if self.is_bound else ""

    def bookmark(self, query):
        """The canonical query string of this form's query: what the address bar and every
        link carry. "Mine" stays "mine", so a bookmark of it is everyone's own; "Unsolved"
        stays "unsolved"."""
        mine = self.cleaned_data.get("assignee") == MINE
        unsolved = UNSOLVED in self.cleaned_data.get("status", ())
        return querystring(query, mine=mine, unsolved=unsolved)

    @property
    def cursor_error(self):
        return self.has_error("cursor", code="cursor")


def _known_customer(customer_id):
    """A customer's name and email as the dashboard knows them, or None; asks the store
    nothing (names looked up before are kept for hours)."""
    found = store.known_customers([customer_id]).get(customer_id)
    person = found.person if found is not None else None
    if person is None:
        return None
    return lookups.Choice(person.id, person.name, person.email)
