"""Settings for the test suite: the production settings with a fixed key and plain static
storage (pytest-django's live server cannot serve hashed manifest names)."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuv")
os.environ.setdefault("DJANGO_DEBUG", "0")

from dashboard.settings import *  # noqa: E402, F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
