from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from dashboard.index import receiver
from dashboard.models import IndexedComment, IndexedTicket, WebhookDelivery


class Command(BaseCommand):
    help = (
        "Empty the ticket index the store's webhooks keep (every ticket, comment record and "
        "delivery id), or with --deliveries only forget delivery ids older than the days given. "
        "The index fills again from the next deliveries."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--deliveries",
            type=int,
            metavar="DAYS",
            help="only forget the ids of deliveries received more than DAYS days ago",
        )

    def handle(self, *args, deliveries=None, **options):
        if deliveries is not None:
            before = timezone.now() - timezone.timedelta(days=max(0, deliveries))
            gone = receiver.forget_deliveries(before)
            self.stdout.write(f"Forgot {gone} delivery ids older than {deliveries} days.")
            return
        with transaction.atomic():
            comments, _ = IndexedComment.objects.all().delete()
            tickets, _ = IndexedTicket.objects.all().delete()
            ids, _ = WebhookDelivery.objects.all().delete()
        self.stdout.write(
            f"Ticket index emptied: {tickets} tickets, {comments} comment records, "
            f"{ids} delivery ids."
        )
