"""The list filters (tickets, users, products), validated and applied the way django-filter
does it.

Bad values raise `FilterError` carrying Django REST framework style field errors
(`{"status": ["Select a valid choice. ..."]}`); empty values count as absent and unknown
parameters are ignored, because that is what the real store does.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

STATUSES = ("new", "open", "pending", "solved", "closed")
PRIORITIES = ("high", "medium", "low")
CHANNELS = ("api", "customer_account", "dashboard", "email", "follow_up")
LANGUAGES = ("da", "de", "en", "es", "fi", "fr", "it", "nl", "no", "pt", "sv", "th")
USER_TYPES = ("customer", "lead", "dashboard")
# The spellings of a boolean that django-filter reads. Its API widget also takes other cases
# ("TRUE"); the sandbox refuses those, since being stricter than a store only shows a mistake
# sooner.
BOOLEANS = {"true": True, "True": True, "1": True, "false": False, "False": False, "0": False}

_WHOLE_NUMBER = re.compile(r"^[+-]?\d+$")

Params = Iterable[tuple[str, str]] | Mapping[str, object]


class FilterError(ValueError):
    """Invalid filter values, as a mapping of parameter name to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


@dataclass
class TicketQuery:
    """A validated Tickets List filter; `None` or empty means "not filtered on"."""

    filter_text: str | None = None
    id: int | None = None
    subject: str | None = None
    statuses: list[str] = field(default_factory=list)
    requester: int | None = None
    assignee: int | None = None
    order_number: str | None = None
    products: list[int] = field(default_factory=list)
    tag_names: list[str] = field(default_factory=list)  # from the ids asked for
    ticket_type: int | None = None
    priority: str | None = None
    channel: str | None = None
    created_from: date | None = None
    created_to: date | None = None


@dataclass
class UserQuery:
    """A validated Users List filter; `None` or empty means "not filtered on"."""

    email: str | None = None
    name: str | None = None
    phone_number: str | None = None
    language: str | None = None
    user_type: str | None = None
    date_joined_from: date | None = None
    date_joined_to: date | None = None
    is_blocked: bool | None = None
    accepts_marketing: bool | None = None


@dataclass
class ProductQuery:
    """A validated Products List filter; `None` or empty means "not filtered on"."""

    title: str | None = None
    categories: list[int] = field(default_factory=list)
    ranges: list[int] = field(default_factory=list)
    is_public: bool | None = None
    is_gift_card: bool | None = None
    skus: list[str] = field(default_factory=list)


def normalise_params(params: Params | None) -> list[tuple[str, str]]:
    """Query parameters as (name, value) pairs; a mapping may hold lists for repeats."""
    if params is None:
        return []
    if isinstance(params, Mapping):
        pairs = []
        for name, value in params.items():
            values = value if isinstance(value, list | tuple) else [value]
            pairs.extend((name, str(item)) for item in values if item is not None)
        return pairs
    return [(str(name), str(value)) for name, value in params]


def values_of(params: list[tuple[str, str]], name: str) -> list[str]:
    """Every non-empty value given for `name`, in order."""
    return [value.strip() for key, value in params if key == name and value.strip()]


def last_value(params: list[tuple[str, str]], name: str) -> str | None:
    # A single-valued filter given twice uses the last value, as Django's QueryDict.get does.
    values = values_of(params, name)
    return values[-1] if values else None


def parse_ticket_query(params: Params | None, tags: Mapping[int, str]) -> TicketQuery:
    """Validate Tickets List parameters against the tag catalogue `tags` (id -> name)."""
    pairs = normalise_params(params)
    errors: dict[str, list[str]] = {}
    query = TicketQuery()

    query.filter_text = last_value(pairs, "filter_text")
    query.id = _whole_number(pairs, "id", errors)
    query.subject = last_value(pairs, "subject")
    query.statuses = _choices(values_of(pairs, "status"), STATUSES, "status", errors)
    query.requester = _whole_number(pairs, "requester", errors)
    query.assignee = _whole_number(pairs, "assignee", errors)
    query.order_number = last_value(pairs, "order_number")
    query.products = _whole_numbers(values_of(pairs, "product"), "product", errors)
    query.tag_names = [
        tags[tag_id] for tag_id in _model_choices(values_of(pairs, "tags"), tags, "tags", errors)
    ]
    query.ticket_type = _whole_number(pairs, "ticket_type", errors)
    query.priority = _choice(last_value(pairs, "priority"), PRIORITIES, "priority", errors)
    query.channel = _choice(last_value(pairs, "channel"), CHANNELS, "channel", errors)
    query.created_from = _date(last_value(pairs, "created_from"), "created_from", errors)
    query.created_to = _date(last_value(pairs, "created_to"), "created_to", errors)

    if errors:
        raise FilterError(errors)
    return query


