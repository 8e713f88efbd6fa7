"""`python -m tools.bench` (`make bench`): measure the dashboard under gunicorn against the
sandbox store. See `tools/bench/run.py` for what is measured and why."""

import os
import signal
import sys


def main():
    # The benchmark reads the dashboard's settings (its base directory) and builds queries with
    # its service module; the gunicorn it measures gets an environment of its own.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from tools.bench import run

    # SIGTERM unwinds like Ctrl-C, so the cleanup stops every process we started.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = run.run(_write)
    except KeyboardInterrupt:
        # By now every process the run started has been stopped on the way out.
        sys.exit("Interrupted; everything the benchmark started is stopped.")
    _write(f"\nMarkdown: {report.relative_to(run.BASE_DIR)}")


def _write(text):
    print(text, flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
