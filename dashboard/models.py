import hashlib
import logging
import secrets
import time
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models.functions import Lower
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from dashboard.budget import state
from dashboard.tickets.filter_fields import MAX_ID, numberish
from dashboard.tickets.tags import TagCatalogue
from dashboard.wall.board import WallOptions
from dashboard.wall.filters import parse_wall_filters

logger = logging.getLogger(__name__)


def hash_secret(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_wall_filters(value):
    parse_wall_filters(value, Tag.catalogue())


MAX_AGE_HOURS = 24 * 365


class DisplayLinkQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class DisplayLink(models.Model):
    """A secret URL that shows one wall board, and nothing else, without signing in.

    Only a hash of the secret is stored: the full URL is shown once, when the link is made.
    """

    name = models.CharField(max_length=100, unique=True)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    # One filter (a list query string, e.g. "status=new&status=open") per line; several
    # filters rotate like a playlist.
    filters = models.TextField(
        validators=[validate_wall_filters],
        help_text="One ticket-list filter per line, e.g. status=new&status=open. "
        "Several lines rotate.",
    )
    sort = models.CharField(
        max_length=10,
        choices=[
            ("waiting", "Longest waiting on the team first"),
            ("newest", "Newest first"),
            ("oldest", "Oldest created first"),
        ],
        default="waiting",
    )
    refresh_seconds = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(10), MaxValueValidator(40)],
        help_text="How often the board refreshes (10 to 40 seconds).",
    )
    rotate_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(10), MaxValueValidator(3600)],
        help_text="With several filters, how long each one stays on screen.",
    )
    warn_after_hours = models.PositiveIntegerField(
        default=4,
        validators=[MaxValueValidator(MAX_AGE_HOURS)],
        help_text="Tickets older than this are marked as ageing.",
    )
    alert_after_hours = models.PositiveIntegerField(
        default=24,
        validators=[MaxValueValidator(MAX_AGE_HOURS)],
        help_text="Tickets older than this are marked as overdue.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = DisplayLinkQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        if self.alert_after_hours <= self.warn_after_hours:
            raise ValidationError(
                {"alert_after_hours": "Overdue must come after ageing (a larger number)."}
            )

    def issue_secret(self):
        """A new random secret (192 bits) for this link; returns it, stores only its hash."""
        secret = secrets.token_urlsafe(24)
        self.secret_hash = hash_secret(secret)
        return secret

    def path_for(self, secret):
        return reverse("display_link", args=[secret])

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    def can_revoke(self, user):
        """Its creator may revoke a link, and staff may revoke any: a colleague cannot switch
        off the screen someone else set up."""
        if not getattr(user, "is_authenticated", False):
            return False
        return user.is_staff or (self.created_by_id is not None and self.created_by_id == user.pk)

    def revoke(self):
        if not self.revoked_at:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def wall_options(self):
        return WallOptions(
            title=self.name,
            sort=self.sort,
            refresh=self.refresh_seconds,
            warn_hours=self.warn_after_hours,
            alert_hours=self.alert_after_hours,
        )

    @property
    def filter_list(self):
        return [line.strip() for line in self.filters.splitlines() if line.strip()]


def pickable_tag_name(name):
    """A name the filter's tags box can pick: it splits what is typed at commas and reads
    numbers as tag ids, so a tag called "a,b" or "42" could never be chosen by its name."""
    if "," in name:
        raise ValidationError(
            "A tag's name cannot hold a comma (the tags filter separates tags with commas): "
            "filter by its id instead."
        )
    if numberish(name.strip()):
        raise ValidationError(
            "A tag's name cannot be a number (the tags filter reads numbers as tag ids): "
            "filter by its id instead."
        )


class Tag(models.Model):
    """A tag of the store's, by name and id. Tickets carry tag names but the Tickets List
    filters by tag id, and the API lists no tags: the team keeps the ones it filters by here."""

    name = models.CharField(max_length=100, unique=True, validators=[pickable_tag_name])
    store_id = models.PositiveIntegerField(
        "id in the store",
        unique=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_ID)],
        help_text="The tag's id in the store (its admin shows it).",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="tag_name_unique_whatever_the_case")
        ]

    def __str__(self):
        return self.name

    @classmethod
    def catalogue(cls):
        """Every tag as a `TagCatalogue`. Each process keeps the one it read and checks, at most
        once every CATALOGUE_CHECK seconds, that the catalogue's version in the shared state
        (Redis with several machines) is the one it read: a change made on any machine reaches
        every process within about that time, with no restart."""
        global _catalogue
        now = time.monotonic()
        if _catalogue is not None and now - _catalogue.checked < CATALOGUE_CHECK:
            return _catalogue.tags
        try:
            version = state.cache_get(CATALOGUE_VERSION_KEY)
        except state.SharedStateError:
            version = _UNKNOWN  # never equal to a kept one: read the database instead
        if _catalogue is None or version is _UNKNOWN or version != _catalogue.version:
            # The version is read before the tags: a change committed in between leaves a
            # newer version behind, so the next check reads the tags again.
            tags = TagCatalogue({tag.store_id: tag.name for tag in cls.objects.all()})
            _catalogue = _KeptCatalogue(version, now, tags)
        else:
            _catalogue = _catalogue._replace(checked=now)
        return _catalogue.tags


