"""The signed references a page carries for what it may ask later (`dashboard.tickets.refs`),
made for a test client's session, and taken off a URL a page gave."""

from urllib.parse import parse_qsl, urlencode, urlsplit

from dashboard.tickets import refs


def count_url(client, filters_qs):
    """`/count/` for `filters_qs`, as a page of this client's session would ask it."""
    reference = refs.count(client.session.session_key, filters_qs)
    return (
        f"/count/?{filters_qs}&{urlencode({'ref': reference})}"
        if filters_qs
        else (f"/count/?{urlencode({'ref': reference})}")
    )


def names_ref(client, people=(), products=()):
    return refs.names(client.session.session_key, people, products)


def without_ref(url):
    """A URL a page gave, less its reference: what it asks for."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(name, value) for name, value in pairs if name != "ref"])
    return f"{parts.path}?{query}" if query else parts.path
