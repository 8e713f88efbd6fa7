import contextlib
import ipaddress
import os
import secrets
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard import store

EVENTS = ("ticket.created", "ticket.updated")
RECEIVER_PATH = "/webhooks/next/"
TARGET_MAX = 255  # the store's limit on a webhook's target
EXAMPLE = "https://support.example.com/webhooks/next/"


class Command(BaseCommand):
    help = (
        "Register the dashboard's receiver (POST /webhooks/next/) with the store, for "
        "ticket.created and ticket.updated (needs the token's webhooks:write scope). Deliveries "
        "are signed with NEXT_WEBHOOK_SECRET when it is set; otherwise a new secret is written "
        "to --secret-file, for you to set as NEXT_WEBHOOK_SECRET. The secret is never printed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "url",
            help=f"where the store delivers: the dashboard's receiver, such as {EXAMPLE} "
            "(https, or http on a loopback address only)",
        )
        parser.add_argument("--name", default="Support dashboard", help="the webhook's name")
        parser.add_argument(
            "--secret-file",
            metavar="PATH",
            help="when NEXT_WEBHOOK_SECRET is not set: a new file to write the new signing "
            "secret to, readable by you only (an existing file is never overwritten)",
        )

    def handle(self, *args, url, name, secret_file=None, **options):
        target = receiver_url(url)
        name = name.strip()
        if not name or len(name) > 255:
            raise CommandError("The webhook's name must be 1 to 255 characters.")
        if urlsplit(target).path != RECEIVER_PATH:
            self.stdout.write(
                f"Note: the dashboard receives deliveries at {RECEIVER_PATH}; "
                f"{urlsplit(target).path} is registered as given (a proxy may map it)."
            )
        secret, written = self._secret(secret_file)
        try:
            webhook = store.create_webhook(name, target, EVENTS, secret, settings.NEXT_API_VERSION)
        except store.ScopeMissing:
            # The secret written is what the store's admin needs then: it is kept.
            raise CommandError(self._by_hand(name, target, written, missing_scope=True)) from None
        except store.WriteRefused as exc:
            if exc.status in (404, 405):
                raise CommandError(self._by_hand(name, target, written)) from None
            _forget(written)
            raise CommandError(_refusal(exc)) from None
        except store.TicketsAPIError as exc:
            _forget(written)
            raise CommandError(f"The webhook was not registered: {exc.message}") from None
        except BaseException:
            _forget(written)
            raise
        events = " and ".join(webhook.events or EVENTS)
        self.stdout.write(
            f'Registered webhook {webhook.id} "{webhook.name or name}": {events} to '
            f"{webhook.target or target}."
        )
        if written:
            self.stdout.write(
                f"The signing secret is in {written} (readable by you only). Set "
                "NEXT_WEBHOOK_SECRET to its contents on every machine of the dashboard (for "
                f'example NEXT_WEBHOOK_SECRET="$(cat {written})") and restart it: until then '
                "the receiver answers 404, and the store retries each delivery for days."
            )
        else:
            self.stdout.write("Deliveries are signed with NEXT_WEBHOOK_SECRET.")

    def _secret(self, secret_file):
        """(the signing secret, the file it was written to or None)."""
        if settings.NEXT_WEBHOOK_SECRET:
            if secret_file:
                self.stdout.write(
                    f"NEXT_WEBHOOK_SECRET is set: deliveries are signed with it, and nothing is "
                    f"written to {secret_file}."
                )
            return settings.NEXT_WEBHOOK_SECRET, None
        if not secret_file:
            raise CommandError(
                "NEXT_WEBHOOK_SECRET is not set. Set it to the secret deliveries should be "
                "signed with, or give --secret-file PATH: a new secret is then written there, "
                "readable by you only, for you to set as NEXT_WEBHOOK_SECRET."
            )
        secret = secrets.token_urlsafe(32)
        try:
            # O_EXCL: an existing file (a secret already in use, say) is never overwritten.
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise CommandError(
                f"{secret_file} exists already and is never overwritten: give a new path, or "
                "set NEXT_WEBHOOK_SECRET from it and run this again."
            ) from None
        except OSError as exc:
            raise CommandError(f"Cannot write {secret_file}: {exc.strerror}.") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
        return secret, secret_file

    def _by_hand(self, name, target, written, missing_scope=False):
        """How to register the webhook in the store's admin instead."""
        if missing_scope:
            why = (
                "The store's token may not register webhooks: it needs the webhooks:write "
                "scope. Add webhooks:write to the app in the store's Settings > API Access and "
                "run this again, or add the webhook in the store's admin yourself:"
            )
        else:
            why = (
                "The store does not take webhooks through its API. Add the webhook in the "
                "store's admin instead:"
            )
        secret = (
            f"the contents of {written}, which NEXT_WEBHOOK_SECRET must then be set to"
            if written
            else "the value of NEXT_WEBHOOK_SECRET"
            if settings.NEXT_WEBHOOK_SECRET
            else "a secret of your choosing, which NEXT_WEBHOOK_SECRET must then be set to"
        )
        return (
            f"{why}\n"
            "  Settings > Webhooks > Add webhook\n"
            f"  Name:            {name}\n"
            f"  Target URL:      {target}\n"
            f"  Events:          {' and '.join(EVENTS)}\n"
            f"  Signing secret:  {secret}"
        )


def receiver_url(text):
    """The webhook's target from what the operator typed, or `CommandError` saying what is
    wrong with it (before anything is asked of the store)."""
    try:
        parts = urlsplit(text.strip())
        host, _ = parts.hostname, parts.port  # a port that is not a number raises here
    except ValueError:
        raise CommandError(f"{text!r} is not a URL; give one such as {EXAMPLE}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host:
        raise CommandError(f"{text!r} is not an http(s) URL; give one such as {EXAMPLE}")
    if parts.username is not None or parts.password is not None:
        raise CommandError(
            "The URL carries a user name or password, which the store would keep and show in "
            "its admin: give the URL without them."
        )
    if parts.query or parts.fragment:
        raise CommandError("The receiver's URL takes no query (?) or fragment (#).")
    if scheme == "http" and not _loopback(host):
        raise CommandError(
            f"{text!r} is plain http: deliveries carry customers' tickets, so the target must "
            "be https://, unless it is a loopback address (127.0.0.1, ::1, localhost) for a "
            "store on this machine."
        )
    path = parts.path if parts.path not in ("", "/") else RECEIVER_PATH
    target = urlunsplit((scheme, parts.netloc, path, "", ""))
    if len(target) > TARGET_MAX:
        raise CommandError(f"The URL is longer than the store's {TARGET_MAX} characters.")
    return target


def _loopback(host):
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refusal(exc):
    said = "; ".join(
        f"{'' if field == '__all__' else field + ': '}{' '.join(messages)}"
        for field, messages in exc.field_errors.items()
    )
    return f"The store refused the webhook ({exc.status}){': ' + said if said else '.'}"


def _forget(written):
    """Remove the secret file this run wrote, when the webhook was not registered with it."""
    if written:
        with contextlib.suppress(OSError):
            os.unlink(written)
