"""A throwaway Redis for the tests: Debian's `redis-server` on a free local port.

Use it with `from tests.redis_server import redis_url  # noqa: F401`.
"""

import pytest

from tools.processes import RedisServer


def started_redis(directory):
    """A running RedisServer, or a failed test that says why: never a skip."""
    try:
        return RedisServer(directory).start()
    except FileNotFoundError:
        problem = (
            "redis-server is not installed: the Redis tests need Debian's redis-server "
            "(apt-get install redis-server)"
        )
    except RuntimeError as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    with started_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of the test's own, to stop and start."""
    with started_redis(tmp_path) as server:
        yield server
