"""Small helpers the sandbox's data set is made with: the API's timestamps, weighted picks,
and text templates with placeholders."""

import random
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from string import Formatter

# How far back the seeded tickets go.
MAX_AGE_DAYS = 182


def default_anchor() -> datetime:
    """The current UTC time rounded down to the hour."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def timestamp(moment: datetime) -> str:
    """API form of a datetime: ISO 8601 in UTC with a `Z`, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def ascii_letters(text: str) -> str:
    """Letters for an email address: accents dropped, spaces and punctuation removed."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(char for char in plain.lower() if char.isalnum())


class _Blanks(dict):
    # Templates mention more than each context knows; a missing value reads as nothing.
    def __missing__(self, key):
        return ""


def fill(template: str, values: dict) -> str:
    return template.format_map(_Blanks(values)).strip()


def placeholders(template: str) -> set[str]:
    """The placeholders a template uses."""
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def choose(rng: random.Random, pool: Sequence[str], values: dict) -> str:
    # Prefer lines whose placeholders this ticket can fill: no "order " without a number.
    usable = [line for line in pool if all(values.get(name) for name in placeholders(line))]
    return rng.choice(usable or pool)
