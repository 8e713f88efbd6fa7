"""Settings for the tickets dashboard, read from the environment.

Defaults make `make run` work on a fresh machine; switching `DJANGO_DEBUG` off gives
production-safe behaviour.
"""

import ipaddress
import os
import zoneinfo
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name, default=""):
    return os.environ.get(name, default).strip()


def env_bool(name, default=False):
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {raw!r}")


def env_float(name, default):
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None


def env_int(name, default):
    value = env_float(name, default)
    if value != int(value):
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}")
    return int(value)


def env_list(name, default=()):
    raw = os.environ.get(name, "")
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return items or list(default)


DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for local use).")
    SECRET_KEY = "insecure-local-development-key-not-for-production-use-0123456789"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# Where screens reach the dashboard: display link URLs made on the command line start with it.
DASHBOARD_BASE_URL = env_str("DASHBOARD_BASE_URL", "http://127.0.0.1:8000")

# --- The store API -------------------------------------------------------------------------

NEXT_API_TOKEN = env_str("NEXT_API_TOKEN")
NEXT_API_VERSION = env_str("NEXT_API_VERSION", "unstable")
NEXT_STORE = env_str("NEXT_STORE")

# With no token configured the dashboard talks to the built-in sandbox store, which `make run`
# starts beside it on SANDBOX_PORT.
SANDBOX = not NEXT_API_TOKEN
SANDBOX_PORT = env_int("SANDBOX_PORT", 8001)
SANDBOX_TOKEN = "sandbox-token"

if env_str("NEXT_API_BASE_URL"):
    NEXT_API_BASE_URL = env_str("NEXT_API_BASE_URL")
elif NEXT_STORE and not SANDBOX:
    NEXT_API_BASE_URL = f"https://{NEXT_STORE}.29next.store/api/admin/"
elif SANDBOX:
    NEXT_API_BASE_URL = f"http://127.0.0.1:{SANDBOX_PORT}/api/admin/"
else:
    raise ImproperlyConfigured("NEXT_API_TOKEN is set: also set NEXT_STORE or NEXT_API_BASE_URL.")
if not NEXT_API_BASE_URL.endswith("/"):
    NEXT_API_BASE_URL += "/"
if SANDBOX:
    NEXT_API_TOKEN = SANDBOX_TOKEN

# The secret the store signs its ticket webhooks with (POST /webhooks/next/; off when empty).
NEXT_WEBHOOK_SECRET = env_str("NEXT_WEBHOOK_SECRET")

# The ticket index (counts, arrivals, what waits on the team) is filled by a walk of every
# ticket when it is empty, and walked again when its last walk is older than INDEX_RESYNC_HOURS
# (drift: a delivery the store never made). INDEX_BACKFILL=0 leaves the walks to
# `manage.py sync_tickets`.
INDEX_RESYNC_HOURS = env_float("INDEX_RESYNC_HOURS", 24.0)
if INDEX_RESYNC_HOURS <= 0:
    raise ImproperlyConfigured(f"INDEX_RESYNC_HOURS must be above 0, not {INDEX_RESYNC_HOURS}")
INDEX_BACKFILL = env_bool("INDEX_BACKFILL", default=True)

# Changes made to tickets from the dashboard (who, which ticket, which fields from what to
# what) are kept AUDIT_DAYS days, for staff in the admin.
AUDIT_DAYS = env_int("AUDIT_DAYS", 90)
if AUDIT_DAYS < 1:
    raise ImproperlyConfigured(f"AUDIT_DAYS must be at least 1, not {AUDIT_DAYS}")
# A bulk change from the list asks for at most BULK_MAX tickets at once.
BULK_MAX = env_int("BULK_MAX", 100)

NEXT_API_CONNECT_TIMEOUT = env_float("NEXT_API_CONNECT_TIMEOUT", 3.0)
NEXT_API_READ_TIMEOUT = env_float("NEXT_API_READ_TIMEOUT", 10.0)

# --- Sharing the store's request budget ---------------------------------------------------
# One token serves every person and screen, and the store allows it STORE_RATE_LIMIT requests
# per STORE_RATE_WINDOW seconds. Answers are cached for STORE_CACHE_TTL seconds and fetched
# once however many ask at the same time; every upstream call waits for a slot in the shared
# window, up to STORE_WAIT_TIMEOUT seconds. Without REDIS_URL that state lives in the cache
# directory and PACING_DIR (every worker process of one machine); with it, in Redis (every
# machine).

