from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from dashboard.index import receiver
from dashboard.models import IndexedComment, IndexedTicket, IndexSync, WebhookDelivery


class Command(BaseCommand):
    help = (
        "Empty the ticket index the store's webhooks keep (every ticket, comment record and "
        "delivery id, and where the walk that fills it stands), or with --deliveries only "
        "forget delivery ids older than the days given. The index fills again from the next "
        "walk and deliveries."
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
            _, deleted = IndexedTicket.objects.all().delete()  # its tags and products with it
            tickets = deleted.get(IndexedTicket._meta.label, 0)
            ids, _ = WebhookDelivery.objects.all().delete()
            IndexSync.objects.all().delete()  # the next walk fills the index from the start
        self.stdout.write(
            f"Ticket index emptied: {tickets} tickets, {comments} comment records, "
            f"{ids} delivery ids."
        )
