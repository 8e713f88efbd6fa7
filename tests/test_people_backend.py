"""The signed-in person, read by `PeopleBackend`: the same person Django's backend reads, in one
plain query, refused when inactive or gone, and sessions signed in through Django's backend
before it stay signed in."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connections
from django.forms.models import model_to_dict

from dashboard.accounts import backends
from dashboard.accounts.backends import PeopleBackend
from dashboard.sessions import SessionStore

pytestmark = [pytest.mark.django_db, pytest.mark.also_sqlite]


def test_it_reads_the_person_djangos_backend_reads_in_one_query(lead, django_assert_num_queries):
    with django_assert_num_queries(1):
        person = PeopleBackend().get_user(lead.pk)
    theirs = ModelBackend().get_user(lead.pk)
    assert type(person) is get_user_model() and person.pk == lead.pk
    assert model_to_dict(person) == model_to_dict(theirs)
    assert person._state.db == theirs._state.db and not person._state.adding
    person.first_name = "Renamed"
    person.save(update_fields=["first_name"])  # a model like any other: it saves
    assert get_user_model().objects.get(pk=lead.pk).first_name == "Renamed"


def test_a_person_gone_or_inactive_or_a_key_not_theirs_is_nobody(lead):
    backend = PeopleBackend()
    assert backend.get_user(lead.pk + 1000) is None
    assert backend.get_user("not a number") is None
    assert backend.get_user(str(lead.pk)).pk == lead.pk  # as a session keeps it
    lead.is_active = False
    lead.save()
    assert backend.get_user(lead.pk) is None


def test_a_page_is_served_to_the_person_and_not_once_they_are_deactivated(signed_in, lead):
    assert signed_in.session[BACKEND_SESSION_KEY] == backends.PATH
    assert signed_in.get("/?status=open").status_code == 200
    lead.is_active = False
    lead.save()
    assert signed_in.get("/?status=open").status_code == 302  # to the sign-in page


def test_a_session_signed_in_through_djangos_backend_stays_signed_in(client, lead):
    client.force_login(lead, backend=backends.DJANGOS)
    key = client.session.session_key
    assert SessionStore(key).load()[BACKEND_SESSION_KEY] == backends.PATH  # from the cache
    cache.delete(SessionStore.cache_key_prefix + key)
    assert SessionStore(key).load()[BACKEND_SESSION_KEY] == backends.PATH  # from the database
    assert client.get("/?status=open").status_code == 200


def test_a_session_is_stored_under_djangos_backend_which_every_release_reads(signed_in):
    """A release without `PeopleBackend` (the one before it, beside it in a rolling deploy or
    after a rollback) reads the same sessions: they name Django's backend where they are
    kept, and this release reads them as its own."""
    key = signed_in.session.session_key
    assert Session.objects.get(session_key=key).get_decoded()[BACKEND_SESSION_KEY] == (
        backends.DJANGOS
    )
    assert cache.get(SessionStore.cache_key_prefix + key)[BACKEND_SESSION_KEY] == backends.DJANGOS
    assert SessionStore(key).load()[BACKEND_SESSION_KEY] == backends.PATH
    session = SessionStore(key)
    session["seen"] = 1
    session.save()  # saved again: still under Django's name, still this release's when read
    assert cache.get(SessionStore.cache_key_prefix + key)[BACKEND_SESSION_KEY] == backends.DJANGOS
    assert session[BACKEND_SESSION_KEY] == backends.PATH


@pytest.mark.django_db(transaction=True)  # the other thread's connection sees the person
def test_the_converters_are_the_reading_threads_connections(lead):
    """Each thread's database connection converts what it reads (SQLite's times, with its own
    time zone): a person read in another thread is the same person."""

    def read():
        try:
            return PeopleBackend().get_user(lead.pk)
        finally:
            connections.close_all()  # the thread's own

    with ThreadPoolExecutor(1) as other:
        theirs = other.submit(read).result()
    assert model_to_dict(theirs) == model_to_dict(PeopleBackend().get_user(lead.pk))
