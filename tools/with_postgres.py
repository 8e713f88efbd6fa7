"""Run a command with `DATABASE_URL` naming a throwaway PostgreSQL cluster, started for it and
removed after it, whatever the command's outcome: `python -m tools.with_postgres pytest -n 2`.

`make test` runs the suite this way, so every test that touches the database runs on
PostgreSQL; `DASHBOARD_TEST_DB_VENDOR` lets the test settings refuse to run on anything else.
"""

import os
import subprocess
import sys

from tools.processes import PostgresServer


def main(command):
    if not command:
        sys.exit("usage: python -m tools.with_postgres COMMAND [ARG...]")
    server = None
    try:
        server = PostgresServer()
        server.start()
        server.create_database("dashboard")
        env = {
            **os.environ,
            "DATABASE_URL": server.url("dashboard"),
            "DASHBOARD_TEST_DB_VENDOR": "postgresql",
        }
        print(f"PostgreSQL for this run: 127.0.0.1:{server.port}", flush=True)
        return subprocess.call(command, env=env)
    finally:
        if server is not None:
            server.remove()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