class _KeptCatalogue(NamedTuple):
    version: object
    checked: float
    tags: TagCatalogue


CATALOGUE_CHECK = 1.0
CATALOGUE_VERSION_KEY = state.schema_key("catalogue", 1, "version")
_UNKNOWN = object()
_catalogue = None


def forget_catalogue():
    """Read the catalogue afresh next time, in this process (tests start from an empty one)."""
    global _catalogue
    _catalogue = None


def catalogue_changed():
    """Tell every process and machine that the catalogue changed, once the change is committed
    (a process that read the tags before the commit would otherwise keep them under the new
    version). `bulk_create` and `update` send no signals: call this after them."""
    forget_catalogue()
    transaction.on_commit(_new_catalogue_version)


def _new_catalogue_version():
    try:
        state.cache_set(CATALOGUE_VERSION_KEY, secrets.token_hex(8), None)
    except state.SharedStateError:
        # Other processes keep their catalogue until the state is back and changes again;
        # this one reads the database next time.
        logger.error("the tag catalogue changed but its version could not be shared")


@receiver([post_save, post_delete], sender=Tag)
def _tag_changed(**kwargs):
    catalogue_changed()


class SavedViewQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The team's views and the person's own: nobody sees another's personal views."""
        return self.filter(models.Q(shared=True) | models.Q(owner_id=user.pk))


class SavedView(models.Model):
    """A named set of the list's filters, saved from the list: the team's, or one person's.

    `query` is the list's canonical query string (its bookmark, without a cursor), checked by
    the list's own filter form when the view is saved and whenever it is shown.
    """

    name = models.CharField(max_length=80)
    query = models.TextField(blank=True, help_text="The list's filters, as its address has them.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    shared = models.BooleanField("shared with the team", default=False)
    # Team views are ordered among themselves, and each person's own views among theirs.
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SavedViewQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        permissions = [("share_views", "Can share views with the team")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("saved_view", args=[self.pk])

    def can_change(self, user):
        """Its owner may change a view; staff may change the team's views too."""
        if not getattr(user, "is_authenticated", False):
            return False
        return self.owner_id == user.pk or (self.shared and user.is_staff)

    def siblings(self):
        """The views this one is ordered among: the team's, or its owner's own."""
        if self.shared:
            return SavedView.objects.filter(shared=True)
        return SavedView.objects.filter(shared=False, owner_id=self.owner_id)


class DefaultView(models.Model):
    """The view a person's `/` opens: a saved view they can see, or the built-in Mine. No row
    means the whole list."""

    MINE = "mine"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="default_view",
    )
    view = models.ForeignKey(SavedView, null=True, blank=True, on_delete=models.CASCADE)
    builtin = models.CharField(max_length=10, blank=True, choices=[(MINE, "Mine")])

    def __str__(self):
        return f"{self.user}: {self.view or self.get_builtin_display()}"


class Preference(models.Model):
    """How one person likes the dashboard to look, kept with their account so that it follows
    them from one browser to the next."""

    COMFORTABLE, COMPACT = "comfortable", "compact"
    DENSITIES = [(COMFORTABLE, "Comfortable"), (COMPACT, "Compact")]

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="preference",
    )
    # The open thread's share of the list's width beside it, in percent.
    THREAD_WIDTHS = [(36, "Narrow"), (42, "Standard"), (50, "Wide"), (58, "Wider")]
    THREAD_WIDTH = 42

    density = models.CharField(max_length=12, choices=DENSITIES, default=COMFORTABLE)
    thread_width = models.PositiveSmallIntegerField(choices=THREAD_WIDTHS, default=THREAD_WIDTH)

    def __str__(self):
        return f"{self.user}: {self.density}, thread {self.thread_width}%"

    @classmethod
    def looks_of(cls, user):
        """A person's `(density, thread_width)`; one small query, and none for someone not
        signed in."""
        default = (cls.COMFORTABLE, cls.THREAD_WIDTH)
        if not getattr(user, "is_authenticated", False):
            return default
        found = cls.objects.filter(user_id=user.pk).values_list("density", "thread_width")
        return found.first() or default


