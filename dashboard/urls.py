from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import path, register_converter

from dashboard.accounts.signin import ThrottledLoginView
from dashboard.tickets.filter_fields import IdConverter
from dashboard.views import (
    arrivals,
    bulk,
    export,
    links,
    names,
    preferences,
    saved,
    site,
    tickets,
    triage,
    waiting,
    walls,
    webhooks,
)

# Every id in a path is bounded before it reaches int() or the database.
register_converter(IdConverter, "id")

urlpatterns = [
    path("", saved.home, name="ticket_list"),
    path("tickets/<id:ticket_id>/", tickets.ticket_detail, name="ticket_detail"),
    path("tickets/<id:ticket_id>/triage/", triage.triage, name="ticket_triage"),
    path("tickets/<id:ticket_id>/fresh/", tickets.fresh_thread, name="fresh_thread"),
    path("fresh/", tickets.fresh_list, name="fresh_list"),
    path("tickets.csv", export.export_csv, name="export_csv"),
    path("tickets.xlsx", export.export_xlsx, name="export_xlsx"),
    path("count/", tickets.ticket_count, name="ticket_count"),
    path("arrivals/", arrivals.arrivals, name="arrivals"),
    path("bulk/", bulk.start_bulk, name="bulk_change"),
    path("bulk/<id:bulk_id>/", bulk.bulk_progress, name="bulk_progress"),
    path("names/", names.waiting_names, name="names"),
    path("preferences/density/", preferences.set_density, name="set_density"),
    path("preferences/thread-width/", preferences.set_thread_width, name="set_thread_width"),
    path("views/", saved.manage, name="saved_views"),
    path("views/save/", saved.save_view, name="save_view"),
    path("views/counts/", saved.counts, name="view_counts"),
    path("views/default/", saved.make_default, name="default_view"),
    path("views/all/", saved.all_tickets, name="all_tickets"),
    path("views/mine/", saved.my_tickets, name="my_tickets"),
    path("views/waiting/", waiting.needs_reply, name="needs_reply"),
    path("views/<id:view_id>/", saved.saved_view, name="saved_view"),
    path("views/<id:view_id>/rename/", saved.rename, name="rename_view"),
    path("views/<id:view_id>/move/", saved.move, name="move_view"),
    path("views/<id:view_id>/share/", saved.share, name="share_view"),
    path("views/<id:view_id>/delete/", saved.delete, name="delete_view"),
    path("wall/", walls.wall, name="wall"),
    path("wall/links/", links.display_links, name="display_links"),
    path("wall/links/<id:link_id>/revoke/", links.revoke_display_link, name="revoke_display_link"),
    path("display/<str:secret>/", walls.display_link, name="display_link"),
    path("accounts/login/", login_not_required(ThrottledLoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One sign-in door, throttled: the admin's own login form sends people to it.
    path("admin/login/", site.admin_login),
    path("admin/", admin.site.urls),
    path("healthz", site.healthz, name="healthz"),
    path("webhooks/next/", webhooks.receive, name="webhooks"),
]

handler500 = "dashboard.views.site.server_error"
