"""Sign-in attempts, counted so that a password cannot be guessed and a stranger cannot lock a
colleague out.

Every attempt is counted before its password is checked, atomically, in the shared state
(`flock`-guarded files, or Redis: the budget's backends keep the counts, as they do for name
look-ups), so parallel guesses cannot slip past a check. It is counted as under way until its
password is checked: a successful one then takes its count back, and a failed one keeps it, so
only failures stay counted. An attempt that finds a count full only of failures is refused;
one that finds it full with attempts still under way waits for them to end (at most
`SETTLE_WAIT` seconds), since each may give its place back: a team behind one address signs
in together, while no more than the limit are ever checked. The counts, each in a sliding
window of `SIGNIN_FAILURE_WINDOW` seconds:

- **Username and address**: `SIGNIN_FAILURES_PER_USER` attempts, then a 429 until the oldest
  leaves the window. This is the strict count: an attacker's failures fill their own pairs,
  never the colleague's.
- **Address**: `SIGNIN_FAILURES_PER_ADDRESS` attempts, whatever the username, so one address
  cannot spray passwords over the team.
- **Username, from anywhere**: `SIGNIN_FAILURES_PER_USERNAME` attempts, a much higher
  threshold, reached only by guessing from many addresses (a fifth of it at least, given the
  strict count); past it, each further attempt waits a delay that doubles (1, 2, 4 s ...) up
  to `SIGNIN_SLOWDOWN_CAP` seconds. Below it, a stranger's guesses at a username never delay
  its owner; past it, a guesser who keeps polling takes each slot as it frees, so staff can
  lift this count for a username (`unlock`, an action in the admin's users) for
  `SIGNIN_UNLOCK_SECONDS`, while the strict and address counts still hold.

A browser that signed in as a username before carries a signed cookie saying so; for that
username it skips the address and username-wide counts and has a bucket of its own, so no
stranger's failures ever reach it.

Usernames are counted as `authenticate` sees them (NFKC-normalised, stripped) and casefolded;
the address is `REMOTE_ADDR`, or the client named in `X-Forwarded-For` when `REMOTE_ADDR` is
one of `TRUSTED_PROXIES`.
"""

import hashlib
import ipaddress
import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.forms import UsernameField
from django.core import signing

from dashboard import budget

logger = logging.getLogger(__name__)

KNOWN_COOKIE = "signin_known"
# The salt names the module this lived in first: changing it would forget every browser.
KNOWN_SALT = "dashboard.signin.known"
KNOWN_MAX_AGE = 180 * 24 * 3600
KNOWN_MAX_NAMES = 5  # a shared computer remembers a few people

# How long an attempt may wait for others under way at the same counts to end. A password check
# takes well under a second; a wait this long means the machine is swamped, and the attempt is
# refused for a few seconds rather than holding its thread.
SETTLE_WAIT = 10.0
# An attempt under way that has not ended this long after it was counted (its process died)
# counts as a failure. Longer than a request lives under gunicorn's 30 s timeout.
UNDER_WAY_HOLD = 45.0
# How often a waiting attempt looks again: first soon (a check is short), then less often.
_LOOK_FIRST = 0.01
_LOOK_MAX = 0.1


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def normalised_username(raw):
    """The username as `authenticate` will look it up, casefolded for counting."""
    return UsernameField().to_python(raw or "").casefold()