class IndexedTicket(models.Model):
    """One of the store's tickets as its latest webhook delivery described it: what filters and
    counts need, and no more of the customer's words than the subject (comment bodies stay in
    the store). `id` is the store's own."""

    id = models.PositiveBigIntegerField(primary_key=True)
    status = models.CharField(max_length=32, blank=True, db_index=True)
    priority = models.CharField(max_length=32, blank=True)
    channel = models.CharField(max_length=32, blank=True)
    requester = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    assignee = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    ticket_type = models.PositiveBigIntegerField(null=True, blank=True)
    tags = models.JSONField(default=list)  # names, as tickets carry them
    products = models.JSONField(default=list)  # ids
    order_number = models.CharField(max_length=255, blank=True)
    from_email = models.CharField(max_length=254, blank=True)
    subject = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()
    indexed_at = models.DateTimeField(auto_now=True)
    # Worked out from the comments when the row is written (dashboard.index.attention): since
    # when it waits on the team (null: it does not), and when an agent first replied publicly.
    waiting_since = models.DateTimeField(null=True, blank=True)
    first_reply_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["waiting_since", "id"], name="waiting_keyset")]

    def __str__(self):
        return f"#{self.id}"


class IndexedTag(models.Model):
    """A tag an indexed ticket carries, by name: one row each, so that "any of these tags"
    is a query every database answers (SQLite has no JSON containment)."""

    ticket = models.ForeignKey(IndexedTicket, on_delete=models.CASCADE, related_name="tag_rows")
    name = models.CharField(max_length=100, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "name"], name="one_row_per_tag")]


class IndexedProduct(models.Model):
    """A product an indexed ticket is about, by the store's product id."""

    ticket = models.ForeignKey(IndexedTicket, on_delete=models.CASCADE, related_name="product_rows")
    product = models.PositiveBigIntegerField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "product"], name="one_row_per_product")
        ]


class IndexSync(models.Model):
    """The walk of every ticket that fills the index and corrects its drift: one row, for the
    store the index describes (`store`, a hash naming the store, never its token). A walk
    under way keeps its place in `cursor`, so a restart resumes it."""

    store = models.CharField(max_length=64, blank=True)
    cursor = models.TextField(blank=True)  # where the walk under way goes on; "" when none is
    walk_started_at = models.DateTimeField(null=True, blank=True)
    walked = models.PositiveIntegerField(default=0)  # tickets the walk under way has read
    finished_at = models.DateTimeField(null=True, blank=True)  # the last complete walk's end
    finished_count = models.PositiveIntegerField(default=0)  # tickets it read

    def __str__(self):
        return f"index of {self.store or 'no store'}"


class IndexedComment(models.Model):
    """Who said something on an indexed ticket, and when: enough to tell whether it waits on
    the team, without the comment's words."""

    ticket = models.ForeignKey(IndexedTicket, on_delete=models.CASCADE, related_name="comments")
    comment_id = models.PositiveBigIntegerField()
    author = models.PositiveBigIntegerField(null=True, blank=True)
    from_email = models.CharField(max_length=254, blank=True)
    is_public = models.BooleanField(default=False)
    created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "comment_id"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "comment_id"], name="one_row_per_comment")
        ]


class WebhookDelivery(models.Model):
    """A delivery applied, by the store's `event_id`: a repeat of it is applied once."""

    event_id = models.CharField(max_length=64, primary_key=True)
    event_type = models.CharField(max_length=40)
    ticket_id = models.PositiveBigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)


class BulkChange(models.Model):
    """One change asked of many tickets at once from the list: applied one ticket at a time in
    the background, each ticket's outcome kept (`BulkItem`) for the page that shows progress."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    changes = models.JSONField(default=dict)  # the fields as sent: {"status": "open", ...}
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class BulkItem(models.Model):
    PENDING, APPLIED, UNCHANGED, FAILED = "pending", "applied", "unchanged", "failed"
    STATES = [
        (PENDING, "Waiting"),
        (APPLIED, "Changed"),
        (UNCHANGED, "Already so"),
        (FAILED, "Not changed"),
    ]

    bulk = models.ForeignKey(BulkChange, on_delete=models.CASCADE, related_name="items")
    ticket_id = models.PositiveBigIntegerField()
    state = models.CharField(max_length=10, choices=STATES, default=PENDING)
    message = models.TextField(blank=True)  # the store's words when it refused
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["bulk", "ticket_id"], name="one_item_per_ticket")
        ]


class TicketChange(models.Model):
    """The audit trail: who changed which ticket through the dashboard, when, and each field
    from what to what (`{"status": ["new", "open"]}`). A note's kind is kept, never its words:
    the store keeps those. Kept `AUDIT_DAYS` days."""

    NOTE_KINDS = [("", "No note"), ("internal", "Internal note"), ("public", "Public reply")]

    ticket_id = models.PositiveBigIntegerField(db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)  # still said once the user is deleted
    at = models.DateTimeField(default=timezone.now, db_index=True)
    fields = models.JSONField(default=dict)
    note = models.CharField(max_length=10, choices=NOTE_KINDS, blank=True)
    bulk = models.ForeignKey(
        BulkChange, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        permissions = [("triage_tickets", "Can change tickets in the store from the dashboard")]

    def __str__(self):
        return f"#{self.ticket_id} by {self.username} at {self.at:%Y-%m-%d %H:%M}"
