from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils import timezone

from dashboard.accounts import throttle
from dashboard.models import DisplayLink, SavedView, Tag, TicketChange
from dashboard.wall.filters import canonical_filters


@admin.register(DisplayLink)
class DisplayLinkAdmin(admin.ModelAdmin):
    list_display = ["name", "filters", "refresh_seconds", "last_seen_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "filters"]
    readonly_fields = ["created_at", "created_by", "last_seen_at"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        obj.filters = canonical_filters(obj.filters, Tag.catalogue())
        if not change:
            obj.created_by = request.user
            secret = obj.issue_secret()
        super().save_model(request, obj, form, change)
        if not change:
            url = request.build_absolute_uri(obj.path_for(secret))
            messages.warning(request, f"Display link for {obj.name} (shown only this once): {url}")

    @admin.action(description="Revoke the selected display links")
    def revoke(self, request, queryset):
        count = queryset.active().update(revoked_at=timezone.now())
        messages.success(request, f"Revoked {count} display link(s).")


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "store_id"]
    search_fields = ["name"]


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    """Saved views are made from the list (its filters as they are); here they can be renamed,
    shared, given to someone else, reordered or deleted."""

    list_display = ["name", "owner", "shared", "position", "query"]
    list_filter = ["shared"]
    search_fields = ["name", "query", "owner__username"]
    readonly_fields = ["query", "created_at", "updated_at"]

    def get_queryset(self, request):
        # Nobody sees another person's own views, staff and superusers included: the team's
        # views and one's own are listed, and others' answer as missing.
        return super().get_queryset(request).visible_to(request.user)


@admin.register(TicketChange)
class TicketChangeAdmin(admin.ModelAdmin):
    """The audit trail of changes made to tickets from the dashboard: staff read it here; nobody
    edits it (it is kept `AUDIT_DAYS` days, then dropped)."""

    list_display = ["at", "ticket_label", "username", "changed", "note", "bulk"]
    list_filter = ["note", ("bulk", admin.EmptyFieldListFilter)]
    search_fields = ["=ticket_id", "username"]
    date_hierarchy = "at"

    @admin.display(description="Ticket", ordering="ticket_id")
    def ticket_label(self, obj):
        return f"#{obj.ticket_id}"

    @admin.display(description="Fields: from → to")
    def changed(self, obj):
        return "; ".join(
            f"{name}: {_value(before)} → {_value(after)}"
            for name, (before, after) in (obj.fields or {}).items()
        )

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _value(value):
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


class SignInUserAdmin(UserAdmin):
    """Django's own users' admin, with a way to let a colleague in while strangers guess at
    their username from many addresses (see `accounts.throttle`)."""

    actions = [*UserAdmin.actions, "unlock_sign_in"]

    @admin.action(description="Unlock sign-in from new browsers for the selected users")
    def unlock_sign_in(self, request, queryset):
        names = [user.get_username() for user in queryset]
        for name in names:
            throttle.unlock(name)
        hours = settings.SIGNIN_UNLOCK_SECONDS / 3600
        messages.success(
            request,
            f"Sign-in unlocked for {len(names)} user(s) for {hours:g} h: their username's "
            "count from all addresses is cleared and paused; each address still has its own.",
        )


User = get_user_model()
admin.site.unregister(User)
admin.site.register(User, SignInUserAdmin)
