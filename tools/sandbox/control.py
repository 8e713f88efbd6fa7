"""The sandbox's control API under `/__sandbox__/`: what tests, benchmarks and demos use to
steer the sandbox and to see what it did. Not part of the store's API: no token, no rate
limit, no request log.

    GET  /__sandbox__/                     what is where
    GET  /__sandbox__/control              the settings; POST {"fault": ...} changes them
    GET  /__sandbox__/stats                what reached the API
    POST /__sandbox__/reset                settings, tickets, webhooks and deliveries as started
    POST /__sandbox__/tickets              add a ticket (any Ticket field but id): ticket.created
    POST /__sandbox__/tickets/<id>         change a ticket's fields, and add a "comment" with
                                           them: ticket.updated
    GET  /__sandbox__/count?<filters>      how many tickets a Tickets List filter matches
    GET  /__sandbox__/deliveries           webhook delivery counts, the latest tries, the policy
    POST /__sandbox__/deliveries           {"retry_base": 0.05, ...} changes the policy
    POST /__sandbox__/deliveries/wait      {"timeout": s}: 200 once nothing is left to send,
                                           504 if something still is after `timeout`
"""

import json
import re
from typing import TYPE_CHECKING

from . import api
from .api import Request, Response, detail, json_response
from .filters import FilterError

if TYPE_CHECKING:
    from .server import SandboxServer

CONTROL_PREFIX = "/__sandbox__/"
WAIT_LIMIT = 120  # seconds a wait may ask for


def handle(sandbox: "SandboxServer", request: Request) -> Response:
    route = request.path.removeprefix(CONTROL_PREFIX).strip("/")
    endpoints = {
        ("", "GET"): lambda: json_response(200, index(sandbox)),
        ("control", "GET"): lambda: json_response(200, sandbox.settings()),
        ("control", "POST"): lambda: json_response(200, sandbox.configure(**_body(request))),
        ("stats", "GET"): lambda: json_response(200, sandbox.stats()),
        ("reset", "POST"): lambda: _reset(sandbox),
        ("tickets", "POST"): lambda: json_response(201, sandbox.data.add_ticket(**_body(request))),
        ("count", "GET"): lambda: _count(sandbox, request),
        ("deliveries", "GET"): lambda: json_response(200, _deliveries(sandbox)),
        ("deliveries", "POST"): lambda: json_response(
            200, sandbox.deliveries.configure(**_body(request))
        ),
        ("deliveries/wait", "POST"): lambda: _wait(sandbox, request),
    }
    ticket = re.fullmatch(r"tickets/(\d+)", route)
    if ticket and request.method == "POST":
        endpoint = lambda: _change_ticket(sandbox, int(ticket.group(1)), request)  # noqa: E731
    else:
        endpoint = endpoints.get((route, request.method))
    try:
        if endpoint:
            return endpoint()
    except ValueError as error:
        return detail(400, str(error))
    if ticket or any(known == route for known, _ in endpoints):
        return detail(405, f'Method "{request.method}" not allowed.')
    return detail(404, "Not found.")


def index(sandbox: "SandboxServer") -> dict:
    return {
        "name": "Next Commerce Admin API sandbox",
        "api": sandbox.base_url,
        "version_header": f"{api.VERSION_HEADER}: {api.API_VERSION}",
        "control": {
            "settings": f"GET/POST {CONTROL_PREFIX}control",
            "stats": f"GET {CONTROL_PREFIX}stats",
            "reset": f"POST {CONTROL_PREFIX}reset",
            "add_ticket": f"POST {CONTROL_PREFIX}tickets",
            "change_ticket": f"POST {CONTROL_PREFIX}tickets/<id>",
            "count": f"GET {CONTROL_PREFIX}count?<ticket filters>",
            "deliveries": f"GET/POST {CONTROL_PREFIX}deliveries",
            "wait_for_deliveries": f"POST {CONTROL_PREFIX}deliveries/wait",
        },
        "fault_modes": list(sandbox.fault_modes),
        "tickets": len(sandbox.data.tickets),
        # Where deliveries go, never with what secret.
        "webhooks": [hook["target"] for hook in sandbox.webhooks.listing()],
    }


def _reset(sandbox: "SandboxServer") -> Response:
    sandbox.reset()
    return json_response(200, sandbox.settings())


def _count(sandbox: "SandboxServer", request: Request) -> Response:
    try:
        return json_response(200, {"count": len(sandbox.data.filter_tickets(request.params))})
    except FilterError as error:
        return json_response(400, error.errors)


def _change_ticket(sandbox: "SandboxServer", ticket_id: int, request: Request) -> Response:
    fields = _body(request)
    comment = fields.pop("comment", None)
    if comment is not None and not isinstance(comment, dict):
        raise ValueError('comment must be an object, such as {"body": "..."}')
    changed = sandbox.data.update_ticket(ticket_id, fields, comment)
    if changed is None:
        return detail(404, f"No ticket {ticket_id}.")
    return json_response(200, changed)


def _deliveries(sandbox: "SandboxServer") -> dict:
    deliveries = sandbox.deliveries
    return {"stats": deliveries.stats(), "log": deliveries.log(), "policy": deliveries.policy()}


def _wait(sandbox: "SandboxServer", request: Request) -> Response:
    timeout = _body(request).get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise ValueError("timeout must be a number of seconds")
    idle = sandbox.deliveries.wait_idle(min(timeout, WAIT_LIMIT))
    return json_response(200 if idle else 504, {"idle": idle, **_deliveries(sandbox)})


def _body(request: Request) -> dict:
    if not request.body.strip():
        return {}
    try:
        payload = json.loads(request.body)
    except ValueError as error:
        raise ValueError(f"The body is not JSON: {error}") from error
    if not isinstance(payload, dict):
        raise ValueError("The body must be a JSON object.")
    return payload
