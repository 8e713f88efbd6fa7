import csv
import io
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dashboard.models import Tag
from dashboard.tickets.filter_fields import bounded_id


class Command(BaseCommand):
    help = (
        "Add the store's tags to the tag catalogue from CSV lines of `id,name` (a file, or - "
        "for standard input). A tag already in the catalogue under that id is renamed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a CSV file of id,name lines, or - for standard input")

    def handle(self, *args, file, **options):
        rows = self._read(file)
        added = renamed = 0
        with transaction.atomic():
            for line, (store_id, name) in rows:
                tag = Tag.objects.filter(store_id=store_id).first() or Tag(store_id=store_id)
                if tag.pk and tag.name == name:
                    continue
                was_new, tag.name = tag.pk is None, name
                try:
                    tag.full_clean()
                except ValidationError as exc:
                    raise CommandError(f"line {line}: {'; '.join(exc.messages)}") from None
                tag.save()
                added, renamed = added + was_new, renamed + (not was_new)
        self.stdout.write(f"Tag catalogue: {added} added, {renamed} renamed, {len(rows)} read.")

    def _read(self, file):
        try:
            if file == "-":
                # Bytes when standard input has them, so that their encoding is checked here;
                # a text stream (one put in its place) is read as the text it already is.
                stdin = sys.stdin
                data = (
                    stdin.buffer.read()
                    if hasattr(stdin, "buffer")
                    else stdin.read().encode(errors="surrogateescape")
                )
            else:
                with open(file, "rb") as handle:
                    data = handle.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            # "utf-8-sig": a spreadsheet's CSV starts with a byte order mark, which is no part
            # of the first tag's id.
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise CommandError(
                f"line {line}: the file is not UTF-8 text; save it as CSV UTF-8 and try again"
            ) from None
        rows = []
        for line, row in enumerate(csv.reader(io.StringIO(text, newline="")), 1):
            if not row or not "".join(row).strip():
                continue
            store_id = bounded_id(row[0]) if len(row) == 2 else None
            if store_id is None:
                raise CommandError(f"line {line}: expected `id,name`, got {row!r}")
            rows.append((line, (store_id, row[1].strip())))
        return rows
