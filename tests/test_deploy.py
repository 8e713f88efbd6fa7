"""Production serving as deployed: collectstatic into whitenoise's compressed manifest, then
gunicorn with DEBUG off, answering pages and hashed static files."""

import subprocess
import sys

import pytest
import requests

from tests.conftest import TEST_TOKEN
from tools.processes import ROOT, Gunicorn, child_env, manage

pytestmark = pytest.mark.usefixtures("fake_store")


def production_env(tmp_path, **settings):
    """Production settings of the test's own: no DEBUG, no HTTPS redirect (plain HTTP here)."""
    return child_env(
        DJANGO_SECRET_KEY="deploy-test-" + "x" * 50,
        DJANGO_HTTPS=0,
        DJANGO_STATIC_ROOT=tmp_path / "static",
        DJANGO_DB_PATH=tmp_path / "db.sqlite3",
        DASHBOARD_STATE_DIR=tmp_path / "state",
        **settings,
    )


@pytest.fixture
def production(tmp_path):
    env = production_env(tmp_path)
    manage(env, "collectstatic", "--noinput", "-v", "0")
    manage(env, "migrate", "--noinput", "-v", "0")
    with Gunicorn(env, "--workers", "2") as server:
        yield server.url, tmp_path / "static"


def test_gunicorn_serves_pages_and_compressed_hashed_static_files(production):
    base, static_root = production
    assert requests.get(base + "/healthz", timeout=5).text == "ok\n"
    login = requests.get(base + "/accounts/login/", timeout=5)
    assert login.status_code == 200
    assert "Content-Security-Policy" in login.headers

    css = next(static_root.glob("dashboard/app.*.css"))
    htmx = next(static_root.glob("django_htmx/htmx-2.min.*.js"))
    assert f"/static/dashboard/{css.name}" in login.text  # pages link the hashed names
    for path in (css, htmx):
        url = f"{base}/static/{path.relative_to(static_root)}"
        response = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=5)
        assert response.status_code == 200
        assert response.headers.get("Content-Encoding") == "gzip"
        assert "max-age=315360000" in response.headers["Cache-Control"]


def fail_unhandled_twice():
    """Run in a child process with production settings: a request that fails unhandled, then
    the same with error logging switched off. Prints each answer's status and whether its page
    says "logged"."""
    import logging

    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    from dashboard.views import site

    def explode(*args, **kwargs):
        raise RuntimeError(f"exploded while holding {settings.NEXT_API_TOKEN}")

    site.HttpResponse = explode
    client = Client(raise_request_exception=False)
    for _ in range(2):
        answer = client.get("/healthz")
        print(answer.status_code, "logged" in answer.content.decode(), flush=True)
        logging.getLogger("django.request").disabled = True


def test_an_unhandled_error_is_logged_with_its_traceback_and_never_the_token(tmp_path):
    env = production_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        DJANGO_ALLOWED_HOSTS="testserver",
        NEXT_STORE="example",
        NEXT_API_TOKEN=TEST_TOKEN,
    )
    manage(env, "collectstatic", "--noinput", "-v", "0")
    child = subprocess.run(
        [sys.executable, "-c", "from tests.test_deploy import fail_unhandled_twice as f; f()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.stdout.split("\n")[:2] == ["500 True", "500 False"], child.stderr[-3000:]
    assert "ERROR django.request Internal Server Error: /healthz" in child.stderr
    assert "Traceback (most recent call last)" in child.stderr
    assert "RuntimeError: exploded while holding ********" in child.stderr
    assert TEST_TOKEN not in child.stderr + child.stdout
