"""Names in the filter form that only the store can turn into ids: customers by email or name,
products by title. Asked once every other field is valid; several answers become choices
offered beside the field."""

from django.core.exceptions import ValidationError

from dashboard import store
from dashboard.tickets.filter_fields import as_id, numberish


def resolve(value, name, find, look_up, offered):
    """`value` (an item or a tuple of them) with every name turned into an id by `find`, ids
    checked; with `look_up` False, a name is a field error rather than a question to the store.
    Several answers are added to `offered` and raise a ValidationError with code "choose"."""
    items = value if isinstance(value, tuple) else (value,)
    resolved = []
    for item in items:
        if not isinstance(item, str) or not item:
            resolved.append(item)
        elif numberish(item):
            resolved.append(as_id(item, f"{name} id"))
        elif not look_up:
            raise ValidationError(f"Enter the {name} id.")
        else:
            resolved.append(find(item, offered))
    return tuple(sorted(set(resolved))) if isinstance(value, tuple) else resolved[0]


def find_customer(text, choices):
    by = "email" if "@" in text else "name"
    found = _ask(lambda: store.find_customers(**{by: text}), text, "users:read", "customer id")
    return _one(found, text, choices, "customer", by, lambda p: f"{p.name} <{p.email}>")


def find_product(text, choices):
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
