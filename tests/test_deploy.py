"""Production serving as deployed: collectstatic into whitenoise's compressed manifest, then
gunicorn with DEBUG off, answering pages and hashed static files."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("fake_store")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def production(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NEXT_"))}
    env = {
        **clean,
        "DJANGO_SECRET_KEY": "deploy-test-" + "x" * 50,
        "DJANGO_HTTPS": "0",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "DJANGO_DB_PATH": str(tmp_path / "db.sqlite3"),
        "DASHBOARD_STATE_DIR": str(tmp_path / "state"),
    }
    for command in (["collectstatic", "--noinput"], ["migrate", "--noinput"]):
        subprocess.run(
            [sys.executable, "manage.py", *command, "-v", "0"], cwd=ROOT, env=env, check=True
        )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "dashboard.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(base + "/healthz", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    yield base, tmp_path / "static"
    server.terminate()
    server.wait(timeout=10)


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
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NEXT_"))}
    env = {
        **clean,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DJANGO_SECRET_KEY": "deploy-test-" + "x" * 50,
        "DJANGO_HTTPS": "0",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_DB_PATH": str(tmp_path / "db.sqlite3"),
        "DASHBOARD_STATE_DIR": str(tmp_path / "state"),
        "NEXT_STORE": "example",
        "NEXT_API_TOKEN": TEST_TOKEN,
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    child = subprocess.run(
        [sys.executable, "-c", "from tests.test_deploy import fail_unhandled_twice as f; f()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.stdout.split("\n")[:2] == ["500 True", "500 False"]
    assert "ERROR django.request Internal Server Error: /healthz" in child.stderr
    assert "Traceback (most recent call last)" in child.stderr
    assert "RuntimeError: exploded while holding ********" in child.stderr
    assert TEST_TOKEN not in child.stderr + child.stdout
