from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self):
        # Every page the store answers is noted, so a webhook delivery can drop the ones it
        # makes wrong (dashboard.index.changes).
        from dashboard.index import changes

        changes.listen()
