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


def link(doc, text):
    """The href of the first link whose text includes `text`."""
    for anchor in doc.select("a[href]"):
        if text in anchor.get_text(" ", strip=True):
            return anchor["href"]
    raise AssertionError(f"no link with {text!r}")


def alerts(doc):
    """The text of every role=alert element."""
    return [element.get_text(" ", strip=True) for element in doc.select("[role=alert]")]


def text(doc):
    return doc.get_text(" ", strip=True)
