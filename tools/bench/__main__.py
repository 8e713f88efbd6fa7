"""`python -m tools.bench` (`make bench`): measure the dashboard under gunicorn against the
sandbox store. See `tools/bench/run.py` for what is measured and why."""

import argparse
import os
import signal
import sys


def main(argv=None):
    args = _parse(argv)
    # The benchmark reads the dashboard's settings (its base directory) and builds queries with
    # its service module; the gunicorn it measures gets an environment of its own.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from tools.bench import run

    try:
        phases = run.selected(args.only)
    except ValueError as exc:
        sys.exit(f"{exc}; the phases are: {', '.join(run.PHASES)}")
    configs = [run.CONFIGS[i - 1] for i in args.configs] if args.configs else run.CONFIGS
    # SIGTERM unwinds like Ctrl-C, so the cleanup stops every process we started.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = run.run(_write, phases, configs)
    except KeyboardInterrupt:
        # By now every process the run started has been stopped on the way out.
        sys.exit("Interrupted; everything the benchmark started is stopped.")
    _write(f"\nMarkdown: {report.relative_to(run.BASE_DIR)}")


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description=(
            "Measure the dashboard under gunicorn against the sandbox store. With no options, "
            "every phase in every configuration, written into docs/benchmarks.md; with "
            "--only or --configs, that part alone, written into var/bench/partial.md."
        ),
    )
    parser.add_argument(
        "--only",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        metavar="PHASE,...",
        help=(
            "run only these phases (and the first views the later ones are held against): "
            "pacing, names, first, load_more, concurrent, faults, walls, export, exports, views, "
            "backlog, index, bulk, spreadsheet"
        ),
    )
    parser.add_argument(
        "--configs",
        type=lambda text: [int(n) for n in text.split(",") if n.strip()],
        metavar="N,...",
        help="run only these configurations: 1 (1 worker), 2 (2 workers), 3 (2 workers + Redis)",
    )
    args = parser.parse_args(argv)
    if args.configs and not all(1 <= n <= 3 for n in args.configs):
        parser.error("--configs takes 1, 2 or 3")
    return args


def _write(text):
    print(text, flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
