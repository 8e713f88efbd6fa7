"""The ticket filter form and its canonical query string.

The form's field names are the Tickets List parameters, so its URL is the bookmark. It
validates everything the API would reject, so bad input never reaches the store.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError

from dashboard import store
from dashboard.tickets.filter_fields import (
    MAX_ID,
    FreeListField,
    FreeListInput,
    IdField,
    MultipleChoiceIgnoringEmpty,
    TextFilterField,
    as_id,
    numberish,
)

# Cursors are opaque, but every cursor the API hands out is short URL-safe text.
CURSOR_RE = re.compile(r"^[A-Za-z0-9+/=_.~%-]{1,512}$")

STATUS_CHOICES = [(status, status.capitalize()) for status in store.STATUSES]
PRIORITY_CHOICES = [("", "Any priority")] + [(p, p.capitalize()) for p in store.PRIORITIES]
CHANNEL_CHOICES = [("", "Any channel"), *store.CHANNELS.items()]
MINE = "mine"


@dataclass(frozen=True)
class TagCatalogue:
    """The team's tags, name to id: the API filters by tag id but tickets carry tag names, and
    the store has no list of tags to look them up in."""

    by_id: dict = field(default_factory=dict)  # id -> name

    def id_for(self, name):
        wanted = name.strip().casefold()
        return next((tag_id for tag_id, known in self.by_id.items() if known.casefold() == wanted),
                    None)  # fmt: skip


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


TAGS_LISTED = 12  # the tag names the form lists as a reminder


class TicketFilterForm(forms.Form):
    filter_text = TextFilterField(
        label="Search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Ticket id, subject or requester email"}
        ),
    )
    status = MultipleChoiceIgnoringEmpty(
        choices=STATUS_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    priority = forms.ChoiceField(choices=PRIORITY_CHOICES, required=False)
    channel = forms.ChoiceField(choices=CHANNEL_CHOICES, required=False)
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
        context = context or FilterContext(ticket_types=ticket_types)
        self.context = context
        self.ticket_types = context.ticket_types
        self.fields["ticket_type"].choices = _choices(
            "Any type", context.ticket_types or {}, lambda t: t.name, data, "ticket_type", "Type"
        )
        assignees = _choices("Anyone", context.agents, lambda p: p.name, data, "assignee", "Agent")
        if context.signed_in:
            assignees.insert(1, (MINE, "Mine"))
        self.fields["assignee"].choices = assignees
        tags = self.fields["tags"]
        tags.name_to_id, tags.id_to_name = self._tag_id, context.tags.by_id
        if known := sorted(context.tags.by_id.values(), key=str.casefold):
            shown = ", ".join(known[:TAGS_LISTED]) + (", …" if len(known) > TAGS_LISTED else "")
            tags.help_text = f"{tags.help_text} Tags by name: {shown}."
        # Several customers or products may answer a name: offered as choices beside it.
        self.choices = {}

    @property
    def select_fields(self):
        return [self["priority"], self["channel"], self["ticket_type"], self["assignee"]]

    @property
    def more_fields(self):
        return [self[name] for name in self.more_filter_names]

    @property
    def more_filters_used(self):
        return any(str(self.data.get(name, "")).strip() for name in self.more_filter_names)

    def _tag_id(self, name):
        tag_id = self.context.tags.id_for(name)
        if tag_id is None:
            raise ValidationError(
                f"No tag is called “{name}” in the team's tag catalogue: enter its id, or ask "
                "an admin to add it (Admin > Tags)."
            )
        return tag_id

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
            # Names that only the store can turn into ids, asked once everything else is valid.
            self._resolve("requester", _find_customer)
            self._resolve("product", _find_product)
        return cleaned

    def _resolve(self, name, find):
        value = self.cleaned_data.get(name)
        items = value if isinstance(value, tuple) else (value,)
        resolved = []
        for item in items:
            if not isinstance(item, str) or not item:
                resolved.append(item)
                continue
            try:
                if numberish(item):
                    resolved.append(as_id(item, f"{name} id"))
                elif not self.context.look_up:
                    raise ValidationError(f"Enter the {name} id.")
                else:
                    resolved.append(find(item, self.choices.setdefault(name, [])))
            except ValidationError as exc:
                self.add_error(name, exc)
                return
        if isinstance(value, tuple):
            self.cleaned_data[name] = tuple(sorted(set(resolved)))
        else:
            self.cleaned_data[name] = resolved[0]

    def query(self):
        """The validated filters as a Tickets List query."""
        data = self.cleaned_data
        return store.TicketQuery(
            filter_text=data["filter_text"],
            id=data["id"],
            subject=data["subject"],
            status=tuple(s for s in store.STATUSES if s in data["status"]),
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

    def bookmark(self, query):
        """The canonical query string of this form's query: what the address bar and every
        link carry. "Mine" stays "mine", so a bookmark of it is everyone's own."""
        mine = self.cleaned_data.get("assignee") == MINE
        return querystring(query, mine=mine)

    @property
    def cursor_error(self):
        return self.has_error("cursor", code="cursor")


def _choices(anything, known, label, data, name, kind):
    """A select's choices: "anything", then what is known by name; while nothing is known
    (not fetched yet, or a scope missing), a chosen id stays selectable by its number."""
    choices = [("", anything)]
    ordered = sorted(known.items(), key=_by_label(label))
    choices += [(str(key), label(item)) for key, item in ordered]
    chosen = (data.get(name, "") if data is not None else "").strip()
    if not known and chosen and chosen != MINE:
        choices.append((chosen, f"{kind} #{chosen}"))
    return choices


def _by_label(label):
    return lambda pair: label(pair[1]).casefold()


def _find_customer(text, choices):
    by = "email" if "@" in text else "name"
    found = _ask(lambda: store.find_customers(**{by: text}), text, "users:read", "customer id")
    return _one(found, text, choices, "customer", by, lambda p: f"{p.name} <{p.email}>")


def _find_product(text, choices):
    found = _ask(lambda: store.find_products(text), text, "catalogue:read", "product id")
    return _one(found, text, choices, "product", "title", lambda p: p.title)


def _ask(find, text, scope, instead):
    try:
        return find()
    except store.ScopeMissing:
        raise ValidationError(
            f"Finding “{text}” needs the {scope} scope on the store's token: enter the "
            f"{instead} instead."
        ) from None
    except store.TicketsAPIError as exc:
        raise ValidationError(
            f"The store could not look up “{text}” just now: {exc.message}"
        ) from None


def _one(found, text, choices, kind, by, describe):
    if len(found) == 1:
        return found[0].id
    if not found:
        raise ValidationError(f"No {kind} has the {by} “{text}”." if by == "email" else
                              f"No {kind} matches the {by} “{text}”.")  # fmt: skip
    choices.extend((item.id, describe(item)) for item in found[: store.FIND_LIMIT])
    if len(found) > store.FIND_LIMIT:
        raise ValidationError(
            f"More than {store.FIND_LIMIT} {kind}s match “{text}”: choose one of the first "
            f"{store.FIND_LIMIT} below, or type more of the {by}.",
            code="choose",
        )
    raise ValidationError(f"{len(found)} {kind}s match “{text}”: choose one below.", code="choose")


def _by_name(ticket_type):
    return ticket_type.name.casefold()


def querystring(query, mine=False):
    """The canonical query string of a query: what the address bar and every link carry."""
    params = query.params()
    if mine:
        params = [(name, MINE if name == "assignee" else value) for name, value in params]
    return urlencode(params)
