"""Reading pages the way a person or a screen reader does: by roles, labels and the `data-*`
hooks the markup promises, never by regular expressions over the markup itself."""

from bs4 import BeautifulSoup


def page(response_or_text):
    """The parsed page of a response (or of HTML text)."""
    text = getattr(response_or_text, "content", response_or_text)
    if isinstance(text, bytes):
        text = text.decode()
    return BeautifulSoup(text, "html.parser")


def ids(doc, attribute="data-ticket-id"):
    """The integer values of `attribute` on every element that has it, in page order."""
    return [int(element[attribute]) for element in doc.select(f"[{attribute}]")]


def value(doc, name):
    """The value a form control named `name` shows."""
    control = doc.select_one(f"[name='{name}']")
    assert control is not None, f"no control named {name}"
    return control.get("value", "")


def link(doc, words):
    """The href of the first link whose text includes `words`."""
    for anchor in doc.select("a[href]"):
        if words in text(anchor):
            return anchor["href"]
    raise AssertionError(f"no link with {words!r}")


def text(element):
    """An element's text as a person reads it: white space folded."""
    return " ".join(element.get_text(" ").split())


def alerts(doc):
    """The text of every role=alert element."""
    return [text(element) for element in doc.select("[role=alert]")]