REDIS_URL = env_str("REDIS_URL")
STORE_CACHE_TTL = env_float("STORE_CACHE_TTL", 30.0)
# While the store's webhooks keep the ticket index live, a delivery drops the pages and threads
# its ticket changes: they are cached this long instead.
STORE_CACHE_TTL_LIVE = env_float("STORE_CACHE_TTL_LIVE", 900.0)
STORE_ERROR_TTL = env_float("STORE_ERROR_TTL", 2.0)
STORE_RATE_LIMIT = env_int("STORE_RATE_LIMIT", 4)
STORE_RATE_WINDOW = env_float("STORE_RATE_WINDOW", 1.0)
STORE_RATE_MARGIN = env_float("STORE_RATE_MARGIN", 0.1)
STORE_WAIT_TIMEOUT = env_float("STORE_WAIT_TIMEOUT", 20.0)
# Nobody waits long for the store: when a person would wait longer than
# STORE_ANSWER_STALE_AFTER seconds for a slot, a page or thread is answered at once with what is
# known (its last answer, or the ticket index's rows), marked with its age, and refreshed in the
# background. At most STORE_WAITERS people per process wait for the store at once (a waiting
# person holds a server thread); the others are answered the same way, or told to try again
# when nothing is known. 0 leaves room for everyone.
STORE_ANSWER_STALE_AFTER = env_float("STORE_ANSWER_STALE_AFTER", 1.5)
STORE_WAITERS = env_int("STORE_WAITERS", 4)
if STORE_WAITERS < 0:
    raise ImproperlyConfigured(f"STORE_WAITERS must be 0 or more, not {STORE_WAITERS}")
STORE_429_RETRIES = env_int("STORE_429_RETRIES", 3)
# Two lanes share the budget: people first; background work (wall screens, count walks, the
# next page's prefetch) takes at most STORE_BACKGROUND_LIMIT of the slots in any window, none
# while a person waits, and waits at most STORE_BACKGROUND_WAIT seconds for one.
STORE_BACKGROUND_LIMIT = env_int("STORE_BACKGROUND_LIMIT", 3)
STORE_BACKGROUND_WAIT = env_float("STORE_BACKGROUND_WAIT", 10.0)
STORE_PREFETCH = env_bool("STORE_PREFETCH", default=True)
# Customers' names and products' titles are looked up in the background, at most this many a
# minute for the token (0: never; pages show emails and ids).
STORE_NAME_LOOKUPS_PER_MINUTE = env_int("STORE_NAME_LOOKUPS_PER_MINUTE", 60)
# "Download Excel" and "Download CSV" stream at most this many rows; past it, the file's last
# line says it was cut.
EXPORT_MAX_ROWS = env_int("EXPORT_MAX_ROWS", 5000)
if EXPORT_MAX_ROWS < 1:
    raise ImproperlyConfigured(f"EXPORT_MAX_ROWS must be at least 1, not {EXPORT_MAX_ROWS}")
# Downloads stream for as long as the store's pages take, each holding a server thread: at most
# EXPORTS_PER_PERSON at once per person and EXPORTS_AT_ONCE for everyone, across processes and
# machines (the budget's shared state); past either, 429 with Retry-After.
EXPORTS_PER_PERSON = env_int("EXPORTS_PER_PERSON", 2)
EXPORTS_AT_ONCE = env_int("EXPORTS_AT_ONCE", 4)
if EXPORTS_PER_PERSON < 1 or EXPORTS_AT_ONCE < EXPORTS_PER_PERSON:
    raise ImproperlyConfigured(
        "EXPORTS_PER_PERSON must be at least 1 and EXPORTS_AT_ONCE at least as many"
    )

# Saved views: a person keeps at most VIEWS_PER_PERSON (their own and the team's they made),
# the team shares at most TEAM_VIEWS in all, and the sidebar lists the first SIDEBAR_VIEWS of
# each group (the rest on the views page), so neither a page nor its counts grow with them.
VIEWS_PER_PERSON = env_int("VIEWS_PER_PERSON", 50)
TEAM_VIEWS = env_int("TEAM_VIEWS", 50)
SIDEBAR_VIEWS = env_int("SIDEBAR_VIEWS", 10)
if min(VIEWS_PER_PERSON, TEAM_VIEWS, SIDEBAR_VIEWS) < 1:
    raise ImproperlyConfigured("VIEWS_PER_PERSON, TEAM_VIEWS and SIDEBAR_VIEWS must be at least 1")

