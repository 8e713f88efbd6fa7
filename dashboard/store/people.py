"""People: the store's support agents, and its customers by id, email or name. All of it needs
the `users:read` scope; a token without it still lists every ticket, with emails and ids."""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from dashboard.store import client, parse
from dashboard.store.errors import BadResponse, ScopeMissing, TicketNotFound, TokenRejected

logger = logging.getLogger(__name__)

# Names rarely change: one look-up serves for hours, and is renewed in the background after
# the first.
NAME_TTL = 12 * 3600
NAME_FRESH = 3600
# Finding customers by email or name is asked for by a person typing a filter.
FIND_TTL = 600
FIND_LIMIT = 10


@parse.kept
@dataclass(frozen=True)
class Person:
    id: int
    first_name: str = ""
    last_name: str = ""
    email: str = ""

    @property
    def name(self) -> str:
        full = " ".join(part for part in (self.first_name, self.last_name) if part)
        return full or self.email or f"Customer #{self.id}"

    @property
    def short_name(self) -> str:
        """First name and last initial, for a screen across the room: "Anna K."."""
        if self.first_name and self.last_name:
            return f"{self.first_name} {self.last_name[:1]}."
        return self.first_name or self.last_name or self.name


@parse.kept
@dataclass(frozen=True)
class Found:
    """A look-up by id as the store answered it: the person, or None when it has no such user."""

    person: Person | None
    fetched_at: float

    @property
    def fresh(self) -> bool:
        return time.time() - self.fetched_at < NAME_FRESH


def staff(fetch: bool = True) -> dict[int, Person] | None:
    """The store's support agents, `{id: Person}`, so pages show names, not numbers."""
    return client.reference("users/", [("user_type", "dashboard")], _all_staff, fetch)


def staff_due() -> bool:
    """Whether the agents' shared answer has gone (only the kept one is left)."""
    return client.reference_due("users/", [("user_type", "dashboard")])


def _all_staff() -> dict[int, Person]:
    try:
        # A support team, not a customer base: a few pages at most.
        items = list(client.every_result("users/", [("user_type", "dashboard")], max_pages=20))
    except (TokenRejected, ScopeMissing, TicketNotFound, BadResponse) as exc:
        logger.info("agent names unavailable (%s): showing agent ids", exc.code)
        return {}
    return {person.id: person for person in map(_person, items)}


def known_customers(ids: Iterable[int]) -> dict[int, Found]:
    """`{id: Found}` for the customers looked up before (fresh or not); asks the store nothing."""
    return client.kept_many({person_id: f"users/{int(person_id)}/" for person_id in ids})


def look_up_customer(person_id: int) -> Found:
    """Ask the store for one customer (`GET users/{id}/`), once an hour across every process,
    and keep the answer for hours."""
    path = f"users/{int(person_id)}/"

    def fetch() -> Found:
        try:
            found = Found(_person(client.get(path, [])), time.time())
        except TicketNotFound:
            found = Found(None, time.time())  # no such user: not worth asking again for hours
        client.keep(path, found, NAME_TTL)
        return found

    return client.shared(path, [], fetch, ttl=NAME_FRESH)


def find_customers(email: str = "", name: str = "") -> tuple[Person, ...]:
    """Customers by exact email or by name (`GET users/?email=` or `?name=`): at most
    FIND_LIMIT, and one more when there are more, so that the caller can say so. Each one
    found is kept as a look-up by id would keep them: a customer picked from them is then
    known by name, with no call of its own."""
    params = [("email", email)] if email else [("name", name)]

    def fetch() -> tuple[Person, ...]:
        found = []
        for item in client.every_result("users/", params, max_pages=1):
            found.append(_person(item))
        now = time.time()
        for person in found:
            client.keep(f"users/{person.id}/", Found(person, now), NAME_TTL)
        return tuple(found[: FIND_LIMIT + 1])

    return client.shared("users/", params, fetch, ttl=FIND_TTL)


def _person(raw: object) -> Person:
    item = parse.record(raw, "user")
    return Person(
        id=parse.integer(item, "id"),
        first_name=parse.text(item, "first_name").strip(),
        last_name=parse.text(item, "last_name").strip(),
        email=parse.text(item, "email").strip(),
    )
