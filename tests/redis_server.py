"""A throwaway Redis for the tests: Debian's `redis-server` on a free local port.

Use it with `from tests.redis_server import redis_url  # noqa: F401`.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REDIS_SERVER = "/usr/bin/redis-server"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid):
    """True while `pid` runs; a zombie (when we happen to be its reaper) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _wait_for_ping(port, deadline):
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    try:
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return True
            except redis.RedisError:
                time.sleep(0.05)
        return False
    finally:
        client.close()


class RedisServer:
    """Debian's redis-server on a free loopback port, which a test can stop and start again on
    the same port (to see the dashboard lose Redis and get it back)."""

    def __init__(self, directory):
        server = REDIS_SERVER if os.access(REDIS_SERVER, os.X_OK) else shutil.which("redis-server")
        if not server:
            pytest.fail(
                "redis-server is not installed: the Redis tests need Debian's redis-server "
                "(apt-get install redis-server)",
                pytrace=False,
            )
        self.server = server
        self.directory = directory
        self.pidfile = directory / "redis.pid"
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        command = [
            self.server,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "yes",
            "--pidfile", str(self.pidfile),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
        ]  # fmt: skip
        started = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if started.returncode != 0:
            pytest.fail(
                f"redis-server did not start: {started.stdout}{started.stderr}", pytrace=False
            )
        if not _wait_for_ping(self.port, time.monotonic() + 15):
            pytest.fail(f"redis-server on port {self.port} does not answer PING", pytrace=False)
        return self

    def stop(self):
        _stop(self.pidfile)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of the test's own, to stop and start."""
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def _stop(pidfile):
    """Kill the server by the pid in its pidfile and wait until it has gone."""
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
