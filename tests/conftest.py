import os
from datetime import date

import pytest
from django.core.cache import cache

from dashboard import budget, store

# Playwright's sync API runs an event loop in the test thread; the database calls beside it
# are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# A distinctive token, so a test can prove it never reaches a page or a log line.
TEST_TOKEN = "tok_TEST_3f9a1c7e5b2d48a6"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def sandbox():
    from tools.sandbox.server import SandboxServer

    server = SandboxServer(host="127.0.0.1", port=0, token=TEST_TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def flush_by_delete():
    """After every test that commits (a live server's, a transactional one) Django empties each
    table, on PostgreSQL with one TRUNCATE of them all, which makes every table and index anew:
    about 0.1 s a test. A test's tables hold a few rows, which DELETE removes in milliseconds;
    the foreign keys, which Django makes DEFERRABLE INITIALLY DEFERRED, are checked when the
    flush's transaction ends, every table empty by then. Sequences are not reset either way
    (pytest-django's default); a test that asks for that, or for a cascade, gets TRUNCATE."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or allow_cascade:
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        delete = f"{style.SQL_KEYWORD('DELETE')} {style.SQL_KEYWORD('FROM')}"
        return [f"{delete} {style.SQL_FIELD(self.quote_name(table))};" for table in tables]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(autouse=True)
def store_on_sandbox(request, settings, tmp_path):
    """Every test talks to the sandbox over real HTTP unless it asks for a fake store."""
    # Each test starts with an empty shared state: cache, request budget, sign-in counts.
    settings.PACING_DIR = tmp_path / "pacing"
    from dashboard.models import forget_catalogue  # the app registry is ready by now

    # Nothing left over from the test before: no cached answer, and no background job that
    # would call this test's store in its name.
    budget.worker.forget()
    budget.worker.drain()
    cache.clear()
    forget_catalogue()
    store.forget_local()
    if "fake_store" in request.fixturenames:
        yield None
        return
    server = request.getfixturevalue("sandbox")
    server.reset()
    settings.NEXT_API_BASE_URL = server.base_url
    settings.NEXT_API_TOKEN = TEST_TOKEN
    yield server
    server.reset()


@pytest.fixture
def fake_store(settings):
    """For `responses`-based tests: a store URL nobody answers except the test's mocks."""
    settings.NEXT_API_BASE_URL = "https://example.29next.store/api/admin/"
    settings.NEXT_API_TOKEN = TEST_TOKEN
    return settings.NEXT_API_BASE_URL


@pytest.fixture
def store_pace(settings):
    """The budget at the store's own pace, for a test that holds the dashboard to the
    sandbox's `rate_limit`: the test settings quicken it (see tests/settings.py)."""
    from dashboard import settings as production

    settings.STORE_RATE_WINDOW = production.STORE_RATE_WINDOW
    settings.STORE_RATE_MARGIN = production.STORE_RATE_MARGIN


@pytest.fixture
def sleeps(monkeypatch):
    """The waits between retries, recorded instead of slept."""
    waited = []
    monkeypatch.setattr(store.client, "sleep", waited.append)
    return waited


@pytest.fixture
def tag_catalogue(db, sandbox):
    """The team's tag catalogue, as an admin would fill it in from the store's tags."""
    from dashboard.models import Tag, catalogue_changed

    Tag.objects.bulk_create(Tag(name=name, store_id=i) for i, name in sandbox.data.tags.items())
    catalogue_changed()  # bulk_create sends no signals
    return {name: i for i, name in sandbox.data.tags.items()}


@pytest.fixture
def lead(django_user_model):
    """A support lead: signs in, and may share views with the team."""
    user = django_user_model.objects.create_user("lead", password="a-long-test-password")
    grant(user, "share_views")
    return user


def grant(user, codename):
    """Give `user` one of the dashboard's permissions (made again after every flush)."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="dashboard", codename=codename)
    )


@pytest.fixture
def signed_in(client, lead):
    client.force_login(lead)
    return client


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": CHROMIUM_ARGS,
    }


def first_page(**filters):
    return store.list_tickets(store.TicketQuery(**filters))


def every_filter(cursor=""):
    """A Tickets List query that uses every documented filter (and a cursor)."""
    return store.TicketQuery(
        filter_text="anna",
        id=7,
        subject="order",
        status=("new", "open"),
        requester=31,
        assignee=4,
        order_number="100482",
        product=(12, 40),
        tags=(3, 8),
        ticket_type=2,
        priority="high",
        channel="email",
        created_from=date(2026, 11, 1),
        created_to=date(2026, 11, 30),
        cursor=cursor,
    )
