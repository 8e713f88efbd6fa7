import csv
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dashboard.models import Tag


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
            handle = sys.stdin if file == "-" else open(file, newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        with handle:
            rows = []
            for line, row in enumerate(csv.reader(handle), 1):
                if not row or not "".join(row).strip():
                    continue
                if len(row) != 2 or not row[0].strip().isascii() or not row[0].strip().isdigit():
                    raise CommandError(f"line {line}: expected `id,name`, got {row!r}")
                rows.append((line, (int(row[0]), row[1].strip())))
        return rows
