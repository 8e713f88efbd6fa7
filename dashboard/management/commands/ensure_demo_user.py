from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the demo/demo user for the sandbox store (never when a real token is set): "
        "staff, so that the admin (tag catalogue, display links) is there to try."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--email", default="", help="the demo user's email: an agent's, for the Mine filter"
        )

    def handle(self, *args, email, **options):
        if not settings.SANDBOX:
            self.stdout.write("A store token is configured: no demo user is created.")
            return
        User = get_user_model()
        user, created = User.objects.get_or_create(username="demo")
        if created or not user.check_password("demo"):
            user.set_password("demo")
        user.email = email or user.email
        user.is_staff = user.is_superuser = True
        user.save()
        self.stdout.write("Demo user ready: sign in as demo / demo.")
