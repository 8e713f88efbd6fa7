"""Sessions: kept in the database, read from the shared cache, and ended everywhere by a
sign-out, which fails visibly rather than leave a copy behind when the cache cannot be reached."""

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.cache.backends.filebased import FileBasedCache

from dashboard.sessions import SessionStore

pytestmark = pytest.mark.django_db


def cached(session_key):
    return cache.get(SessionStore.cache_key_prefix + session_key)


def test_a_page_reads_the_session_from_the_cache(signed_in, django_assert_num_queries):
    key = signed_in.session.session_key
    assert cached(key) is not None  # put there as the session was saved
    with django_assert_num_queries(0):
        assert SessionStore(key).load()["_auth_user_id"]


def test_a_session_the_cache_lost_is_read_from_the_database(signed_in):
    key = signed_in.session.session_key
    cache.delete(SessionStore.cache_key_prefix + key)
    assert SessionStore(key).load()["_auth_user_id"]
    assert cached(key) is not None  # and cached again


def test_signing_out_ends_the_session_in_the_cache_and_the_database(signed_in):
    key = signed_in.session.session_key
    assert signed_in.post("/accounts/logout/").status_code == 302
    assert cached(key) is None
    assert not Session.objects.filter(session_key=key).exists()
    assert signed_in.get("/?status=open").status_code == 302  # to the sign-in page


def test_a_sign_out_the_cache_cannot_take_fails_and_changes_nothing(signed_in, monkeypatch):
    key = signed_in.session.session_key

    def unreachable(self, key, version=None):
        raise OSError("the cache cannot be reached")

    with monkeypatch.context() as patched:
        patched.setattr(FileBasedCache, "delete", unreachable)
        refused = signed_in.post("/accounts/logout/")
    assert refused.status_code == 503  # the outage's answer: try again
    assert cached(key) is not None and Session.objects.filter(session_key=key).exists()
    assert signed_in.get("/?status=open").status_code == 200  # still signed in, everywhere

    assert signed_in.post("/accounts/logout/").status_code == 302
    assert cached(key) is None
    assert not Session.objects.filter(session_key=key).exists()
