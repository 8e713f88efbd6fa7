"""`manage.py bench` (or `make bench`): measure the dashboard under gunicorn against the
sandbox store. See `dashboard/benchmarks.py` for what is measured and why."""

import signal

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Benchmark the dashboard under gunicorn (1 worker, 2 workers, 2 workers + Redis) "
        "against the sandbox store; writes var/bench/latest.md."
    )

    def handle(self, *args, **options):
        # Imported here so that `manage.py help` and `check` never load the benchmark.
        from dashboard import benchmarks

        # SIGTERM unwinds like Ctrl-C, so the cleanup stops every process we started.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            report = benchmarks.run(self._write)
        except KeyboardInterrupt:
            # By now every process the run started has been stopped on the way out.
            raise CommandError(
                "Interrupted; everything the benchmark started is stopped."
            ) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        self._write(f"\nMarkdown: {report.relative_to(benchmarks.BASE_DIR)}")

    def _write(self, text):
        self.stdout.write(text)
        self.stdout.flush()


def _interrupt(signum, frame):
    raise KeyboardInterrupt
