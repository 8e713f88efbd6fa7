"""Every fault the store can have, through the sandbox's fault modes: a clear message in the page
or fragment, the filters kept, a way to try again, the right status, and recovery."""

import logging

import pytest

from tests import html
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

# What each fault leaves in the log about the list's own call: logger, level, words.
STORE = "dashboard.store.client"
LOGGED = {
    "server_error": (STORE, logging.WARNING, "store failed: GET tickets/ -> 500"),
    "unavailable": (STORE, logging.WARNING, "store failed: GET tickets/ -> 503"),
    "bad_gateway": (STORE, logging.WARNING, "store failed: GET tickets/ -> 502"),
    "disconnect": (STORE, logging.WARNING, "store unreachable: GET tickets/"),
    "timeout": (STORE, logging.WARNING, "store timed out: GET tickets/"),
    "malformed": (STORE, logging.ERROR, "cannot read: GET tickets/ (not JSON)"),
    "wrong_shape": (STORE, logging.ERROR, "cannot read: GET tickets/ ('results' missing"),
    "rate_storm": (STORE, logging.WARNING, "store rate limited: GET tickets/"),
    "token_rejected": (STORE, logging.ERROR, "store rejected the API token: GET tickets/"),
}

# The code of the error each fault shows (its `data-error`).
CODES = {
    "server_error": "unavailable",
    "unavailable": "unavailable",
    "bad_gateway": "unavailable",
    "disconnect": "unavailable",
    "timeout": "timeout",
    "malformed": "bad_response",
    "wrong_shape": "bad_response",
    "rate_storm": "rate_limited",
    "token_rejected": "token_rejected",
}


@pytest.fixture(autouse=True)
def quick_faults(settings, sleeps):
    # The pauses before a retry (Retry-After, a gateway error's jitter) are recorded, not slept.
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

    doc = html.page(response)
    assert response.status_code == status
    assert html.error_codes(doc) == [CODES[mode]]
    assert any(words in alert for alert in html.alerts(doc))
    assert html.link(doc, "Try again") == "/?status=open&priority=high"
    assert html.checked(doc, "status") == ["open"]
    assert html.value(doc, "priority") == "high"
    text = response.content.decode()
    assert "Traceback" not in text and TEST_TOKEN not in text
    logger, level, logged = LOGGED[mode]
    assert [
        record
        for record in caplog.records
        if record.name == logger and record.levelno == level and logged in record.getMessage()
    ], f"no {logging.getLevelName(level)} from {logger} saying {logged!r}"
    assert TEST_TOKEN not in caplog.text


@pytest.mark.parametrize("mode, status, words", FAULTS)
def test_fragments_carry_the_message_too(signed_in, sandbox, mode, status, words):
    more, _ = html.load_more(html.page(signed_in.get("/?status=closed")))
    sandbox.set_fault(mode)

    results = signed_in.get("/?status=open", **HTMX)
    rows = signed_in.get(more, **HTMX)
    thread = signed_in.get("/tickets/1641/", **HTMX)

    for response in (results, rows, thread):
        doc = html.page(response)
        assert response.status_code == status
        assert html.error_codes(doc) == [CODES[mode]]
        assert any(words in alert for alert in html.alerts(doc))
        assert not html.is_whole_page(doc)
    # Trying again asks for the same rows, in the place of the message.
    again = html.anchor(html.page(rows), "Try again")
    assert again["href"] == again["data-hx-get"] == more
    assert again["data-hx-target"] == "closest tr"


def test_the_dashboard_recovers_by_itself(signed_in, sandbox):
    sandbox.set_fault("unavailable")
    assert signed_in.get("/?status=open").status_code == 503
    sandbox.set_fault("none")
    response = signed_in.get("/?status=open")
    assert response.status_code == 200
    assert html.row_ids(html.page(response))
    assert html.error_codes(html.page(response)) == []


def test_a_slow_store_still_answers(signed_in, sandbox, settings):
    settings.NEXT_API_READ_TIMEOUT = 10.0
    sandbox.configure(latency_ms=600)
    response = signed_in.get("/?status=open")
    assert response.status_code == 200
    assert html.row_ids(html.page(response))


def test_rate_limited_answers_say_when_to_retry(signed_in, sandbox):
    sandbox.set_fault("rate_storm")
    response = signed_in.get("/?status=open")
    assert response.status_code == 503
    assert response["Retry-After"] == "1"


def test_an_unreachable_store_is_unavailable(signed_in, settings):
    settings.NEXT_API_BASE_URL = "http://127.0.0.1:9/api/admin/"  # nothing listens on discard
    response = signed_in.get("/?status=open")
    assert response.status_code == 503
    assert html.error_codes(html.page(response)) == ["unavailable"]
