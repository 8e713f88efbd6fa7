"""The canonical query string of a list's filters: what the address bar, every link, saved
views and display links carry, and what counts and walls are keyed by."""

from urllib.parse import urlencode

MINE = "mine"  # the assignee of "Mine": whoever is signed in


def querystring(query, mine=False):
    """The canonical query string of a query. With `mine`, the assignee stays "mine", so a
    bookmark of it is everyone's own."""
    params = query.params()
    if mine:
        params = [(name, MINE if name == "assignee" else value) for name, value in params]
    return urlencode(params)
