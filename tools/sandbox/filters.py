"""The Tickets List filters, validated and applied the way django-filter does it.

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
    tag_names: list[str] = field(default_factory=list)
    ticket_type: int | None = None
    priority: str | None = None
    channel: str | None = None
    created_from: date | None = None
    created_to: date | None = None


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
    query.tag_names = _tag_names(values_of(pairs, "tags"), tags, errors)
    query.ticket_type = _whole_number(pairs, "ticket_type", errors)
    query.priority = _choice(last_value(pairs, "priority"), PRIORITIES, "priority", errors)
    query.channel = _choice(last_value(pairs, "channel"), CHANNELS, "channel", errors)
    query.created_from = _date(last_value(pairs, "created_from"), "created_from", errors)
    query.created_to = _date(last_value(pairs, "created_to"), "created_to", errors)

    if errors:
        raise FilterError(errors)
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


def _matches_text(ticket: dict, text: str, emails: Mapping[int, str]) -> bool:
    # The docs call it a "generic search by ticket id, subject, or requester email".
    needle = text.lower()
    if text.isdigit() and ticket["id"] == int(text):
        return True
    requester_email = emails.get(ticket["requester"], "") if ticket["requester"] else ""
    haystacks = (ticket["subject"] or "", requester_email, ticket["from_email"] or "")
    return any(needle in haystack.lower() for haystack in haystacks)


def _created_on(ticket: dict) -> date:
    # Timestamps are "YYYY-MM-DDTHH:MM:SSZ" in UTC, so the first ten characters are the date.
    return date.fromisoformat(ticket["created_at"][:10])


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


def _tag_names(values: list[str], tags: Mapping[int, str], errors: dict) -> list[str]:
    # The yaml types tag filters as ids, the docs page leaves them untyped and tickets carry
    # names; accept both. An unknown id is an invalid choice (as for a ModelMultipleChoice
    # filter), an unknown name simply matches nothing.
    names = []
    for value in values:
        if _WHOLE_NUMBER.match(value):
            if int(value) not in tags:
                errors["tags"] = [_invalid_choice(value)]
                return []
            names.append(tags[int(value)])
        else:
            names.append(value)
    return names


def _date(value: str | None, name: str, errors: dict) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        errors[name] = ["Enter a valid date."]
        return None
