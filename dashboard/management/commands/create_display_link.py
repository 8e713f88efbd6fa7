from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from dashboard.models import DisplayLink, SavedView, Tag
from dashboard.wall.filters import canonical_filters


class Command(BaseCommand):
    help = (
        "Create a display link for an unattended wall screen from saved views (--view) and/or "
        "typed filters (--filters), which take turns in the order given; prints its URL last."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--filters",
            action="append",
            dest="shown",
            type=lambda text: ("filters", text),
            help='A ticket-list filter, e.g. "status=new&status=open"; repeat to rotate.',
        )
        parser.add_argument(
            "--view",
            action="append",
            dest="shown",
            type=lambda text: ("view", text),
            help="A saved view's name (a team view's first); repeat to rotate.",
        )
        parser.add_argument("--sort", choices=["waiting", "newest", "oldest"], default="waiting")
        parser.add_argument("--refresh", type=int, default=30, help="seconds, 10 to 40")
        parser.add_argument("--rotate", type=int, default=60, help="seconds per filter")
        parser.add_argument(
            "--base-url",
            default=settings.DASHBOARD_BASE_URL,
            help="where screens reach the dashboard (default: DASHBOARD_BASE_URL)",
        )

    def handle(self, *args, **options):
        if not options["shown"]:
            raise CommandError("Give at least one --view or --filters.")
        link = DisplayLink(
            name=options["name"],
            sort=options["sort"],
            refresh_seconds=options["refresh"],
            rotate_seconds=options["rotate"],
        )
        lines = [_view(text).query if kind == "view" else text for kind, text in options["shown"]]
        try:
            link.filters = canonical_filters("\n".join(lines), Tag.catalogue())
            secret = link.issue_secret()
            link.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        link.save()
        self.stdout.write(f"Display link {link.name!r} created. Its URL is shown only now:")
        self.stdout.write(options["base_url"].rstrip("/") + link.path_for(secret))


def _view(name):
    """The saved view called `name` (whatever the case): the team's if there is one, else
    somebody's own, as long as only one person has a view of that name."""
    named = SavedView.objects.filter(name__iexact=name.strip()).select_related("owner")
    found = [view for view in named if view.shared] or list(named)
    if not found:
        raise CommandError(f"No saved view is called {name!r}.")
    if len(found) > 1:
        owners = ", ".join(sorted(view.owner.get_username() for view in found))
        raise CommandError(f"Several people have a view called {name!r} ({owners}): share one.")
    if not found[0].query:
        raise CommandError(f"The view {name!r} has no filters: a display link needs one.")
    return found[0]
