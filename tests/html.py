"""Reading pages the way a person or a screen reader does: by roles, labels and the `data-*`
hooks the markup promises, never by regular expressions over the markup itself.

The hooks: `data-ticket-id` on every ticket row (list and wall), `data-thread-id` on a thread,
`data-comment-id` on each of its comments, `data-error` (the error's code) on an error alert,
`data-field-error` (the field's name) on a form error, `data-new` on a wall row that arrived
since the last refresh, `data-stale` and `data-gone` on a wall board, `data-status-count` and
`data-priority-count` on its counts, `data-link-id` on a display link's row, `data-total` on
the list's exact total, `data-count-source` ("index" or "walk") where a count says where it
came from, `data-counts-as-of` on the time a count read from the ticket index is as of,
`data-waiting-since` (ISO 8601) on a row or thread that waits on the team and `data-overdue` on
one past its target, `data-waiting-count` and `data-overdue-count` on the figures of what waits,
`data-more` on a wall's "+N more", `data-question` (the field's name) on the list's question
when several customers or products answer what was typed, `data-field-question` beside that
field, `data-pick` (the id) on each choice, with `data-tickets` and `data-listed` on its counts
(all of theirs, and those the other filters keep), `data-shown-requester` (the id) on the
e-mail of the customer the Requester box shows by name, and for a bulk change from the list
`data-bulk-ticked` (the bar's count), `data-bulk-note` (why there is no bar), `data-bulk-id` on
its progress, `data-bulk-state` ("running" or "done") with its `data-bulk-total`, `-applied`,
`-unchanged` and `-failed` counts (and, once done, `data-bulk-settled`: the ids changed or
already so), and `data-bulk-failed-ticket` on each ticket not changed.
"""

import copy

from bs4 import BeautifulSoup, Tag

ROWS = "[data-ticket-id]:not([data-thread-id])"


def page(response_or_text):
    """The parsed page of a response (or of HTML text)."""
    text = getattr(response_or_text, "content", response_or_text)
    if isinstance(text, bytes):
        text = text.decode()
    return BeautifulSoup(text, "html.parser")


def root(doc):
    """The first element of a page or fragment: what an HTMX swap puts in place."""
    return next(child for child in doc.children if isinstance(child, Tag))


def is_whole_page(doc):
    return doc.select_one("html") is not None


def ids(doc, attribute="data-ticket-id"):
    """The integer values of `attribute` on every element that has it, in page order."""
    return [int(element[attribute]) for element in doc.select(f"[{attribute}]")]


# --- Tickets, threads and comments ---------------------------------------------------------


def rows(doc):
    """Every ticket row (of the list or of a wall), in page order."""
    return doc.select(ROWS)


def row_ids(doc):
    return [int(element["data-ticket-id"]) for element in rows(doc)]


def row(doc, ticket_id):
    """The row of one ticket."""
    found = doc.select_one(f"{ROWS}[data-ticket-id='{ticket_id}']")
    assert found is not None, f"no row for ticket {ticket_id}"
    return found


def thread(doc):
    """The thread of the ticket shown, or None."""
    return doc.select_one("[data-thread-id]")


def comment_ids(doc):
    return ids(doc, "data-comment-id")


def comment(doc, comment_id):
    found = doc.select_one(f"[data-comment-id='{comment_id}']")
    assert found is not None, f"no comment {comment_id}"
    return found


def load_more(doc):
    """The list's "Load more" link as (href, data-hx-get), or None at the end of the list."""
    element = anchor(doc, "Load more")
    return None if element is None else (element["href"], element.get("data-hx-get"))


# --- Roles, labels and text ----------------------------------------------------------------


def text(element):
    """An element's text as a person reads it: white space folded, and a name isolated in a
    `<bdi>` read as part of its line."""
    if element.find("bdi") is not None:
        element = copy.copy(element)
        for isolated in element.find_all("bdi"):
            isolated.unwrap()
        element.smooth()  # the name and the words around it: one string again
    return " ".join(element.get_text(" ").split())


def labelled(doc, label):
    """The element whose ARIA label is `label`."""
    found = doc.select_one(f"[aria-label='{label}']")
    assert found is not None, f"nothing labelled {label!r}"
    return found


def by_role(doc, role):
    return doc.select(f"[role='{role}']")


def alerts(doc):
    """The text of every role=alert element."""
    return [text(element) for element in by_role(doc, "alert")]


def error_codes(doc):
    """The codes of the error alerts shown (`data-error`), in page order."""
    return [element["data-error"] for element in doc.select("[data-error]")]


def anchor(doc, words):
    """The first link whose text includes `words`, or None."""
    for element in doc.select("a[href]"):
        if words in text(element):
            return element
    return None


def link(doc, words):
    """The href of the first link whose text includes `words`."""
    element = anchor(doc, words)
    assert element is not None, f"no link with {words!r}"
    return element["href"]


# --- Forms ---------------------------------------------------------------------------------


def control(doc, name, value=None):
    """The form control named `name` (of a checkbox group: the one with `value`)."""
    selector = f"[name='{name}']" + (f"[value='{value}']" if value is not None else "")
    found = doc.select_one(selector)
    assert found is not None, f"no control {selector}"
    return found


def value(doc, name):
    """The value a form control named `name` shows: a select's chosen option, else its value."""
    element = control(doc, name)
    if element.name == "select":
        chosen = element.select_one("option[selected]") or element.select_one("option")
        return chosen.get("value", "") if chosen else ""
    if element.name == "textarea":
        return element.get_text()
    return element.get("value", "")


def checked(doc, name):
    """The values of the checked boxes (or radio button) named `name`."""
    return [element.get("value", "on") for element in doc.select(f"[name='{name}'][checked]")]


def field_errors(doc, name=None):
    """The text of each form error shown, for one field or for all."""
    selector = "[data-field-error]" if name is None else f"[data-field-error='{name}']"
    return [text(element) for element in doc.select(selector)]


def picks(doc):
    """The choices the list's question offers, in order: each a dict of its id, name, email,
    counts in words and numbers (None when not counted), and link."""
    found = []
    for element in doc.select("[data-question] [data-pick]"):
        tickets = element.select_one("[data-tickets]")
        email = element.select_one(".pick-email")
        found.append(
            {
                "id": int(element["data-pick"]),
                "name": text(element.select_one(".pick-name")),
                "email": text(email) if email else "",
                "counted": text(tickets) if tickets else "",
                "tickets": int(tickets["data-tickets"]) if tickets else None,
                "listed": int(tickets["data-listed"]) if tickets and tickets.has_attr("data-listed")
                else None,
                "href": element["href"],
            }
        )  # fmt: skip
    return found
