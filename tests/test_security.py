"""Hardening: headers, every door of the URLconf, sign-in throttling, the deploy check, and the
access token kept out of every page, fragment, error page and log line."""

import logging
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from dashboard.models import DisplayLink
from dashboard.wall.filters import canonical_filters
from tests.conftest import TEST_TOKEN
from tests.html import page, row_ids

ROOT = Path(__file__).resolve().parent.parent
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def display_path(db):
    link = DisplayLink(name="Room", filters=canonical_filters("status=new&status=open"))
    secret = link.issue_secret()
    link.save()
    return link.path_for(secret)


def page_urls(display_path):
    return [
        "/",
        "/?status=open&priority=high",
        "/?id=abc",
        "/tickets/1641/",
        "/tickets/987654321/",
        "/wall/?status=new",
        "/wall/links/",
        display_path,
    ]


# --- Headers and CSP ----------------------------------------------------------------------


def csp_directives(response):
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_every_page_carries_a_strict_csp_and_the_other_headers(signed_in, display_path):
    for url in [*page_urls(display_path), "/accounts/login/", "/healthz"]:
        response = signed_in.get(url)
        assert response.status_code < 500, url
        directives = csp_directives(response)
        assert directives["script-src"] == ["'self'"], url
        assert directives["style-src"] == ["'self'"], url
        assert directives["frame-ancestors"] == ["'none'"], url
        assert directives["object-src"] == ["'none'"], url
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert "'unsafe-eval'" not in response["Content-Security-Policy"]
        assert "*" not in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert "camera=()" in response["Permissions-Policy"], url
        assert "geolocation=()" in response["Permissions-Policy"], url