# Saved views' counts are walked in the background while someone looks at the sidebar (0: the
# sidebar shows no counts and asks the store nothing for them).
STORE_VIEW_COUNTS = env_bool("STORE_VIEW_COUNTS", default=True)
STATE_DIR = Path(env_str("DASHBOARD_STATE_DIR") or BASE_DIR / "var")
PACING_DIR = STATE_DIR / "pacing"

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tickets-dashboard",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "dashboard.budget.filecache.FileCache",
            "LOCATION": STATE_DIR / "cache",
            "OPTIONS": {"MAX_ENTRIES": 5000},
        }
    }

# --- The list ------------------------------------------------------------------------------
# Open tickets that have waited (since they were created) this many hours are marked ageing,
# and this many overdue: a display link's wall defaults.
LIST_AGEING_HOURS = env_int("LIST_AGEING_HOURS", 4)
LIST_OVERDUE_HOURS = env_int("LIST_OVERDUE_HOURS", 24)
if not 0 < LIST_AGEING_HOURS < LIST_OVERDUE_HOURS:
    raise ImproperlyConfigured("LIST_OVERDUE_HOURS must be more than LIST_AGEING_HOURS (> 0).")

# A ticket that waits on the team (see dashboard.index.attention) is overdue once it has waited
# longer than its priority's target, in hours on a 24-hour clock: business hours are not modelled.
SLA_PRIORITIES = ("high", "medium", "low")


def first_reply_hours(raw):
    """`{priority: hours}` from "high=1,medium=8,low=24": every priority once, each above 0."""
    targets = {}
    for part in raw.split(","):
        name, sep, hours = (piece.strip() for piece in part.partition("="))
        if not sep or name not in SLA_PRIORITIES:
            raise ImproperlyConfigured(
                f"SLA_FIRST_REPLY_HOURS must read like high=1,medium=8,low=24; {part.strip()!r}"
                f" is not priority=hours (priorities: {', '.join(SLA_PRIORITIES)})"
            )
        if name in targets:
            raise ImproperlyConfigured(f"SLA_FIRST_REPLY_HOURS names {name} twice")
        try:
            value = float(hours)
        except ValueError:
            value = -1.0
        if not 0 < value < float("inf"):
            raise ImproperlyConfigured(
                f"SLA_FIRST_REPLY_HOURS: {name} must be a number of hours above 0, not {hours!r}"
            )
        targets[name] = value
    missing = [name for name in SLA_PRIORITIES if name not in targets]
    if missing:
        raise ImproperlyConfigured(f"SLA_FIRST_REPLY_HOURS has no target for {', '.join(missing)}")
    return targets


SLA_FIRST_REPLY_HOURS = first_reply_hours(
    os.environ.get("SLA_FIRST_REPLY_HOURS", "").strip() or "high=1,medium=8,low=24"
)

# --- Django --------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "django_htmx",
    "template_partials",
    "dashboard",
]

MIDDLEWARE = [
    "dashboard.timing.server_timing",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Compresses what the middleware below made (CommonMiddleware sets Content-Length from the
    # body); static files are whitenoise's, compressed ahead, and never reach it.
    "dashboard.middleware.CompressPages",
    # Before the session's: a list page's cached answer is read with the session.
    "dashboard.middleware.read_with_session",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.SignInRequired",
    "dashboard.middleware.Outages",
    "dashboard.middleware.permissions_policy",
    "dashboard.middleware.index_sync",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.store",
                "dashboard.context_processors.looks",
            ],
        },
    },
]

# SQLite on one machine (nothing to set up); several machines share one PostgreSQL, named by
# DATABASE_URL (postgres://USER:PASS@HOST:PORT/DB): sessions, people, saved views, display links,
# the tag catalogue and preferences then follow a person from machine to machine.
DATABASE_URL = env_str("DATABASE_URL")
# A connection is kept (per thread) this long, and checked before each request reuses it, so a
# database that restarted is reconnected to without restarting the dashboard.
DATABASE_CONN_MAX_AGE = env_int("DATABASE_CONN_MAX_AGE", 600)
# An unreachable database must answer a page with a 503 well within 15 s, never hang it.
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 4)
if DATABASE_URL:
    try:
        _database = dj_database_url.parse(
            DATABASE_URL, conn_max_age=DATABASE_CONN_MAX_AGE, conn_health_checks=True
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from None
    if _database["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL (psycopg 3).")
    _database.setdefault("OPTIONS", {})
    _database["OPTIONS"].setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
    _database["OPTIONS"].setdefault("application_name", "tickets-dashboard")
else:
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": env_str("DJANGO_DB_PATH") or BASE_DIR / "db.sqlite3",
        # Every page reads the session and the user: a connection kept open (per thread) saves
        # opening the database file again on every request.
        "CONN_MAX_AGE": DATABASE_CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": True,
        # A transaction takes the write lock when it begins, so overlapping writers queue (up
        # to the busy timeout) rather than both reading, then one failing on "database is
        # locked"; a check-then-write such as a saved view's caps holds.
        "OPTIONS": {"transaction_mode": "IMMEDIATE"},
    }
