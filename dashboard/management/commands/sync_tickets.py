import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from dashboard.index import sync

BAR = 24  # the progress bar's width, in characters
PLAIN_EVERY = 10  # pages between two lines of progress when the output is not a terminal


class Command(BaseCommand):
    help = (
        "Walk every ticket of the store into the ticket index now, in the foreground, within "
        "the token's request budget that running dashboards share (people first). A walk left "
        "unfinished (Ctrl-C, a restart) goes on from where it stopped; --restart starts it "
        "again from the top. Tickets the store no longer has are removed at the end."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--restart",
            action="store_true",
            help="start from the top, not where an unfinished walk stopped",
        )

    def handle(self, *args, restart=False, **options):
        self.tty = self.stdout.isatty()
        self.pages = 0
        self.shown = False  # a progress bar is on the current line
        self.started = time.monotonic()
        before = self._guarded(sync.current)
        if before.walking and not restart:
            self.stdout.write(f"Going on with the walk under way, at {before.walked} tickets.")
        else:
            self.stdout.write("Walking every ticket of the store, from the top.")
        try:
            done = sync.run(restart=restart, on_page=self._page, on_wait=self._wait)
        except KeyboardInterrupt:
            self._end_line()
            walked = self._walked()
            raise CommandError(
                f"Stopped at {walked} tickets. Run sync_tickets again to go on from there "
                "(--restart starts from the top).",
                returncode=130,
            ) from None
        except sync.FAULTS as exc:
            self._end_line()
            walked = self._walked()
            raise CommandError(
                f"The walk stopped at {walked} tickets: {sync.describe(exc)}. What was read is "
                "kept: run sync_tickets again to go on from there."
            ) from None
        if self.shown and done.ended:
            self.stdout.write("\r" + self._bar(done.walked, 100), ending="")
        self._end_line()
        seconds = time.monotonic() - self.started
        if done.ended:
            gone = f"; {done.removed} removed, gone from the store" if done.removed else ""
            took = f"{_pages(self.pages)} in {seconds:.1f} s"
            self.stdout.write(f"Done: {done.walked} tickets indexed, {took}{gone}.")
        else:
            self.stdout.write(f"Done: another process finished the walk ({done.walked} tickets).")

    def _page(self, walked, expected):
        self.pages += 1
        self.walked = walked
        percent = None if not expected else min(99, walked * 100 // expected)
        if self.tty:
            self.stdout.write("\r" + self._bar(walked, percent), ending="")
            self.stdout.flush()
            self.shown = True
        elif self.pages % PLAIN_EVERY == 0:
            share = f" (about {percent}%)" if percent is not None else ""
            self.stdout.write(f"{walked} tickets read, {_pages(self.pages)}{share}")

    def _bar(self, walked, percent):
        counts = f"{walked} tickets · {_pages(self.pages)}"
        if percent is None:
            return counts
        filled = BAR * percent // 100
        return f"[{'#' * filled}{'.' * (BAR - filled)}] {percent:3d}%  {counts}"

    def _wait(self, why):
        self._end_line()
        self.stdout.write(f"Waiting: {why}.")

    def _end_line(self):
        if self.shown:
            self.stdout.write("")
            self.shown = False

    def _walked(self):
        try:
            return sync.current().walked
        except DatabaseError:
            return getattr(self, "walked", 0)

    def _guarded(self, read):
        try:
            return read()
        except DatabaseError as exc:
            raise CommandError(f"The walk did not start: {sync.describe(exc)}.") from None


def _pages(count):
    return f"{count} page{'' if count == 1 else 's'}"
