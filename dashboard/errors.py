"""Error reports and log lines that never show the store's access token, even with DEBUG on."""

import logging
import re

from django.conf import settings
from django.views.debug import SafeExceptionReporterFilter

# The user and password of a URL such as DATABASE_URL or REDIS_URL (postgres://USER:PASS@HOST).
CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def without_credentials(text):
    return CREDENTIALS.sub(r"\g<scheme>********@", text)


class TokenSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django hides frame variables only when DEBUG is off and only where code is marked
    sensitive; the token must not show on a debug page either, wherever it sits (a local in a
    library frame, a chained exception, the environment in request.META)."""

    def is_active(self, request):
        return True

    def _holds_token(self, value):
        token = settings.NEXT_API_TOKEN
        try:
            return bool(token) and token in repr(value)
        except Exception:  # a repr that fails cannot be checked, so it is not shown
            return True

    def cleanse_setting(self, key, value):
        value = super().cleanse_setting(key, value)
        if isinstance(value, str):
            value = without_credentials(value)  # DATABASE_URL, REDIS_URL
        return self.cleansed_substitute if self._holds_token(value) else value

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self.cleansed_substitute if self._holds_token(value) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


class TokenSafeFormatter(logging.Formatter):
    """Log lines, tracebacks included, with the store's token blanked wherever it appears: a
    traceback can quote a local variable or an exception message that carries it."""

    def format(self, record):
        text = without_credentials(super().format(record))
        token = getattr(settings, "NEXT_API_TOKEN", "")
        return text.replace(token, "********") if token else text
