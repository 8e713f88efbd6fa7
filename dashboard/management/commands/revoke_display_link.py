from django.core.management.base import BaseCommand, CommandError

from dashboard.models import DisplayLink


class Command(BaseCommand):
    help = "Revoke a display link: its screen stops at its next refresh."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, **options):
        try:
            link = DisplayLink.objects.get(name=options["name"])
        except DisplayLink.DoesNotExist:
            raise CommandError(f"No display link named {options['name']!r}.") from None
        link.revoke()
        self.stdout.write(f"Display link {link.name!r} revoked.")