def parse_user_query(params: Params | None) -> UserQuery:
    """Validate Users List parameters."""
    pairs = normalise_params(params)
    errors: dict[str, list[str]] = {}
    query = UserQuery()

    query.email = last_value(pairs, "email")
    query.name = last_value(pairs, "name")
    query.phone_number = last_value(pairs, "phone_number")
    query.language = _choice(last_value(pairs, "language"), LANGUAGES, "language", errors)
    query.user_type = _choice(last_value(pairs, "user_type"), USER_TYPES, "user_type", errors)
    query.date_joined_from = _date(
        last_value(pairs, "date_joined_from"), "date_joined_from", errors
    )
    query.date_joined_to = _date(last_value(pairs, "date_joined_to"), "date_joined_to", errors)
    query.is_blocked = _boolean(last_value(pairs, "is_blocked"), "is_blocked", errors)
    query.accepts_marketing = _boolean(
        last_value(pairs, "accepts_marketing"), "accepts_marketing", errors
    )

    if errors:
        raise FilterError(errors)
    return query


def parse_product_query(
    params: Params | None, categories: Mapping[int, object], ranges: Mapping[int, object]
) -> ProductQuery:
    """Validate Products List parameters against the store's categories and ranges (by id)."""
    pairs = normalise_params(params)
    errors: dict[str, list[str]] = {}
    query = ProductQuery()

    query.title = last_value(pairs, "title")
    query.categories = _model_choices(values_of(pairs, "category"), categories, "category", errors)
    query.ranges = _model_choices(values_of(pairs, "range"), ranges, "range", errors)
    query.is_public = _boolean(last_value(pairs, "is_public"), "is_public", errors)
    query.is_gift_card = _boolean(last_value(pairs, "is_gift_card"), "is_gift_card", errors)
    query.skus = values_of(pairs, "sku")

    if errors:
        raise FilterError(errors)
    return query


@dataclass
class WebhookQuery:
    """A validated Webhooks List filter."""

    name: str | None = None
    events: list[str] = field(default_factory=list)
    active: bool | None = None

    def matches(self, hook: dict) -> bool:
        return (
            (self.name is None or hook["name"] == self.name)
            and (not self.events or bool(set(hook["events"]) & set(self.events)))
            and (self.active is None or hook["active"] == self.active)
        )


def parse_webhook_query(params: Params | None, events: tuple[str, ...]) -> WebhookQuery:
    """Validate Webhooks List parameters. The spec types `events` as integers without saying
    what they number; the sandbox reads them as positions in `events` (from 1), and refuses
    any other value as the spec's type does."""
    pairs = normalise_params(params)
    errors: dict[str, list[str]] = {}
    numbers = _whole_numbers(values_of(pairs, "events"), "events", errors)
    if any(not 1 <= number <= len(events) for number in numbers):
        bad = next(number for number in numbers if not 1 <= number <= len(events))
        errors["events"] = [_invalid_choice(str(bad))]
    query = WebhookQuery(
        name=last_value(pairs, "name"),
        active=_boolean(last_value(pairs, "active"), "active", errors),
    )
    if errors:
        raise FilterError(errors)
    query.events = [events[number - 1] for number in numbers]
    return query


def ticket_matches(ticket: dict, query: TicketQuery, emails: Mapping[int, str]) -> bool:
    """Whether `ticket` passes every filter in `query`; `emails` maps user id to email."""
    checks = (
        query.filter_text is None or _matches_text(ticket, query.filter_text, emails),
        query.id is None or ticket["id"] == query.id,
        query.subject is None or query.subject.lower() in (ticket["subject"] or "").lower(),
        not query.statuses or ticket["status"] in query.statuses,
        query.requester is None or ticket["requester"] == query.requester,
        query.assignee is None or ticket["assignee"] == query.assignee,
        query.order_number is None or (ticket["order"] or "").lower() == query.order_number.lower(),
        not query.products or bool(set(ticket["products"]) & set(query.products)),
        not query.tag_names or bool(set(ticket["tags"]) & set(query.tag_names)),
        query.ticket_type is None or ticket["ticket_type"] == query.ticket_type,
        query.priority is None or ticket["priority"] == query.priority,
        query.channel is None or ticket["channel"] == query.channel,
        query.created_from is None or _created_on(ticket) >= query.created_from,
        query.created_to is None or _created_on(ticket) <= query.created_to,
    )
    return all(checks)


