"""The filter form's choices: fixed ones from the API's enums, and the selects whose names come
from the store (ticket types, agents), with "Mine" for a signed-in person."""

from dashboard import store
from dashboard.tickets.querystring import MINE, UNSOLVED

# "Unsolved" ticks new, open and pending at once, and stays one word in bookmarks.
STATUS_CHOICES = [(UNSOLVED, "Unsolved")] + [(s, s.capitalize()) for s in store.STATUSES]
PRIORITY_CHOICES = [("", "Any priority")] + [(p, p.capitalize()) for p in store.PRIORITIES]
CHANNEL_CHOICES = [("", "Any channel"), *store.CHANNELS.items()]


def ticket_types(context, data):
    return select(
        "Any type", context.ticket_types or {}, lambda t: t.name, data, "ticket_type", "Type"
    )


def assignees(context, data):
    choices = select("Anyone", context.agents, lambda p: p.name, data, "assignee", "Agent")
    if context.signed_in:
        choices.insert(1, (MINE, "Mine"))
    return choices


def select(anything, known, label, data, name, kind):
    """A select's choices: "anything", then what is known by name; while nothing is known
    (not fetched yet, or a scope missing), a chosen id stays selectable by its number."""
    choices = [("", anything)]
    ordered = sorted(known.items(), key=lambda pair: label(pair[1]).casefold())
    choices += [(str(key), label(item)) for key, item in ordered]
    chosen = (data.get(name, "") if data is not None else "").strip()
    if not known and chosen and chosen != MINE:
        choices.append((chosen, f"{kind} #{chosen}"))
    return choices
