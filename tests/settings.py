"""Settings for the test suite: the production settings with a fixed key and plain static
storage (pytest-django's live server cannot serve hashed manifest names)."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuv")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_HTTPS", "0")  # the test client speaks plain HTTP

from dashboard.settings import *  # noqa: E402, F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# `make test` runs the suite on a throwaway PostgreSQL (tools/with_postgres.py) and says so here:
# a run that meant PostgreSQL must not quietly fall back to SQLite.
_expected = os.environ.get("DASHBOARD_TEST_DB_VENDOR", "")
if _expected and not DATABASES["default"]["ENGINE"].endswith(_expected):  # noqa: F405
    raise RuntimeError(f"the tests were meant to run on {_expected}: set DATABASE_URL")

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Each test run keeps its cache and pacing state apart from a running dashboard's.
STATE_DIR = Path(tempfile.mkdtemp(prefix="dashboard-test-state-"))  # noqa: F405
PACING_DIR = STATE_DIR / "pacing"
CACHES = {
    **CACHES,  # noqa: F405
    "default": {
        "BACKEND": "dashboard.budget.filecache.FileCache",
        "LOCATION": STATE_DIR / "cache",
    },
}

# Tests count the store's calls: the next page is prefetched, names looked up and views
# counted only where a test asks for it.
STORE_PREFETCH = False
STORE_NAME_LOOKUPS_PER_MINUTE = 0
STORE_VIEW_COUNTS = False
# The ticket index is filled only where a test asks for it (the walk would count as calls).
INDEX_BACKFILL = False

# The store allows a token 4 calls a second and the budget keeps to that; the sandbox the tests
# talk to allows any number. Here the budget keeps its 4 calls, its lanes and its margin in a
# window a quarter as long, so that tests wait a quarter as long for their turns. A test that
# holds the dashboard to a store's real limit (the sandbox's `rate_limit`) asks for the
# `store_pace` fixture, which puts the production window back.
STORE_RATE_WINDOW = 0.25
STORE_RATE_MARGIN = 0.025
