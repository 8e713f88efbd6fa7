"""`POST /webhooks/next/`: the store's ticket deliveries, the one POST open without signing in
(its signature is its credential). Off (404) unless NEXT_WEBHOOK_SECRET is set."""

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dashboard.index import receiver

logger = logging.getLogger(__name__)

SIGNATURE = "HTTP_X_29NEXT_SIGNATURE"


@csrf_exempt  # the store signs its deliveries; it has no CSRF token to send
@login_not_required
@require_POST
def receive(request):
    if not settings.NEXT_WEBHOOK_SECRET:
        raise Http404("No webhooks here.")
    if _declared_length(request) > receiver.MAX_BYTES:
        return _answer(413, "too large")
    body = request.read(receiver.MAX_BYTES + 1)
    if len(body) > receiver.MAX_BYTES:
        return _answer(413, "too large")
    signature = request.META.get(SIGNATURE, "")
    if not signature:
        return _answer(401, "unsigned")
    if not receiver.signed(body, signature, settings.NEXT_WEBHOOK_SECRET):
        logger.warning("webhook refused: a signature that does not match")
        return _answer(403, "bad signature")
    answer = receiver.receive(body)
    logger.info("webhook %s", answer.outcome)
    return _answer(answer.status, answer.outcome)


def _declared_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _answer(status, outcome):
    response = JsonResponse({"outcome": outcome}, status=status)
    response["Cache-Control"] = "no-store"
    return response
