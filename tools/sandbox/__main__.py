"""`python -m tools.sandbox`: serve the sandbox store until SIGTERM or Ctrl-C."""

import argparse
import csv
import os
import signal
import sys
import threading

from .api import SCOPES
from .basics import parse_timestamp
from .data import SandboxData
from .deliveries import DeliveryPolicy
from .server import FAULT_MODES, SandboxServer


def scope_list(text: str) -> tuple[str, ...]:
    return tuple(scope.strip() for scope in text.split(",") if scope.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.sandbox",
        description=(
            "Serve a sandbox Next Commerce store (Admin API tickets, users and products) over HTTP."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--token", default="sandbox-token", help="the accepted bearer token")
    parser.add_argument(
        "--scopes",
        type=scope_list,
        default=SCOPES,
        metavar="SCOPE,...",
        help=(
            f"comma-separated OAuth scopes the token carries (default: {','.join(SCOPES)}); "
            "an operation whose scope is missing answers 403, as a real store does. "
            'POST {"scopes": [...]} to /__sandbox__/control changes them while running'
        ),
    )
    parser.add_argument("--page-size", type=int, default=25)
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=4,
        help="requests per second per token, like the real store (0 = no limit)",
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="delay added to every answer")
    parser.add_argument("--fault", choices=FAULT_MODES, default="none")
    parser.add_argument(
        "--print-tags",
        action="store_true",
        help="print the store's tags as CSV (id,name), for `manage.py import_tags -`, and exit",
    )
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument("--tickets", type=int, default=360)
    parser.add_argument(
        "--anchor",
        type=parse_timestamp,
        default=None,
        help="UTC time the seeded tickets lead up to (default: this hour)",
    )
    parser.add_argument(
        "--arrivals-every",
        type=float,
        default=0,
        help="add a new ticket every N seconds (0 = off)",
    )
    webhooks = parser.add_argument_group(
        "webhooks",
        "Every ticket change is POSTed, signed, to the webhooks registered through the API "
        "(/webhooks/) or here.",
    )
    webhooks.add_argument(
        "--webhook-url",
        metavar="URL",
        help="register a webhook for ticket.created and ticket.updated to this target",
    )
    webhooks.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        default=os.environ.get("SANDBOX_WEBHOOK_SECRET") or None,
        help=(
            "its signing secret (default: $SANDBOX_WEBHOOK_SECRET, which keeps it out of the "
            "process list, else one the store makes, shown by GET /webhooks/)"
        ),
    )
    webhooks.add_argument(
        "--webhook-quirks",
        type=float,
        default=DeliveryPolicy.repeat_rate,
        metavar="P",
        help=(
            "the chance a delivery is sent twice, and the chance one is held back to arrive "
            "out of order, as a real store does now and then (default: %(default)s)"
        ),
    )
    webhooks.add_argument(
        "--retry-base",
        type=float,
        default=DeliveryPolicy.retry_base,
        metavar="SECONDS",
        help="wait before a failed delivery's first retry, doubled for each one after",
    )
    webhooks.add_argument(
        "--churn",
        action="store_true",
        help="change a ticket about every minute and add one about every two",
    )
    webhooks.add_argument(
        "--churn-every",
        type=float,
        default=60,
        metavar="SECONDS",
        help="with --churn: seconds between changes, twice as many between new tickets",
    )
    args = parser.parse_args(argv)
    if args.webhook_secret and not args.webhook_url:
        parser.error("--webhook-secret needs --webhook-url")
    if args.churn and args.churn_every <= 0:
        parser.error("--churn-every must be more than 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.print_tags:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows(sorted(SandboxData(seed=args.seed, tickets=0).tags.items()))
        return 0
    try:
        sandbox = _sandbox(args).start()
    except OSError as error:
        print(f"Cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    except ValueError as error:  # a webhook target or a delivery setting refused
        print(f"Cannot start the sandbox: {error}", file=sys.stderr)
        return 2

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"Sandbox store serving {sandbox.base_url}", flush=True)
    if args.webhook_url:
        # The target only: the secret is never printed.
        print(f"Pushing ticket changes to {args.webhook_url}", flush=True)
    # Wake now and then: signal handlers only run between the main thread's bytecodes.
    while not stopping.wait(0.5):
        pass
    sandbox.stop()
    return 0


def _sandbox(args: argparse.Namespace) -> SandboxServer:
    return SandboxServer(
        host=args.host,
        port=args.port,
        token=args.token,
        scopes=args.scopes,
        page_size=args.page_size,
        rate_limit=args.rate_limit,
        latency_ms=args.latency_ms,
        seed=args.seed,
        tickets=args.tickets,
        anchor=args.anchor,
        fault=args.fault,
        arrivals_every=args.arrivals_every,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        delivery_policy=DeliveryPolicy(
            repeat_rate=args.webhook_quirks,
            hold_rate=args.webhook_quirks,
            retry_base=args.retry_base,
            seed=args.seed,
        ),
        churn_every=args.churn_every if args.churn else 0,
    )


if __name__ == "__main__":
    sys.exit(main())
