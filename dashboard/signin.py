"""Sign-in with failed attempts throttled per username and per address, so a password cannot
be guessed however the attempts are spread."""

import hashlib
import logging

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

logger = logging.getLogger(__name__)


def _keys(request):
    username = request.POST.get("username", "").strip().casefold()
    address = request.META.get("REMOTE_ADDR", "")
    return f"signin:user:{_digest(username)}", f"signin:addr:{_digest(address)}"


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _too_many(request):
    user_key, address_key = _keys(request)
    counts = cache.get_many([user_key, address_key])
    return (
        counts.get(user_key, 0) >= settings.SIGNIN_FAILURES_PER_USER
        or counts.get(address_key, 0) >= settings.SIGNIN_FAILURES_PER_ADDRESS
    )


def _count_failure(request):
    for key in _keys(request):
        # add() starts the window on the first failure; incr() keeps its expiry.
        if not cache.add(key, 1, settings.SIGNIN_FAILURE_WINDOW):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, settings.SIGNIN_FAILURE_WINDOW)


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class ThrottledLoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        if _too_many(request):
            logger.warning("sign-in refused: too many failures for this user or address")
            form = self.get_form()
            context = self.get_context_data(form=form, throttled=True)
            response = render(request, self.template_name, context, status=429)
            response["Retry-After"] = str(settings.SIGNIN_FAILURE_WINDOW)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        _count_failure(self.request)
        return super().form_invalid(form)

    def form_valid(self, form):
        cache.delete(_keys(self.request)[0])
        return super().form_valid(form)
