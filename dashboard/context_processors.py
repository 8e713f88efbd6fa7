from django.conf import settings

from dashboard.models import Preference


def store(request):
    """Whether pages are showing the built-in sandbox store rather than a real one."""
    return {"SANDBOX": settings.SANDBOX}


class Looks:
    """How the person likes pages to look, read from the database only when a page asks, and
    once per request however many templates ask."""

    def __init__(self, request):
        self._request = request

    @property
    def density(self):
        request = self._request
        if not hasattr(request, "density"):
            request.density = Preference.density_of(getattr(request, "user", None))
        return request.density

    @property
    def compact(self):
        return self.density == Preference.COMPACT


def looks(request):
    return {"looks": Looks(request)}
