"""Every fault the store can have, through the sandbox's fault modes: a clear message in the page
or fragment, the filters kept, a way to try again, the right status, and recovery."""

import logging
import re

import pytest

from tests.conftest import TEST_TOKEN

HTMX = {"HTTP_HX_REQUEST": "true"}

FAULTS = [
    # mode, HTTP status of the dashboard's answer, words of the message
    ("server_error", 503, "unavailable"),
    ("unavailable", 503, "unavailable"),
    ("bad_gateway", 503, "unavailable"),
    ("disconnect", 503, "unavailable"),
    ("timeout", 504, "took too long"),
    ("malformed", 502, "cannot read"),
    ("wrong_shape", 502, "cannot read"),
    ("rate_storm", 503, "rate limiting"),
    ("token_rejected", 502, "check NEXT_API_TOKEN"),
]


@pytest.fixture(autouse=True)
def quick_faults(settings):
    settings.NEXT_API_READ_TIMEOUT = 1.0  # the sandbox's `timeout` mode holds 30 s
    settings.STORE_429_RETRIES = 1
    settings.STORE_ERROR_TTL = 0


@pytest.mark.parametrize("mode, status, words", FAULTS)
def test_a_store_fault_is_a_clear_message_with_filters_kept(
    signed_in, sandbox, caplog, mode, status, words
):
    caplog.set_level(logging.INFO, logger="dashboard")
    sandbox.set_fault(mode)

    response = signed_in.get("/?status=open&priority=high")

    html = response.content.decode()
    assert response.status_code == status
    assert words in html
    assert 'role="alert"' in html
    assert "Try again" in html
    assert re.search(r'value="open"[^>]*checked', html)
    assert 'value="high" selected' in html
    assert "Traceback" not in html and TEST_TOKEN not in html
    assert caplog.records, "the log records what happened"
    assert TEST_TOKEN not in caplog.text


@pytest.mark.parametrize("mode, status, words", FAULTS)
def test_fragments_carry_the_message_too(signed_in, sandbox, mode, status, words):
    first_page = signed_in.get("/?status=closed").content.decode()
    more = re.search(r'class="button load-more" href="([^"]+)"', first_page)[1]
    more = more.replace("&amp;", "&")
    sandbox.set_fault(mode)

    results = signed_in.get("/?status=open", **HTMX)
    rows = signed_in.get(more, **HTMX)
    thread = signed_in.get("/tickets/1641/", **HTMX)

    for response in (results, rows, thread):
        assert response.status_code == status
        assert words in response.content.decode()
        assert b"<html" not in response.content
    assert b"Try again" in rows.content and b'hx-target="closest tr"' in rows.content


def test_the_dashboard_recovers_by_itself(signed_in, sandbox):
    sandbox.set_fault("unavailable")
    assert signed_in.get("/?status=open").status_code == 503
    sandbox.set_fault("none")
    response = signed_in.get("/?status=open")
    assert response.status_code == 200
    assert b"data-ticket-id" in response.content


def test_a_slow_store_still_answers(signed_in, sandbox, settings):
    settings.NEXT_API_READ_TIMEOUT = 10.0
    sandbox.configure(latency_ms=600)
    response = signed_in.get("/?status=open")
    assert response.status_code == 200
    assert b"data-ticket-id" in response.content


def test_rate_limited_answers_say_when_to_retry(signed_in, sandbox):
    sandbox.set_fault("rate_storm")
    response = signed_in.get("/?status=open")
    assert response.status_code == 503
    assert response["Retry-After"] == "1"


def test_an_unreachable_store_is_unavailable(signed_in, settings):
    settings.NEXT_API_BASE_URL = "http://127.0.0.1:9/api/admin/"  # nothing listens on discard
    response = signed_in.get("/?status=open")
    assert response.status_code == 503
    assert b"unavailable" in response.content
