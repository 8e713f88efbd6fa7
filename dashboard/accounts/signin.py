"""The sign-in page, throttled (see `throttle`): every attempt is counted before its password
is checked and stays counted only if it fails, and a refused one is answered 429 with how long
to wait."""

import logging
import math

from django.contrib.auth import views as auth_views
from django.db import connection
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from dashboard.accounts import throttle
from dashboard.middleware import DATABASE_FAULTS

logger = logging.getLogger(__name__)


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class ThrottledLoginView(auth_views.LoginView):
    def get(self, request, *args, **kwargs):
        # Nobody could sign in with the form while the database is out of reach: the page says
        # so (the outage's 503) rather than offering it.
        connection.close_if_health_check_failed()  # a kept connection the database dropped
        connection.ensure_connection()
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        self.attempt = throttle.Attempt.of(request)
        wait = self.attempt.admit()
        if wait:
            why = "attempts under way did not end in time" if self.attempt.crowded else "too many"
            logger.warning("sign-in refused for %.0f s: %s", wait, why)
            return self._refused(math.ceil(wait), crowded=self.attempt.crowded)
        try:
            return super().post(request, *args, **kwargs)
        except DATABASE_FAULTS:
            # Nobody's password was checked: the attempt does not count (the outage's 503).
            self.attempt.forget()
            raise
        finally:
            # A success took its count back (`form_valid`); anything else stays counted.
            self.attempt.failed()

    def _refused(self, seconds, crowded=False):
        # An unbound form: showing a bound one's errors would check the password after all.
        form = self.get_form_class()(
            self.request, initial={"username": self.request.POST.get("username", "")}
        )
        context = self.get_context_data(form=form, retry_after=seconds, crowded=crowded)
        response = render(self.request, self.template_name, context, status=429)
        response["Retry-After"] = str(seconds)
        return response

    def form_invalid(self, form):
        # A wrong password: the username stays filled in, so the password box has the focus.
        if form.data.get("username"):
            form.fields["username"].widget.attrs.pop("autofocus", None)
            form.fields["password"].widget.attrs["autofocus"] = True
        return super().form_invalid(form)

    def form_valid(self, form):
        self.attempt.succeeded()
        response = super().form_valid(form)
        throttle.remember(response, self.request, self.attempt.user)
        return response
