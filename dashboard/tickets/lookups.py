"""Names in the filter form that only the store can turn into ids: customers by email or name,
products by title. Asked once every other field is valid. Several answers are a question, not
an error: the form holds them as a `Question`, and the list offers each as a choice."""

from dataclasses import dataclass, replace

from django.core.exceptions import ValidationError

from dashboard import store
from dashboard.bidi import isolate
from dashboard.tickets.filter_fields import as_id, numberish

# The code of the "error" that keeps a form with a question from listing tickets: nothing is
# wrong with the input, but the store cannot be asked until the person has picked.
CHOOSE = "choose"


@dataclass(frozen=True)
class Choice:
    """One of several customers or products that answer what was typed."""

    id: int
    name: str
    email: str = ""


@dataclass(frozen=True)
class Question:
    """Several answer `text` (typed into the field `field`): which one is meant?"""

    field: str  # "requester" or "product"
    text: str
    kind: str  # "customer" or "product"
    by: str  # what `text` was matched against: "email", "name" or "title"
    choices: tuple[Choice, ...]
    more: bool = False  # more than these matched

    @property
    def message(self):
        if self.more:
            return (
                f"More than {len(self.choices)} {self.kind}s match “{isolate(self.text)}”: pick "
                f"one of the first {len(self.choices)} below, or type more of the {self.by}."
            )
        return f"{len(self.choices)} {self.kind}s match “{isolate(self.text)}”: pick one below."


def resolve(value, name, find, look_up, asked):
    """`value` (an item or a tuple of them) with every name turned into an id by `find`, ids
    checked; with `look_up` False, a name is a field error rather than a question to the store.
    Several answers are added to `asked` as a `Question` and raise a ValidationError with the
    code CHOOSE."""
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
            resolved.append(find(item, name, asked))
    return tuple(sorted(set(resolved))) if isinstance(value, tuple) else resolved[0]


def find_customer(text, field, asked):
    by = "email" if "@" in text else "name"
    found = _ask(lambda: store.find_customers(**{by: text}), text, "users:read", "customer id")
    choices = [Choice(person.id, person.name, person.email) for person in found]
    return _one(choices, Question(field, text, "customer", by, ()), asked)


def find_product(text, field, asked):
    found = _ask(lambda: store.find_products(text), text, "catalogue:read", "product id")
    choices = [Choice(product.id, product.title) for product in found]
    return _one(choices, Question(field, text, "product", "title", ()), asked)


def _ask(find, text, scope, instead):
    try:
        return find()
    except store.ScopeMissing:
        raise ValidationError(
            f"Finding “{isolate(text)}” needs the {scope} scope on the store's token: enter the "
            f"{instead} instead."
        ) from None
    except store.TicketsAPIError as exc:
        raise ValidationError(
            f"The store could not look up “{isolate(text)}” just now: {exc.message}"
        ) from None


def _one(choices, question, asked):
    if len(choices) == 1:
        return choices[0].id
    if not choices:
        kind, by, text = question.kind, question.by, isolate(question.text)
        raise ValidationError(f"No {kind} has the {by} “{text}”." if by == "email" else
                              f"No {kind} matches the {by} “{text}”.")  # fmt: skip
    limit = store.FIND_LIMIT
    question = replace(question, choices=tuple(choices[:limit]), more=len(choices) > limit)
    asked.append(question)
    raise ValidationError(question.message, code=CHOOSE)
