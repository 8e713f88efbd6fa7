"""A request without a session goes to the sign-in page and comes back to its page: a page by
a redirect, an HTMX request (Load more, a poll, a thread, a form) by `HX-Redirect`, so that the
whole page goes, never a sign-in form swapped into it."""

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.html import page

LIST = "http://testserver/?status=open&priority=high"


def htmx(client, url, current=LIST, method="get", **headers):
    if current is not None:
        headers["HTTP_HX_CURRENT_URL"] = current
    return getattr(client, method)(url, HTTP_HX_REQUEST="true", **headers)


def next_of(location):
    parts = urlsplit(location)
    assert parts.path == "/accounts/login/" and not parts.netloc
    return parse_qs(parts.query)["next"][0]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/?status=open&priority=high&cursor=abc"),  # Load more
        ("get", "/?status=open"),  # the filters
        ("get", "/tickets/7/?status=open"),  # a thread beside the list
        ("get", "/arrivals/?status=open"),  # polls
        ("get", "/names/?requester=31"),
        ("get", "/count/?status=open"),
        ("get", "/views/counts/"),
        ("get", "/wall/"),
        ("get", "/bulk/1/"),
        ("post", "/preferences/density/"),  # forms
        ("post", "/tickets/7/triage/"),
        ("post", "/bulk/"),
    ],
)
def test_an_htmx_request_without_a_session_sends_the_whole_page_to_sign_in(client, method, url, db):
    answer = htmx(client, url, method=method)
    assert answer.status_code == 200
    assert next_of(answer["HX-Redirect"]) == "/?status=open&priority=high"
    assert answer.content == b""  # nothing to swap in: no sign-in form inside the page
    assert "no-store" in answer["Cache-Control"]
    assert "HX-Request" in answer["Vary"]


def test_a_page_without_a_session_is_redirected_as_before(client, db):
    answer = client.get("/?status=open&priority=high")
    assert answer.status_code == 302
    assert next_of(answer["Location"]) == "/?status=open&priority=high"
    assert "HX-Redirect" not in answer


def test_a_history_restore_gets_the_sign_in_page_itself(client, db):
    answer = htmx(client, "/?status=open", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert answer.status_code == 302
    assert next_of(answer["Location"]) == "/?status=open"


@pytest.mark.parametrize(
    "current",
    [
        None,
        "",
        "https://evil.example/?status=open",
        "//evil.example/",
        "http://testserver//evil.example/",
        "http://testserver.evil.example/?status=new",
        "javascript:alert(1)",
        "http://testserver\\@evil.example/",
        "not a url",
    ],
)
def test_a_page_elsewhere_is_never_where_sign_in_returns(client, current, db):
    """Load more's own page is the list it loads more of, from its start."""
    answer = htmx(client, "/?status=open&cursor=abc", current=current)
    assert next_of(answer["HX-Redirect"]) == "/?status=open"


def test_only_the_path_of_this_sites_page_is_kept(client, db):
    """Behind a TLS proxy the page is https while the request may say http: same host, and
    only the path and query are kept, so the scheme can lead nowhere else."""
    answer = htmx(client, "/names/", current="https://testserver/tickets/7/?status=new#top")
    assert next_of(answer["HX-Redirect"]) == "/tickets/7/?status=new"


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", "/names/?requester=31"), ("get", "/arrivals/"), ("post", "/preferences/density/")],
)
def test_without_a_page_to_return_to_sign_in_returns_to_the_list(client, method, url, db):
    answer = htmx(client, url, current="https://evil.example/", method=method)
    assert next_of(answer["HX-Redirect"]) == "/"


def test_after_signing_in_the_person_is_back_on_their_page(client, lead):
    location = htmx(client, "/?status=open&cursor=abc")["HX-Redirect"]
    sign_in = client.get(location)
    form = page(sign_in).find("form", action="/accounts/login/")
    back = form.find("input", attrs={"name": "next"})["value"]
    answer = client.post(
        "/accounts/login/",
        {"username": "lead", "password": "a-long-test-password", "next": back},
        REMOTE_ADDR="10.0.0.1",
    )
    assert answer.status_code == 302
    assert answer["Location"] == "/?status=open&priority=high"


def test_a_signed_in_htmx_request_is_answered_as_before(signed_in):
    answer = htmx(signed_in, "/views/counts/")
    assert answer.status_code == 200
    assert "HX-Redirect" not in answer