DATABASES = {"default": _database}

# Django's, with the signed-in person read by one plain query (see dashboard/accounts/backends.py).
AUTHENTICATION_BACKENDS = ["dashboard.accounts.backends.PeopleBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Hardening -----------------------------------------------------------------------------
# Scripts and styles come only from our own static files: no inline code, no CDN, no eval
# (htmx is configured for that in base.html), and no page may be framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "manifest-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Display-link secrets live in URLs: they must never travel in a Referer to another site.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# One switch for HTTPS: the redirect, secure cookies and HSTS go together. On by default in
# production; DJANGO_HTTPS=0 serves plain HTTP on a private network (make run, local checks).
HTTPS = env_bool("DJANGO_HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# The load balancer checks health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Behind a TLS-terminating proxy: DJANGO_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO=https".
if env_str("DJANGO_PROXY_SSL_HEADER"):
    _header, _, _value = env_str("DJANGO_PROXY_SSL_HEADER").partition("=")
    if not _header or not _value:
        raise ImproperlyConfigured("DJANGO_PROXY_SSL_HEADER must look like HEADER=value.")
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip())
SESSION_COOKIE_HTTPONLY = True
# Sessions live in the database and are read from the shared cache: see dashboard/sessions.py.
SESSION_ENGINE = "dashboard.sessions"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

DEFAULT_EXCEPTION_REPORTER_FILTER = "dashboard.errors.TokenSafeExceptionReporterFilter"

# Sign-in attempts (see dashboard/accounts/throttle.py): at most this many per username and
# address, and per address, within the window; past the per-username count, from anywhere
# (a much higher one), attempts slow down (a doubling delay of at most SIGNIN_SLOWDOWN_CAP
# seconds) rather than being refused. Staff can lift that count for a username for
# SIGNIN_UNLOCK_SECONDS (the admin's users, "Unlock sign-in from new browsers").
SIGNIN_FAILURES_PER_USER = env_int("SIGNIN_FAILURES_PER_USER", 5)
SIGNIN_FAILURES_PER_ADDRESS = env_int("SIGNIN_FAILURES_PER_ADDRESS", 20)
SIGNIN_FAILURES_PER_USERNAME = env_int("SIGNIN_FAILURES_PER_USERNAME", 100)
SIGNIN_FAILURE_WINDOW = env_int("SIGNIN_FAILURE_WINDOW", 900)
SIGNIN_SLOWDOWN_CAP = env_int("SIGNIN_SLOWDOWN_CAP", 60)
SIGNIN_UNLOCK_SECONDS = env_int("SIGNIN_UNLOCK_SECONDS", 3600)


def env_networks(name):
    networks = []
    for item in env_list(name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an address or network") from None
    return networks


# The proxies (addresses or networks) whose X-Forwarded-For names the client. Empty: the
# header is ignored, since anyone can send it.
TRUSTED_PROXIES = env_networks("DJANGO_TRUSTED_PROXIES")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "ticket_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
# The zone of the store's day: the Excel export writes its times in it (a spreadsheet's times
# carry no zone, so its header names it). Unset, the zone times are shown in.
DASHBOARD_TIME_ZONE = env_str("DASHBOARD_TIME_ZONE") or TIME_ZONE
try:
    zoneinfo.ZoneInfo(DASHBOARD_TIME_ZONE)
except (ValueError, zoneinfo.ZoneInfoNotFoundError):
    raise ImproperlyConfigured(
        f"DASHBOARD_TIME_ZONE must be a time zone's name, such as Europe/Paris or UTC, not "
        f"{DASHBOARD_TIME_ZONE!r}"
    ) from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Everything goes to stderr, whatever DEBUG says: the dashboard's own lines, and every
# unhandled exception with its traceback (django.request, and anything else through the root
# logger). The formatter blanks the store's token wherever it might appear.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "dashboard.errors.TokenSafeFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "dashboard": {
            "handlers": ["console"],
            "level": env_str("DASHBOARD_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        # Django's own default sends these to a console handler that is silent without
        # DEBUG, and to mail nobody reads; here they reach stderr like the rest.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
