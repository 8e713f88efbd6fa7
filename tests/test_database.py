"""The database under the dashboard: its migrations (on PostgreSQL and on SQLite), a clear 503
when it cannot be reached, and the tag catalogue's version in the shared state."""

import io

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import OperationalError, connection
from django.utils.module_loading import import_string

from dashboard.models import CATALOGUE_VERSION_KEY, DisplayLink, Tag, forget_catalogue
from tests import html
from tools.processes import wait_until


@pytest.mark.also_sqlite
def test_migrations_run_down_to_nothing_and_up_again_and_match_the_models(transactional_db):
    call_command("migrate", "dashboard", "zero", verbosity=0)
    assert "dashboard_savedview" not in connection.introspection.table_names()
    call_command("migrate", verbosity=0)
    assert "dashboard_savedview" in connection.introspection.table_names()
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.also_sqlite
def test_the_suite_runs_on_the_database_it_was_meant_for(db):
    import os

    expected = os.environ.get("DASHBOARD_TEST_DB_VENDOR") or "sqlite"
    assert connection.vendor == expected


def _refused(*args, **kwargs):
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: refused')


def test_a_database_out_of_reach_before_the_view_is_a_503_not_a_500(signed_in, monkeypatch):
    # Loading the session happens in middleware, outside every view.
    engine = import_string(f"{django_settings.SESSION_ENGINE}.SessionStore")
    monkeypatch.setattr(engine, "load", _refused)
    signed_in.raise_request_exception = False
    response = signed_in.get("/?status=open")
    assert response.status_code == 503
    alert = html.page(response).select_one("[role=alert]")
    assert alert["data-error"] == "database"
    assert "database is unavailable" in alert.get_text()
    assert response["Retry-After"] == "5"


def test_a_database_out_of_reach_in_a_view_is_a_503_on_the_wall_and_at_sign_in(
    client, db, monkeypatch
):
    monkeypatch.setattr(DisplayLink.objects, "filter", _refused)
    monkeypatch.setattr("django.contrib.auth.backends.ModelBackend.authenticate", _refused)
    client.raise_request_exception = False
    wall = client.get("/display/some-secret-of-a-screen/")
    assert wall.status_code == 503
    assert html.page(wall).select_one("[role=alert]")["data-error"] == "database"
    signin = client.post("/accounts/login/", {"username": "lead", "password": "x" * 12})
    assert signin.status_code == 503


def test_a_fragment_gets_the_outage_as_a_fragment(signed_in, monkeypatch):
    monkeypatch.setattr("dashboard.models.Preference.looks_of", _refused)
    signed_in.raise_request_exception = False
    response = signed_in.get("/?status=open", headers={"HX-Request": "true"})
    assert response.status_code == 503
    doc = html.page(response)
    assert not html.is_whole_page(doc)
    assert doc.select_one("[role=alert]")["data-error"] == "database"


def test_a_catalogue_change_made_elsewhere_is_seen_once_its_version_changes(db):
    Tag.objects.create(name="Refunds", store_id=2)
    assert Tag.catalogue().id_for("Refunds") == 2
    # Another machine renames the tag: its database row changes, and so does the version in
    # the shared state (update() sends no signal here, as another process's change would not).
    Tag.objects.filter(store_id=2).update(name="Money back")
    assert Tag.catalogue().id_for("Refunds") == 2  # this process has not been told yet
    cache.set(CATALOGUE_VERSION_KEY, "changed-on-machine-b", None)
    wait_until(lambda: Tag.catalogue().id_for("Money back") == 2, 5, "the renamed tag")
    assert Tag.catalogue().id_for("Refunds") is None


def test_a_catalogue_change_made_here_shares_a_new_version_once_committed(
    transactional_db, django_capture_on_commit_callbacks
):
    before = cache.get(CATALOGUE_VERSION_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        Tag.objects.create(name="Refunds", store_id=2)
    after = cache.get(CATALOGUE_VERSION_KEY)
    assert after is not None and after != before
    forget_catalogue()
    assert Tag.catalogue().id_for("Refunds") == 2


def test_sign_in_attempts_met_by_an_outage_do_not_count_against_the_person(
    client, lead, monkeypatch
):
    client.raise_request_exception = False
    with monkeypatch.context() as outage:
        outage.setattr("django.contrib.auth.backends.ModelBackend.authenticate", _refused)
        for _ in range(8):  # more than the five failures a username may have
            answer = client.post(
                "/accounts/login/", {"username": "lead", "password": "a-long-test-password"}
            )
            assert answer.status_code == 503
    back = client.post("/accounts/login/", {"username": "lead", "password": "a-long-test-password"})
    assert back.status_code == 302  # signed in at once, not refused as a run of failures


def test_a_database_urls_password_never_reaches_an_error_report_or_a_log_line():
    import logging

    from dashboard.errors import TokenSafeExceptionReporterFilter, TokenSafeFormatter

    url = "postgres://dashboard:s3cret-pw@db.internal:5432/desk"
    cleansed = TokenSafeExceptionReporterFilter().cleanse_setting("DATABASE_URL", url)
    assert "s3cret-pw" not in cleansed and "db.internal:5432/desk" in cleansed
    record = logging.makeLogRecord({"msg": "could not reach %s", "args": (url,)})
    line = TokenSafeFormatter("%(message)s").format(record)
    assert line == "could not reach postgres://********@db.internal:5432/desk"
