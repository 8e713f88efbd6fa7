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

    def _read(self):
        request = self._request
        if not hasattr(request, "density") or not hasattr(request, "thread_width"):
            density, width = Preference.looks_of(getattr(request, "user", None))
            request.density = getattr(request, "density", density)
            request.thread_width = getattr(request, "thread_width", width)

    @property
    def density(self):
        self._read()
        return self._request.density

    @property
    def thread_width(self):
        """The open thread's share of the width, in percent."""
        self._read()
        return self._request.thread_width

    def wider(self):
        """The next wider thread width, or None at the widest."""
        return _step(self.thread_width, 1)

    def narrower(self):
        return _step(self.thread_width, -1)

    @property
    def compact(self):
        return self.density == Preference.COMPACT


def _step(width, step):
    widths = [value for value, _ in Preference.THREAD_WIDTHS]
    at = widths.index(width) if width in widths else widths.index(Preference.THREAD_WIDTH)
    return widths[at + step] if 0 <= at + step < len(widths) else None


def looks(request):
    return {"looks": Looks(request)}
