"""Hostile query strings, generated: every view, HTMX or not, answers without a 5xx and never
sends the store a value it would reject (the sandbox answers those with 400, like the API)."""

from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dashboard.models import DisplayLink
from dashboard.wall.filters import canonical_filters
from tests.html import page, text

NAMES = [
    "filter_text", "id", "subject", "status", "requester", "assignee", "order_number",
    "product", "tags", "ticket_type", "priority", "channel", "created_from", "created_to",
    "cursor", "since", "view", "page", "next", "",
]  # fmt: skip

PLAUSIBLE = st.sampled_from(
    [
        "", "open", "new", "closed", "high", "low", "email", "api", "follow_up", "1", "0", "-1",
        "1641", "2147483647", "2147483648", "99999999999999999999", "1e3", "0x10", " 12 ",
        "12,40", "vip", "vip,refund", "2026-01-01", "2026-02-30", "0001-01-01", "9999-12-31",
        "2026-1-1", "yesterday", "Zm9yZ2Vk", "eyJwIjpbXX0=", 'cD00ODY="', "%", "%00",
        "<script>alert(1)</script>", "{{ request.user }}", "{% debug %}", "javascript:alert(1)",
        "https://evil.test/?cursor=x", "../../etc/passwd", "a" * 300, "\u202eevil", "مرحبا", "🙂",
    ]
)  # fmt: skip
VALUES = st.one_of(PLAUSIBLE, st.text(max_size=40))
PAIRS = st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=8)


def encode(pairs):
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)


FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def quick(settings, sandbox):
    settings.STORE_RATE_LIMIT = 0  # thousands of requests: the budget's own tests pace them
    settings.STORE_ERROR_TTL = 0
    return sandbox


def assert_store_never_refused(sandbox):
    """The store refused nothing but what only it can know: a well-formed tag id that is not
    one of its tags (the page then shows the store's words beside the field)."""
    unknown_tags = sum(
        1
        for received in sandbox.received()
        if any(
            name == "tags" and value.isdigit() and int(value) not in sandbox.data.tags
            for name, value in parse_qsl(received.query)
        )
    )
    refused = sandbox.stats()["statuses"].get("400", 0)
    assert refused == unknown_tags, sandbox.stats()["requests"][-5:]


@FUZZ
@given(pairs=PAIRS, htmx=st.booleans())
def test_the_ticket_list_survives_any_query(signed_in, quick, pairs, htmx):
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = signed_in.get("/?" + encode(pairs), **extra)
    assert response.status_code in (200, 302, 400)
    if response.status_code == 400 and any(name == "cursor" for name, _ in pairs):
        shown = text(page(response))
        assert "start again from the top" in shown.lower() or "not valid" in shown
        assert "No tickets match" not in shown
    assert_store_never_refused(quick)


@FUZZ
@given(pairs=PAIRS, htmx=st.booleans())
@example(pairs=[("tags", "2147483647")], htmx=False)  # well-formed, but not one of the store's
def test_the_wall_survives_any_query(signed_in, quick, pairs, htmx):
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = signed_in.get("/wall/?" + encode(pairs), **extra)
    assert response.status_code in (200, 400)
    assert_store_never_refused(quick)


@FUZZ
@given(pairs=PAIRS, htmx=st.booleans())
def test_a_display_link_ignores_any_query(client, quick, db, pairs, htmx):
    link = DisplayLink.objects.filter(name="Fuzz").first()
    if link is None:
        link = DisplayLink(name="Fuzz", filters=canonical_filters("status=open"))
    secret = link.issue_secret()
    link.save()
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.get(link.path_for(secret) + "?" + encode(pairs), **extra)
    assert response.status_code == 200
    assert_store_never_refused(quick)


@FUZZ
@given(segment=st.one_of(st.integers(min_value=-5, max_value=2**70), st.text(max_size=30)))
def test_a_thread_survives_any_id(signed_in, quick, segment):
    response = signed_in.get(f"/tickets/{quote(str(segment), safe='')}/", HTTP_HX_REQUEST="true")
    assert response.status_code in (200, 404)
    assert_store_never_refused(quick)


@pytest.mark.parametrize("cursor", ["Zm9yZ2Vk", "eyJwIjpbIngiLDFdLCJyIjpmYWxzZX0=", "x" * 400])
def test_a_cursor_that_is_not_the_apis_means_start_again(signed_in, quick, cursor):
    for extra in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = signed_in.get(f"/?status=open&cursor={cursor}", follow=True, **extra)
        assert response.status_code == 400
        assert "start again from the top" in text(page(response)).lower()
