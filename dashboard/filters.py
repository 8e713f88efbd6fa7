"""Filters: the ticket filter form, its canonical query string, and the saved filters of display
links, all in one place.

The form's field names are the Tickets List parameters, so its URL is the bookmark. It
validates everything the API would reject, so bad input never reaches the store.
"""

import re
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import TooManyFieldsSent, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.http import QueryDict

from dashboard import store

MAX_ID = 2**31 - 1
MAX_TEXT = 200
MAX_LIST_ITEMS = 20
MAX_WALL_FILTERS = 10  # a display link rotates among at most this many
# Cursors are opaque, but every cursor the API hands out is short URL-safe text.
CURSOR_RE = re.compile(r"^[A-Za-z0-9+/=_.~%-]{1,512}$")

STATUS_CHOICES = [(status, status.capitalize()) for status in store.STATUSES]
PRIORITY_CHOICES = [("", "Any priority")] + [(p, p.capitalize()) for p in store.PRIORITIES]
CHANNEL_CHOICES = [("", "Any channel"), *store.CHANNELS.items()]


class IdField(forms.IntegerField):
    """A positive database id the API accepts as an integer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(
            min_value=1,
            max_value=MAX_ID,
            widget=forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}),
            **kwargs,
        )


class TextFilterField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(max_length=MAX_TEXT, strip=True, **kwargs)


class FreeListField(forms.Field):
    """Free entry of several values: repeated parameters and/or comma-separated text."""

    widget = forms.TextInput

    def __init__(self, *, item_field, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.item_field = item_field

    def to_python(self, value):
        values = value if isinstance(value, list | tuple) else [value]
        items = []
        for raw in values:
            items.extend(part.strip() for part in str(raw or "").split(","))
        items = [item for item in items if item]
        if len(items) > MAX_LIST_ITEMS:
            raise ValidationError(f"Enter at most {MAX_LIST_ITEMS} values.", code="too_many")
        cleaned = []
        for item in items:
            try:
                cleaned.append(self.item_field.clean(item))
            except ValidationError as exc:
                raise ValidationError(f"{item!r}: {' '.join(exc.messages)}") from exc
        return tuple(sorted(set(cleaned)))

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value if str(item).strip())
        return value


class MultipleChoiceIgnoringEmpty(forms.MultipleChoiceField):
    """`?status=` means no status filter, like every other empty parameter."""

    def to_python(self, value):
        return [item for item in super().to_python(value) if item]


class FreeListInput(forms.TextInput):
    """Reads every repeated parameter, so `?tags=a&tags=b` and `?tags=a,b` mean the same."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)


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
    subject = TextFilterField(label="Subject contains")
    id = IdField(label="Ticket id")
    order_number = TextFilterField(label="Order number")
    requester = IdField(label="Requester id")
    assignee = IdField(label="Assignee id")
    product = FreeListField(
        label="Products",
        item_field=forms.IntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_ID)]),
        widget=FreeListInput(attrs={"placeholder": "Product ids, e.g. 12, 40"}),
        help_text="Product ids, separated by commas.",
    )
    tags = FreeListField(
        label="Tags",
        item_field=forms.CharField(
            max_length=100,
            # The API reads a number as a tag id it may not have: names are what people know.
            validators=[
                RegexValidator(
                    r"^\d+$", "Enter tag names (like vip), not numbers.", inverse_match=True
                )
            ],
        ),
        widget=FreeListInput(attrs={"placeholder": "e.g. vip, refund"}),
        help_text="Any of these tags, separated by commas.",
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
        "assignee",
        "product",
        "tags",
        "created_from",
        "created_to",
    )

    def __init__(self, data=None, *, ticket_types=None, **kwargs):
        super().__init__(data, **kwargs)
        self.ticket_types = ticket_types
        choices = [("", "Any type")]
        if ticket_types:
            choices += [(str(t.id), t.name) for t in sorted(ticket_types.values(), key=_by_name)]
        elif data is not None and (chosen := data.get("ticket_type", "")).strip():
            # The types are not known yet: keep the chosen id selectable rather than refuse it.
            choices.append((chosen.strip(), f"Type #{chosen.strip()}"))
        self.fields["ticket_type"].choices = choices

    @property
    def select_fields(self):
        return [self["priority"], self["channel"], self["ticket_type"]]

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
        return cleaned

    def query(self):
        """The validated filters as a Tickets List query."""
        data = self.cleaned_data
        return store.TicketQuery(
            filter_text=data["filter_text"],
            id=data["id"],
            subject=data["subject"],
            status=tuple(s for s in store.STATUSES if s in data["status"]),
            requester=data["requester"],
            assignee=data["assignee"],
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

    @property
    def cursor_error(self):
        return self.has_error("cursor", code="cursor")


def _by_name(ticket_type):
    return ticket_type.name.casefold()


def querystring(query):
    """The canonical query string of a query: what the address bar and every link carry."""
    return urlencode(query.params())


def parse_wall_filters(text):
    """The canonical queries of a display link's filters, one per line; ValidationError if any
    line is not a filter the list itself would accept."""
    lines = [line.strip().lstrip("?") for line in str(text).splitlines() if line.strip()]
    if not lines:
        raise ValidationError("Give at least one filter, e.g. status=new&status=open.")
    if len(lines) > MAX_WALL_FILTERS:
        raise ValidationError(f"A display link rotates among at most {MAX_WALL_FILTERS} filters.")
    queries = []
    for number, line in enumerate(lines, start=1):
        try:
            data = QueryDict(line)
        except TooManyFieldsSent:
            raise ValidationError(
                f"Line {number} has too many parameters to be a filter."
            ) from None
        form = TicketFilterForm(data, ticket_types=store.ticket_types(fetch=False))
        if not form.is_valid():
            problems = "; ".join(
                f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()
            )
            raise ValidationError(f"Line {number} ({line}) is not a valid filter: {problems}")
        queries.append(form.query().filters)
    return queries


def canonical_filters(text):
    return "\n".join(querystring(query) for query in parse_wall_filters(text))