def user_matches(user: dict, query: UserQuery) -> bool:
    full_name = f"{user['first_name']} {user['last_name']}"
    checks = (
        query.email is None or user["email"].lower() == query.email.lower(),
        query.name is None or query.name.lower() in full_name.lower(),
        query.phone_number is None or user["phone_number"] == query.phone_number,
        query.language is None or user["language"] == query.language,
        query.user_type is None or user["user_type"] == query.user_type,
        query.date_joined_from is None or _day_of(user["date_joined"]) >= query.date_joined_from,
        query.date_joined_to is None or _day_of(user["date_joined"]) <= query.date_joined_to,
        query.is_blocked is None or user["is_blocked"] is query.is_blocked,
        query.accepts_marketing is None or user["accepts_marketing"] is query.accepts_marketing,
    )
    return all(checks)


def product_matches(product: dict, query: ProductQuery, *, is_gift_card: bool) -> bool:
    """Whether `product` passes `query`. Ranges are not part of a product's answer and the
    sandbox has none, so a range filter never gets past validation to be matched here."""
    categories = {category["id"] for category in product["categories"]}
    skus = {variant["sku"] for variant in product["variants"]}
    checks = (
        query.title is None or query.title.lower() in product["title"].lower(),
        not query.categories or bool(categories & set(query.categories)),
        query.is_public is None or product["is_public"] is query.is_public,
        query.is_gift_card is None or is_gift_card is query.is_gift_card,
        not query.skus or bool(skus & set(query.skus)),
    )
    return all(checks)


def _matches_text(ticket: dict, text: str, emails: Mapping[int, str]) -> bool:
    # The docs call it a "generic search by ticket id, subject, or requester email".
    needle = text.lower()
    if text.isdigit() and ticket["id"] == int(text):
        return True
    requester_email = emails.get(ticket["requester"], "") if ticket["requester"] else ""
    haystacks = (ticket["subject"] or "", requester_email, ticket["from_email"] or "")
    return any(needle in haystack.lower() for haystack in haystacks)


def _created_on(ticket: dict) -> date:
    return _day_of(ticket["created_at"])


def _day_of(moment: str) -> date:
    # Timestamps are "YYYY-MM-DDTHH:MM:SSZ" in UTC, so the first ten characters are the date.
    return date.fromisoformat(moment[:10])


def _whole_number(pairs, name: str, errors: dict) -> int | None:
    value = last_value(pairs, name)
    if value is None:
        return None
    if not _WHOLE_NUMBER.match(value):
        errors[name] = ["Enter a whole number."]
        return None
    return int(value)


def _whole_numbers(values: list[str], name: str, errors: dict) -> list[int]:
    if any(not _WHOLE_NUMBER.match(value) for value in values):
        errors[name] = ["Enter a whole number."]
        return []
    return [int(value) for value in values]


def _invalid_choice(value: str) -> str:
    return f"Select a valid choice. {value} is not one of the available choices."


def _choice(value: str | None, allowed: tuple[str, ...], name: str, errors: dict):
    if value is not None and value not in allowed:
        errors[name] = [_invalid_choice(value)]
        return None
    return value


def _choices(values: list[str], allowed: tuple[str, ...], name: str, errors: dict) -> list[str]:
    bad = [value for value in values if value not in allowed]
    if bad:
        errors[name] = [_invalid_choice(bad[0])]
        return []
    return values


def _model_choices(values: list[str], known: Mapping[int, object], name: str, errors: dict):
    """Ids of a model multiple-choice filter, checked as Django's ModelMultipleChoiceField does.

    A value the primary key cannot take is not a valid value; one it can take but that names
    no row (or not in the row's own spelling: "+5", "05") is not an available choice.
    """
    for value in values:
        try:
            int(value)
        except ValueError:
            errors[name] = [f"“{value}” is not a valid value."]
            return []
        if value not in {str(key) for key in known}:
            errors[name] = [_invalid_choice(value)]
            return []
    return list(dict.fromkeys(int(value) for value in values))


def _boolean(value: str | None, name: str, errors: dict) -> bool | None:
    if value is None:
        return None
    if value not in BOOLEANS:
        # django-filter itself would let an unreadable boolean through as "not filtered on",
        # quietly answering with everything; refusing it makes a client's mistake show.
        errors[name] = [_invalid_choice(value)]
        return None
    return BOOLEANS[value]


def _date(value: str | None, name: str, errors: dict) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        errors[name] = ["Enter a valid date."]
        return None
