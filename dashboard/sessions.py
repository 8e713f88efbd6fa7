"""Sessions kept in the database and read from the shared cache (`SESSION_ENGINE`).

Every page reads the person's session before anything else, so it is read from the shared
cache (a file or Redis read) rather than by a query, and from the database only when the cache
does not hold it. Django's `cached_db` does that; this one differs in what a sign-out (or a
changed password, which replaces the session) does when the cache fails: the cached copy is
removed before the database row and again after it, and a cache that cannot be reached makes
the sign-out fail with the outage's 503 while nothing has changed yet. Django's would delete the
row, fail on the cache, and leave a copy there that a returning Redis would serve again for
the rest of the session's life. Reading falls back to the database when the cache fails, and
goes on without caching what it read; Django's would fail the page, outside any view, with a
500 rather than the outage's 503 (a view that needs the shared state still answers that).

Signed-cookie sessions were weighed and left out: they need no read at all, but a sign-out
only asks the browser to forget its cookie, and a copy of it taken before stays valid until it
expires (see docs/decisions.md).
"""

import contextlib

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.core.cache import DEFAULT_CACHE_ALIAS, caches

from dashboard.accounts import backends
from dashboard.budget import state
from dashboard.budget.state import STATE_ERRORS, guarded, schema_key


class SessionStore(CachedDBStore):
    # A session's data is the database's (a dict of plain values); the key still carries its
    # layout's version, as every key of the shared state does (see budget/state.py).
    cache_key_prefix = schema_key("session", 1, "")

    def __init__(self, session_key=None):
        DBStore.__init__(self, session_key)  # the cache is reached when it is used, not before

    @property
    def _cache(self):
        return caches[settings.SESSION_CACHE_ALIAS]

    def exists(self, session_key):
        with contextlib.suppress(*STATE_ERRORS):
            if session_key and self.cache_key_prefix + session_key in self._cache:
                return True
        return DBStore.exists(self, session_key)

    def load(self):
        try:
            data = self._read_cached()
        except Exception:  # as Django's: a key the cache refuses reads as no session
            data = None
        if data is not None:
            return _signed_in_before(data)
        found = self._get_session_from_db()
        if not found:
            return {}
        data = self.decode(found.session_data)
        # The database has it: a cache that fails only goes without (Django's would raise).
        with contextlib.suppress(*STATE_ERRORS):
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=found.expire_date))
        return _signed_in_before(data)

    def _read_cached(self):
        """The cached session, read through the shared state when it is the session's cache,
        so that a page's other first reads go with it in one round trip (see
        `state.read_together`)."""
        if settings.SESSION_CACHE_ALIAS == DEFAULT_CACHE_ALIAS:
            return state.cache_get(self.cache_key)
        return self._cache.get(self.cache_key)

    def save(self, must_create=False):
        """As Django's, the person's backend stored under Django's own name, which every
        release reads (see `_signed_in_before`)."""
        session = self._get_session(no_load=must_create)
        if session.get(BACKEND_SESSION_KEY) != backends.PATH:
            return super().save(must_create)
        session[BACKEND_SESSION_KEY] = backends.DJANGOS
        try:
            return super().save(must_create)
        finally:
            session[BACKEND_SESSION_KEY] = backends.PATH

    def delete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key is None:
            return
        key = self.cache_key_prefix + session_key
        with guarded("ending a session"):
            self._cache.delete(key)
        DBStore.delete(self, session_key)
        # A page that read the session from the database meanwhile may have cached it again.
        with guarded("ending a session"):
            self._cache.delete(key)


def _signed_in_before(data):
    """A session's `data`, the person read through `PeopleBackend`. A session names the
    backend that signed its person in, and Django signs out one whose backend is not in
    AUTHENTICATION_BACKENDS: sessions are stored naming Django's `ModelBackend` (`save`), so
    that a release without `PeopleBackend` (the one before it, beside it in a rolling deploy or
    after a rollback) keeps them signed in, and so are those signed in before it."""
    if data.get(BACKEND_SESSION_KEY) == backends.DJANGOS:
        data[BACKEND_SESSION_KEY] = backends.PATH
    return data
