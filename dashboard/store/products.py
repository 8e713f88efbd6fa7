"""Products: titles by id, and products found by title (needs the `catalogue:read` scope; a
token without it shows product ids)."""

import time
from collections.abc import Iterable
from dataclasses import dataclass

from dashboard.store import client, parse
from dashboard.store.errors import TicketNotFound
from dashboard.store.people import FIND_LIMIT, FIND_TTL, NAME_FRESH, NAME_TTL


@parse.kept
@dataclass(frozen=True)
class Product:
    id: int
    title: str


@parse.kept
@dataclass(frozen=True)
class FoundProduct:
    """A look-up by id as the store answered it: the product, or None when it has none."""

    product: Product | None
    fetched_at: float

    @property
    def fresh(self) -> bool:
        return time.time() - self.fetched_at < NAME_FRESH


def known_products(ids: Iterable[int]) -> dict[int, FoundProduct]:
    """`{id: FoundProduct}` for the products looked up before; asks the store nothing."""
    return client.kept_many({product_id: f"products/{int(product_id)}/" for product_id in ids})


def look_up_product(product_id: int) -> FoundProduct:
    """Ask the store for one product's title (`GET products/{id}/`), kept for hours."""
    path = f"products/{int(product_id)}/"

    def fetch() -> FoundProduct:
        try:
            found = FoundProduct(_product(client.get(path, [])), time.time())
        except TicketNotFound:
            found = FoundProduct(None, time.time())
        client.keep(path, found, NAME_TTL)
        return found

    return client.shared(path, [], fetch, ttl=NAME_FRESH)


def find_products(title: str) -> tuple[Product, ...]:
    """Products whose title contains `title` (`GET products/?title=`): as `find_customers`."""
    params = [("title", title)]

    def fetch() -> tuple[Product, ...]:
        found = map(_product, client.every_result("products/", params, max_pages=1))
        return tuple(found)[: FIND_LIMIT + 1]

    return client.shared("products/", params, fetch, ttl=FIND_TTL)


def _product(raw: object) -> Product:
    item = parse.record(raw, "product")
    return Product(id=parse.integer(item, "id"), title=parse.text(item, "title").strip())
