"""Answers that every view shares: the shared-state fault page and the Permissions-Policy."""

from django.shortcuts import render

from dashboard.budget import SharedStateError

# The dashboard uses none of these browser features; a page that cannot ask for them cannot be
# tricked into asking either.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
)


def permissions_policy(get_response):
    def middleware(request):
        response = get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response

    return middleware


class SharedStateErrors:
    """A failure of the dashboard's own state (cache, pacing files, Redis) is one clear 503,
    in whatever view it happens, sign-in included; the page recovers by itself once the state
    is back, so it offers to try again."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, SharedStateError):
            return None
        context = {"error": exception, "retry_url": request.get_full_path()}
        htmx = getattr(request, "htmx", None)
        if htmx and not htmx.history_restore_request:
            template = "dashboard/_error.html"
        else:
            template = "503.html"
        response = render(request, template, context, status=exception.http_status)
        response["Retry-After"] = "5"
        response["Cache-Control"] = "no-store"
        return response
