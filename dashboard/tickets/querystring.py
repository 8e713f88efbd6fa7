"""The canonical query string of a list's filters: what the address bar, every link, saved
views and display links carry, and what counts and walls are keyed by."""

from urllib.parse import urlencode

MINE = "mine"  # the assignee of "Mine": whoever is signed in


UNSOLVED = "unsolved"  # the statuses new, open and pending, in one word
UNSOLVED_STATUSES = ("new", "open", "pending")


def querystring(query, mine=False, unsolved=False):
    """The canonical query string of a query. With `mine`, the assignee stays "mine", so a
    bookmark of it is everyone's own; with `unsolved`, new, open and pending stay "unsolved"
    (the other statuses chosen beside it are kept)."""
    params = query.params()
    if mine:
        params = [(name, MINE if name == "assignee" else value) for name, value in params]
    if unsolved:
        kept, placed = [], False
        for name, value in params:
            if name == "status" and value in UNSOLVED_STATUSES:
                if not placed:
                    kept.append(("status", UNSOLVED))
                    placed = True
                continue
            kept.append((name, value))
        params = kept
    return urlencode(params)
