import hashlib
import secrets
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from dashboard.tickets.filter_fields import MAX_ID
from dashboard.tickets.tags import TagCatalogue
from dashboard.wall.board import WallOptions
from dashboard.wall.filters import parse_wall_filters


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
        choices=[("newest", "Newest first"), ("oldest", "Oldest waiting first")],
        default="newest",
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


class Tag(models.Model):
    """A tag of the store's, by name and id. Tickets carry tag names but the Tickets List
    filters by tag id, and the API lists no tags: the team keeps the ones it filters by here."""

    name = models.CharField(max_length=100, unique=True)
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
        """Every tag as a `TagCatalogue`, read once a minute per process (or at any change)."""
        global _catalogue
        now = time.monotonic()
        if _catalogue is None or _catalogue[0] < now:
            tags = TagCatalogue({tag.store_id: tag.name for tag in cls.objects.all()})
            _catalogue = (now + CATALOGUE_TTL, tags)
        return _catalogue[1]


CATALOGUE_TTL = 60.0
_catalogue = None


@receiver([post_save, post_delete], sender=Tag)
def forget_catalogue(**kwargs):
    """Read the catalogue afresh next time (a tag changed; tests start from an empty one)."""
    global _catalogue
    _catalogue = None


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
    density = models.CharField(max_length=12, choices=DENSITIES, default=COMFORTABLE)

    def __str__(self):
        return f"{self.user}: {self.density}"

    @classmethod
    def density_of(cls, user):
        """A person's density; one small query, and none for someone not signed in."""
        if not getattr(user, "is_authenticated", False):
            return cls.COMFORTABLE
        found = cls.objects.filter(user_id=user.pk).values_list("density", flat=True).first()
        return found or cls.COMFORTABLE
