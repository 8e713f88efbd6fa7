"""The doors around the pages: the load balancer's health check, the 500 page, and the admin's
sign-in, which is the dashboard's own."""

import logging
import sys
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, HttpResponseRedirect, HttpResponseServerError
from django.template import loader
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET

from dashboard.middleware import outage, unavailable


@login_not_required
@require_GET
def healthz(request):
    """For load balancers: says the process answers, and nothing else."""
    response = HttpResponse("ok\n", content_type="text/plain")
    response["Cache-Control"] = "no-store"
    return response


@requires_csrf_token
def server_error(request):
    """The 500 page, which says the error was logged only when a handler really took it; an
    outage met outside a view (loading the session, the user) is the outage's 503 instead."""
    error = outage(sys.exc_info()[1])
    if error is not None:
        return unavailable(request, error)
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({"logged": _errors_are_logged()}))


def _errors_are_logged():
    """Whether a handler takes django.request's error records, as `Logger.callHandlers` would
    find one (the last resort included)."""
    logger = logging.getLogger("django.request")
    if not logger.isEnabledFor(logging.ERROR):
        return False
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "probe", (), None)
    found = False
    while logger is not None:
        for handler in logger.handlers:
            found = True
            if record.levelno >= handler.level and handler.filter(record):
                return True
        logger = logger.parent if logger.propagate else None
    return not found and logging.lastResort is not None


@login_not_required
def admin_login(request):
    """The admin signs in through the dashboard's own, throttled sign-in."""
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = ""
    query = urlencode({"next": target or reverse("admin:index")})
    return HttpResponseRedirect(f"{reverse('login')}?{query}")
