from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from dashboard.filters import canonical_filters
from dashboard.models import DisplayLink, Tag


class Command(BaseCommand):
    help = "Create a display link for an unattended wall screen; prints its URL last."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--filters",
            action="append",
            required=True,
            help='A ticket-list filter, e.g. "status=new&status=open"; repeat to rotate.',
        )
        parser.add_argument("--sort", choices=["newest", "oldest"], default="newest")
        parser.add_argument("--refresh", type=int, default=30, help="seconds, 10 to 40")
        parser.add_argument("--rotate", type=int, default=60, help="seconds per filter")
        parser.add_argument(
            "--base-url",
            default=settings.DASHBOARD_BASE_URL,
            help="where screens reach the dashboard (default: DASHBOARD_BASE_URL)",
        )

    def handle(self, *args, **options):
        link = DisplayLink(
            name=options["name"],
            sort=options["sort"],
            refresh_seconds=options["refresh"],
            rotate_seconds=options["rotate"],
        )
        try:
            link.filters = canonical_filters("\n".join(options["filters"]), Tag.catalogue())
            secret = link.issue_secret()
            link.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        link.save()
        self.stdout.write(f"Display link {link.name!r} created. Its URL is shown only now:")
        self.stdout.write(options["base_url"].rstrip("/") + link.path_for(secret))
