"""What a page may ask for later, vouched for by the server that served it.

A list or a thread shows some names before they are known, and asks `/names/` for them a little
later; a list whose total is still being counted asks `/count/` for it. Those two answer only
for what the server itself put on a page this session was served: each page carries a signed,
short-lived reference (Django's `signing`, keyed with the secret key and salted with the
session's key, so a reference works for that session only and says nothing of it) naming the
customer and product ids it waits for, or the filters it counts. An id or a filter that no
reference names is not looked up and not counted: no signed-in person can have the store
enumerate its customers or walk filters of their choosing through them.
"""

from urllib.parse import parse_qsl

from django.core import signing

# How long a page's reference holds: a list left open asks for its names for a few minutes
# and its total a little longer; one older than this has had its answer.
MAX_AGE = 30 * 60
_NAMES, _COUNT = "tickets.refs.names", "tickets.refs.count"


def _salt(kind, session_key):
    return f"{kind}:{session_key or ''}"


def names(session_key, people=(), products=()):
    """A reference to the customers and products a page shows while their names are unknown
    ("" when it waits for none)."""
    people, products = sorted({int(i) for i in people}), sorted({int(i) for i in products})
    if not (people or products) or not session_key:
        return ""
    return signing.dumps([people, products], salt=_salt(_NAMES, session_key), compress=True)


def named(session_key, references):
    """`(people, products)`: the ids that `references` (as pages sent them back) vouch for in
    this session; a reference that is forged, altered, another session's or too old vouches
    for nothing."""
    people, products = set(), set()
    for reference in references:
        try:
            got = signing.loads(reference, salt=_salt(_NAMES, session_key), max_age=MAX_AGE)
            people.update(int(i) for i in got[0])
            products.update(int(i) for i in got[1])
        except (signing.BadSignature, TypeError, ValueError, IndexError):
            continue
    return people, products


def count(session_key, filters_qs):
    """A reference to the filters (their bookmark) a page counts."""
    return signing.dumps(filters_qs, salt=_salt(_COUNT, session_key)) if session_key else ""


def counted(session_key, reference, filters_qs):
    """Whether `reference` vouches for counting `filters_qs` in this session (the same filters,
    in whatever order they are spelled)."""
    try:
        got = signing.loads(reference, salt=_salt(_COUNT, session_key), max_age=MAX_AGE)
    except signing.BadSignature:
        return False
    return isinstance(got, str) and sorted(parse_qsl(got)) == sorted(parse_qsl(filters_qs))