def _in(address, networks):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request):
    """The client's address: the connection's, unless that is a trusted proxy, in which case
    the nearest address in `X-Forwarded-For` that is not itself a trusted proxy."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXIES
    if not proxies or not _in(address, proxies):
        return address
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # a forged or garbled entry: trust nothing further out
        if not _in(hop, proxies):
            return hop
    return address


def known_names(request):
    try:
        names = signing.loads(
            request.COOKIES.get(KNOWN_COOKIE, ""), salt=KNOWN_SALT, max_age=KNOWN_MAX_AGE
        )
    except signing.BadSignature:
        return []
    return [name for name in names if isinstance(name, str)] if isinstance(names, list) else []


@dataclass
class Attempt:
    """One sign-in attempt and the counts it belongs to."""

    user: str
    address: str
    known: bool
    admitted: list = field(default_factory=list)
    # Refused after waiting `SETTLE_WAIT` for attempts under way, not for failures.
    crowded: bool = False

    @classmethod
    def of(cls, request):
        user = _digest(normalised_username(request.POST.get("username", "")))
        return cls(user, _digest(client_address(request)), user in known_names(request))

    def buckets(self):
        """(key, free attempts, cap on the growing delay or None for a hard limit)."""
        per_user = settings.SIGNIN_FAILURES_PER_USER
        if self.known:
            return [(f"signin:known:{self.user}", per_user, None)]
        found = [
            (f"signin:user-address:{self.user}:{self.address}", per_user, None),
            (f"signin:address:{self.address}", settings.SIGNIN_FAILURES_PER_ADDRESS, None),
        ]
        if not is_unlocked(self.user):
            found.append(
                (
                    _username_key(self.user),
                    settings.SIGNIN_FAILURES_PER_USERNAME,
                    settings.SIGNIN_SLOWDOWN_CAP,
                )
            )
        return found

    def admit(self):
        """Count the attempt, as under way, in every bucket; the seconds to wait, or 0 when
        it may go ahead. While a bucket is full only because of attempts under way, wait for
        them to end (each may give its place back), up to `SETTLE_WAIT` seconds."""
        deadline = time.monotonic() + SETTLE_WAIT
        pause = _LOOK_FIRST
        waited = False
        while True:
            wait, under_way = self._try()
            if not under_way:
                return wait
            if time.monotonic() + pause > deadline:
                self.crowded = True  # the sign-in page says so, and logs the refusal
                return SETTLE_WAIT
            if not waited:
                logger.info("sign-in waits for attempts under way to end")
                waited = True
            time.sleep(pause)
            pause = min(pause * 2, _LOOK_MAX)

    def _try(self):
        """One try at every bucket: (0, False) when counted in all of them, or the first
        refusal's (seconds to wait, whether only attempts under way fill it)."""
        backend = budget.backend()
        window = settings.SIGNIN_FAILURE_WINDOW
        for key, free, cap in self.buckets():
            wait, token, under_way = backend.hold_attempt(key, window, free, cap, UNDER_WAY_HOLD)
            if wait > 0:
                # Refused attempts are not attempts: take back what this one counted so far.
                # (Nothing is held while waiting, so two waiters never hold each other up.)
                self.forget()
                return wait, under_way
            self.admitted.append((key, token))
        return 0, False

    def forget(self):
        backend = budget.backend()
        for key, token in self.admitted:
            backend.forget_attempt(key, token)
        self.admitted.clear()

    def failed(self):
        """The password was not accepted (or its check never ended): the attempt stays
        counted, as a failure."""
        backend = budget.backend()
        for key, token in self.admitted:
            backend.keep_attempt(key, token)
        self.admitted.clear()

    def succeeded(self):
        """Only failures count: the attempt is taken back, and so are the failures of this
        browser, or of this username from this address (the person's own typing). Strangers'
        failures at the username from elsewhere stay counted: a success says nothing of them;
        so do other attempts still under way, which count as they end."""
        self.forget()
        backend = budget.backend()
        backend.clear_attempts(f"signin:known:{self.user}")
        backend.clear_attempts(f"signin:user-address:{self.user}:{self.address}")


def _username_key(user):
    return f"signin:user:{user}"


def _unlock_key(user):
    return f"signin:unlocked:{user}"


def is_unlocked(user):
    """Whether staff lifted the username-wide count for `user` (a digest) lately."""
    return budget.backend().count_attempts(_unlock_key(user), settings.SIGNIN_UNLOCK_SECONDS) > 0


def unlock(username):
    """Lift the username-wide count for `username` for `SIGNIN_UNLOCK_SECONDS`: its failures
    are forgotten and none is counted meanwhile, so its owner signs in from a new browser at
    once however many addresses guess at it; each guessing address still has only its
    `SIGNIN_FAILURES_PER_USER` attempts a window."""
    user = _digest(normalised_username(username))
    backend = budget.backend()
    backend.clear_attempts(_unlock_key(user))
    backend.admit_attempt(_unlock_key(user), settings.SIGNIN_UNLOCK_SECONDS, 1)
    backend.clear_attempts(_username_key(user))


def remember(response, request, user):
    """Mark this browser as one that signed in as `user` (a digest), beside the few others it
    remembers, so that its next attempts have a bucket of their own."""
    names = [user] + [name for name in known_names(request) if name != user]
    response.set_cookie(
        KNOWN_COOKIE,
        signing.dumps(names[:KNOWN_MAX_NAMES], salt=KNOWN_SALT),
        max_age=KNOWN_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
