"""The processes that the tests and the benchmark run beside the dashboard, started and stopped
in one way: the sandbox store, gunicorn serving `dashboard.wsgi`, a throwaway `redis-server`, a
throwaway PostgreSQL cluster, and `manage.py` commands.

Everything listens on 127.0.0.1 on a free port. Every wait is bounded, and whatever does not
come up in time is stopped before the error is raised, so nothing is left running behind a
failure or a Ctrl-C. No Django here: a child's settings are the ones it is given, since
`child_env` leaves out the caller's.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = "/usr/bin/redis-server"

# Settings a child must not inherit from whoever starts it: it gets exactly the ones it is given.
INHERITED_PREFIXES = (
    "DJANGO_",
    "NEXT_",
    "STORE_",
    "DASHBOARD_",
    "REDIS_",
    "SANDBOX_",
    "DATABASE_",
    "INDEX_",
)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout, what, interval=0.05):
    """Poll `check()` until it is truthy; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Refused connections are what "not yet" looks like (requests' errors are OSErrors too).
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(interval)
    raise RuntimeError(f"{what} not ready within {timeout:g} s")


def child_env(**overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES)}
    env.update({k: str(v) for k, v in overrides.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(env, *args, timeout=180):
    """Run a manage.py command with the settings in `env`; return what it printed."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def log_tail(path, lines=20):
    if not path:
        return ""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Stoppable:
    """`with` stops it, however the block ends."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


class Process(Stoppable):
    """A child in its own session, so Ctrl-C reaches only the parent, which stops it in order.

    Its output goes to `log_path` (appended), or nowhere.
    """

    def __init__(self, name, command, env=None, log_path=None):
        self.name = name
        self.log_path = log_path
        with open(log_path or os.devnull, "ab") as log:
            self.popen = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self):
        if self.popen.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.popen.returncode}:\n{log_tail(self.log_path)}"
            )
        return True

    def wait_ready(self, ready, timeout):
        """Wait until `ready()`; a child that dies or never gets there is stopped, not left."""
        try:
            wait_until(lambda: self.check_alive() and ready(), timeout, self.name)
        except BaseException:
            self.stop()
            raise

    def stop(self, grace=15):
        """SIGTERM, then SIGKILL to its whole process group (gunicorn's workers included).
        Returns the exit status."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        return self.popen.returncode


class SandboxProcess(Stoppable):
    """`python -m tools.sandbox` with `options` from its command line, and its control API."""

    def __init__(self, *options, token="sandbox-token", port=None, log_path=None):
        self.token = token
        self.port = port or free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.root}/api/admin/"
        self._session = requests.Session()
        self.process = Process(
            "sandbox store",
            [sys.executable, "-m", "tools.sandbox", "--port", str(self.port),
             "--token", token, *options],
            child_env(),
            log_path,
        )  # fmt: skip
        self.process.wait_ready(self._answers, 20)

    def _answers(self):
        return self._session.get(f"{self.root}/__sandbox__/", timeout=2).ok

    def _control(self, method, path, **kwargs):
        response = self._session.request(
            method, f"{self.root}/__sandbox__/{path}", timeout=5, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def configure(self, **settings):
        """Change settings while it runs (fault, latency_ms, rate_limit, page_size, scopes)."""
        return self._control("POST", "control", json=settings)

    def set_fault(self, mode):
        return self.configure(fault=mode)

    def reset(self):
        """No fault, the start-up latency and limit, an empty rate window and zero stats."""
        return self._control("POST", "reset")

    def stats(self):
        return self._control("GET", "stats")

    def count(self, qs):
        # The control API's count is not an API call: it neither counts nor spends the budget.
        return self._control("GET", f"count?{qs}")["count"]

    def stop(self):
        self._session.close()
        return self.process.stop()


class Gunicorn(Stoppable):
    """gunicorn serving `dashboard.wsgi` with the settings in `env`, ready once `/healthz`
    answers. `options` go to gunicorn's command line (workers, threads, worker class)."""

    def __init__(self, env, *options, log_path=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(
            "gunicorn",
            [sys.executable, "-m", "gunicorn", "dashboard.wsgi",
             "-b", f"127.0.0.1:{self.port}", *options],
            env,
            log_path,
        )  # fmt: skip
        self.process.wait_ready(self._healthy, 30)

    def _healthy(self):
        return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200

    def stop(self):
        return self.process.stop()


class RedisServer(Stoppable):
    """Debian's redis-server on a free loopback port, which can be stopped and started again on
    the same port (to see the dashboard lose Redis and get it back).

    It daemonizes, so it is nobody's child: it is found and stopped by the pid in its pidfile.
    """

    def __init__(self, directory):
        self.server = redis_server_program()
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pidfile = self.directory / "redis.pid"
        self.port = free_port()
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
            raise RuntimeError(f"redis-server did not start: {started.stdout}{started.stderr}")
        try:
            wait_until(self._ping, 15, f"redis-server on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _ping(self):
        import redis  # only the Redis configurations need the client

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            return client.ping()
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self):
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if _gone(pid, within=10):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _gone(pid, within=10):
            raise RuntimeError(f"redis-server (pid {pid}) outlived SIGKILL")


class PostgresServer(Stoppable):
    """A throwaway PostgreSQL cluster (Debian's `postgresql`) in a new temporary directory, on a
    free loopback port, trusting local connections; it can be stopped and started again on the
    same port (to see the dashboard lose its database and get it back). `remove()` stops it and
    deletes it.

    `initdb` refuses to run as root, so as root the cluster belongs to the `postgres` user that
    Debian's package makes (its directory sits directly in the system's temporary directory,
    which that user can reach). Durability is off (fsync, full-page writes): nothing here
    outlives the run.
    """

    def __init__(self):
        self.bindir = postgres_bindir()
        self.directory = Path(tempfile.mkdtemp(prefix="dashboard-postgres-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.log_path = self.directory / "postgres.log"
        self._as_owner = []
        if os.geteuid() == 0:
            self._as_owner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.directory, "postgres")
            self.directory.chmod(0o700)
        try:
            self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync",
                      "-E", "UTF8", "--locale", "C")  # fmt: skip
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise

    def url(self, database="dashboard"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program, *args, timeout=60):
        command = [*self._as_owner, str(Path(self.bindir) / program), *map(str, args)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self):
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
            "-c max_connections=300"
        )
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", self.log_path, "-w", "start")
        return self

    def create_database(self, name):
        self.sql(f'CREATE DATABASE "{name}"')

    def sql(self, statement, database="postgres"):
        return self._run(
            "psql", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", "-d", database,
            "-v", "ON_ERROR_STOP=1", "-Atc", statement,
        )  # fmt: skip

    def running(self):
        return (self.data / "postmaster.pid").exists()

    def stop(self):
        if self.running():
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def remove(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def postgres_bindir():
    """The newest of Debian's PostgreSQL servers (initdb, pg_ctl and psql live beside it)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return str(Path(found[-1]).parent)
    initdb = shutil.which("initdb")
    if not initdb:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
    return str(Path(initdb).parent)


def redis_server_program():
    """Debian's redis-server, or the first on PATH."""
    if os.access(REDIS_SERVER, os.X_OK):
        return REDIS_SERVER
    found = shutil.which("redis-server")
    if not found:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    return found


def _gone(pid, within):
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


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
