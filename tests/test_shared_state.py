"""The dashboard's own shared state failing under it: the state directory deleted or unusable,
Redis stopped. Every page answers a clear 503 (never a 500) while the state is gone, and the
first request after it returns works again, with nothing restarted."""

import shutil

import pytest

from tests.html import alerts, ids, page
from tests.redis_server import redis_server  # noqa: F401
from tests.test_wall import make_link

MESSAGE = "shared state is unavailable"


@pytest.fixture
def state_dir(settings, tmp_path):
    directory = tmp_path / "state"
    settings.PACING_DIR = directory / "pacing"
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "dashboard.budget.filecache.FileCache",
            "LOCATION": directory / "cache",
        },
    }
    return directory


@pytest.fixture
def screens(signed_in, db):
    """Every kind of page, each asked with a fresh filter so that it has to use the state."""
    _, display_path = make_link()
    rounds = iter(range(1, 1000))

    def visit():
        n = next(rounds)
        return {
            "list": signed_in.get(f"/?created_from=2020-01-{n:02d}"),
            "thread": signed_in.get(f"/tickets/{1200 + n}/"),
            "wall": signed_in.get(f"/wall/?created_from=2020-02-{n:02d}"),
            "display link": signed_in.get(display_path),
        }

    return visit


def sign_in(client, address="10.0.0.1"):
    return client.post(
        "/accounts/login/",
        {"username": "lead", "password": "a-long-test-password"},
        REMOTE_ADDR=address,
    )


def assert_working(answers):
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(
        answers, 200
    )
    assert ids(page(answers["list"]))


def assert_clear_503(answers):
    for name, answer in answers.items():
        assert answer.status_code == 503, name
        assert any(MESSAGE in alert for alert in alerts(page(answer))), name
        assert answer["Retry-After"], name


def block(directory):
    """Put a file where the directory should be: nothing can be made there, not even by root
    (for whom a read-only directory is no obstacle)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.write_text("in the way")


def test_a_deleted_state_directory_heals_without_a_restart(screens, state_dir):
    assert_working(screens())
    shutil.rmtree(state_dir)
    assert_working(screens())
    assert (state_dir / "pacing").is_dir()


def test_an_unusable_state_directory_is_a_clear_503_then_recovers(screens, state_dir, client, lead):
    assert_working(screens())
    block(state_dir)
    assert_clear_503(screens())
    assert_clear_503({"sign-in": sign_in(client)})
    state_dir.unlink()
    assert_working(screens())
    assert sign_in(client).status_code == 302


def test_the_cache_directory_alone_failing_is_the_same_clear_503(screens, state_dir):
    assert_working(screens())
    block(state_dir / "cache")
    assert_clear_503(screens())
    (state_dir / "cache").unlink()
    assert_working(screens())


def test_a_fragment_carries_the_message_too(signed_in, state_dir):
    block(state_dir)
    response = signed_in.get("/wall/?priority=high", HTTP_HX_REQUEST="true")
    assert response.status_code == 503
    doc = page(response)
    assert doc.select_one("html") is None  # a fragment for the screen, not a whole page
    assert any(MESSAGE in alert for alert in alerts(doc))


@pytest.fixture
def on_redis(settings, redis_server):  # noqa: F811
    settings.REDIS_URL = redis_server.url
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url,
        },
    }
    return redis_server


def test_redis_stopping_mid_run_is_a_clear_503_then_recovers(screens, on_redis, client, lead):
    assert_working(screens())
    on_redis.stop()
    assert_clear_503(screens())
    assert_clear_503({"sign-in": sign_in(client)})
    on_redis.start()
    assert_working(screens())
    assert sign_in(client).status_code == 302


def test_store_threads_keep_their_redis_connections_from_call_to_call(on_redis):
    """Each call a view starts in a store thread runs in a copy of the request's context; the
    shared state is still read there on the thread's own connection, not on a new one."""
    import gc

    import redis

    from dashboard.budget import state
    from dashboard.views.common import started

    admin = redis.Redis.from_url(on_redis.url)
    state.cache_get("warm")  # this thread's own connection
    gc.disable()  # a connection left behind stays counted
    try:
        before = len(admin.client_list())
        for _ in range(40):
            started(state.cache_get, "anything").result()
        opened = len(admin.client_list()) - before
    finally:
        gc.enable()
    assert opened <= 16  # at most one for each of the store pool's threads