class InlineCodeFinder(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, handlers, styles, js: URLs."""

    def __init__(self):
        super().__init__()
        self.problems = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if not attrs.get("src"):
                self.problems.append("inline <script>")
            self._in_script = True
        if tag == "style":
            self.problems.append("<style> element")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"{name}= handler on <{tag}>")
            if name == "style":
                self.problems.append(f"style= on <{tag}>")
            if name.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"{name} needs eval")
            if name in {"href", "src", "action"} and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"javascript: URL in {name}")
            if name == "src" and value and re.match(r"^(https?:)?//", value):
                self.problems.append(f"off-site script or image {value}")


def test_pages_and_fragments_need_no_inline_code_and_no_cdn(signed_in, display_path):
    urls = page_urls(display_path)
    responses = [signed_in.get(url) for url in urls]
    responses += [signed_in.get(url, **HTMX) for url in urls]
    responses.append(Client().get("/accounts/login/"))
    for response in responses:
        finder = InlineCodeFinder()
        finder.feed(response.content.decode())
        assert finder.problems == [], response.request["PATH_INFO"]


# --- HTTPS switch and the deploy check ---------------------------------------------------


def settings_under(env):
    code = (
        "import json; from dashboard import settings as s; print(json.dumps([s.DEBUG, "
        "s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None)]))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NEXT_"))}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SECRET_KEY": "k" * 60, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    return json.loads(result.stdout)


def test_one_switch_turns_https_on_in_production_and_off_for_private_networks():
    assert settings_under({}) == [False, True, True, True, 31_536_000, None]
    assert settings_under({"DJANGO_HTTPS": "0"}) == [False, False, False, False, 0, None]
    assert settings_under({"DJANGO_DEBUG": "1"})[1:5] == [False, False, False, 0]
    behind_proxy = settings_under({"DJANGO_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO=https"})
    assert behind_proxy[5] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_with_https_on_plain_http_is_redirected_but_healthz_is_not(settings, db):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    response = client.get("/?status=open")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/?status=open"
    assert client.get("/healthz").status_code == 200


def test_deploy_check_is_clean_with_production_settings(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NEXT_"))}
    env = {
        **clean,
        "DJANGO_SECRET_KEY": "p7#Qz" * 12,
        "DJANGO_ALLOWED_HOSTS": "support.example.com",
        "NEXT_STORE": "example",
        "NEXT_API_TOKEN": "not-a-real-token",
        "DJANGO_DB_PATH": str(tmp_path / "db.sqlite3"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- Every door ---------------------------------------------------------------------------

# The only URLs open without signing in, and what guards each.
OPEN_DOORS = {
    "accounts/login/": "the sign-in form itself, throttled per user and per address",
    "admin/login/": "only a redirect to the one sign-in form above",
    "healthz": "says ok and nothing else",
    "display/<str:secret>/": "a display link's own wall, for a valid unrevoked secret only",
    "webhooks/next/": "the store's deliveries: POST only, signed with NEXT_WEBHOOK_SECRET",
}


def all_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from all_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def sample_url(pattern):
    """A concrete URL for a route or regex pattern, with plausible values in its slots."""
    url = re.sub(r"<(?:int:)?[^>]*(id|pk)>", "1", pattern)
    url = re.sub(r"<[^>]+>", "x", url)
    url = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", url)
    url = url.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "")
    return "/" + url


def test_every_url_needs_a_signed_in_user_except_the_open_doors(db):
    client = Client()
    patterns = list(all_patterns())
    assert len(patterns) > 20  # the admin's too
    for pattern in patterns:
        url = sample_url(pattern)
        response = client.get(url)
        if pattern in OPEN_DOORS:
            continue
        assert response.status_code in (301, 302, 404), (pattern, response.status_code)
        if response.status_code in (301, 302):
            location = response["Location"]
            assert "/login/" in location, (pattern, location)
        else:
            # Only the admin answers an unknown object with 404 before asking who you are;
            # and a 404 page shows nothing.
            assert pattern.startswith("admin/"), pattern
    assert set(OPEN_DOORS) <= set(patterns)


def test_the_open_doors_reveal_nothing(client, db):
    health = client.get("/healthz")
    assert health.content == b"ok\n"
    assert client.get("/display/x/").status_code == 404
    assert row_ids(page(client.get("/accounts/login/"))) == []


def test_static_files_are_served_without_signing_in(live_server):
    import requests

    response = requests.get(live_server.url + "/static/dashboard/app.css", timeout=5)
    assert response.status_code == 200


# --- The token stays secret ---------------------------------------------------------------

FAULT_MODES = [
    "none", "server_error", "unavailable", "bad_gateway", "disconnect", "timeout",
    "malformed", "wrong_shape", "rate_storm", "token_rejected", "slow",
]  # fmt: skip


@pytest.mark.parametrize("mode", FAULT_MODES)
def test_the_token_is_in_no_page_fragment_or_log_line(
    signed_in, sandbox, display_path, caplog, settings, sleeps, mode
):
    # What reaches pages and logs is the point, not the waiting: the retries' pauses are
    # recorded rather than slept (`sleeps`), and a store that never answers is given up on
    # sooner than a second; it still times out every call.
    settings.NEXT_API_READ_TIMEOUT = 0.25 if mode in ("slow", "timeout") else 1.0
    settings.STORE_429_RETRIES = 1
    caplog.set_level(logging.DEBUG)
    sandbox.set_fault(mode)
    seen = []
    for url in page_urls(display_path):
        for extra in ({}, HTMX):
            response = signed_in.get(url, **extra)
            seen.append(response.content.decode() + str(response.headers))
    seen.append(Client().get(display_path).content.decode())
    if mode == "rate_storm":
        assert sleeps  # the 429s were retried after their Retry-After
    assert all(TEST_TOKEN not in text for text in seen)
    assert TEST_TOKEN not in caplog.text
    assert all(TEST_TOKEN not in str(record.args) for record in caplog.records)


def test_the_token_is_not_on_the_debug_error_page(signed_in, settings, monkeypatch):
    """Even Django's technical 500 page, with DEBUG on, does not show it: not in our frames,
    nor in the HTTP library's, whose locals hold the request's Authorization header."""
    settings.DEBUG = True

    def explode(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(requests.Session, "send", explode)
    signed_in.raise_request_exception = False
    response = signed_in.get("/?status=open")
    assert response.status_code == 500
    html = response.content.decode()
    assert "RuntimeError" in html  # it is the technical page
    assert TEST_TOKEN not in html
