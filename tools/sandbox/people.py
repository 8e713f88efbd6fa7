"""The store's people and catalogue: agents, customers from several cultures, and products,
all drawn from the data set's generator."""

import random
from datetime import datetime, timedelta

from . import content
from .basics import ascii_letters, pick, timestamp

CUSTOMER_COUNT = 80
AGENT_IDS = (3, 5, 8, 11, 14, 17)
FIRST_CUSTOMER_ID = 1040
FIRST_PRODUCT_ID = 101

# Fields of a Product that the Products List (ProductList) leaves out.
PRODUCT_DETAIL_FIELDS = ("description", "meta_description", "meta_title", "template")


def make_agents(rng: random.Random, anchor: datetime) -> list[dict]:
    agents = []
    for user_id, (first, last) in zip(AGENT_IDS, content.AGENTS, strict=True):
        joined = anchor - timedelta(days=rng.randint(400, 1500))
        agents.append(
            _user(
                user_id=user_id,
                first=first,
                last=last,
                email=f"{first.lower()}.{last.lower()}@example-store.test",
                joined=joined,
                language="en",
                user_type="dashboard",
            )
        )
    return agents


def make_customers(rng: random.Random, anchor: datetime) -> tuple[list[dict], dict[int, str]]:
    customers, cultures, emails = [], {}, set()
    user_id = FIRST_CUSTOMER_ID
    for index in range(CUSTOMER_COUNT):
        culture_name = pick(rng, content.CULTURE_WEIGHTS)
        culture = content.CULTURES[culture_name]
        first, first_latin = _name(rng.choice(culture["first"]))
        last, last_latin = _name(rng.choice(culture["last"]))
        if index == CUSTOMER_COUNT - 1:
            culture_name, culture = "english", content.CULTURES["english"]
            (first, last), (first_latin, last_latin) = content.BOBBY_TABLES, ("bobby", "tables")
        email = _unique_email(rng, first_latin, last_latin, culture["domains"], emails)
        joined = anchor - timedelta(days=rng.randint(190, 1400), seconds=rng.randint(0, 86399))
        customer = _user(
            user_id=user_id,
            first=first,
            last=last,
            email=email,
            joined=joined,
            language=culture["language"],
            user_type="customer",
        )
        _describe_customer(customer, rng, culture, index)
        customers.append(customer)
        cultures[user_id] = culture_name
        user_id += rng.randint(1, 7)
    return customers, cultures


def _name(entry: str | tuple[str, str]) -> tuple[str, str]:
    return entry if isinstance(entry, tuple) else (entry, entry)


def _unique_email(rng, first: str, last: str, domains: list[str], taken: set[str]) -> str:
    local, domain = f"{ascii_letters(first)}.{ascii_letters(last)}", rng.choice(domains)
    # Namesakes exist; the second Emma Smith signs up as emmas42.
    while f"{local}@{domain}" in taken:
        local = f"{ascii_letters(first)}{ascii_letters(last)[:1]}{rng.randint(2, 99)}"
    taken.add(f"{local}@{domain}")
    return f"{local}@{domain}"


def _user(*, user_id, first, last, email, joined, language, user_type) -> dict:
    return {
        "accepts_marketing": False,
        "addresses": [],
        "date_joined": timestamp(joined),
        "email": email,
        "first_name": first,
        "id": user_id,
        "ip": None,
        "is_blocked": False,
        "language": language,
        "last_name": last,
        "metadata": {},
        "orders_count": 0,
        "phone_number": None,
        "subscriptions_count": 0,
        "tags": [],
        "total_spent": "0.00",
        "user_agent": None,
        "user_type": user_type,
    }


def _describe_customer(customer: dict, rng: random.Random, culture: dict, index: int) -> None:
    country, city, street = culture["country"]
    orders = rng.choices((1, 2, 3, 5, 8, 14), weights=(25, 25, 20, 15, 10, 5))[0]
    phone = f"+{rng.randint(30, 49)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}"
    customer.update(
        accepts_marketing=rng.random() < 0.55,
        addresses=[
            {
                "country": country,
                "first_name": customer["first_name"],
                "id": 5000 + index,
                "is_default_for_billing": True,
                "is_default_for_shipping": True,
                "last_name": customer["last_name"],
                "line1": f"{rng.randint(1, 180)} {street}",
                "line2": "",
                "line3": "",
                "line4": city,
                "notes": "",
                "phone_number": phone,
                "postcode": f"{rng.randint(10000, 99999)}",
                "state": "",
            }
        ],
        ip=f"198.51.100.{rng.randint(1, 254)}",
        is_blocked=index == 7,
        orders_count=orders,
        phone_number=phone if rng.random() < 0.7 else None,
        subscriptions_count=rng.choice((0, 0, 0, 1, 2)),
        tags=["vip"] if orders >= 8 or rng.random() < 0.05 else [],
        total_spent=f"{orders * rng.uniform(25, 140):.2f}",
        user_agent=rng.choice(
            (
                None,
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/122.0",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 Safari/17.3",
            )
        ),
    )


def product_listing(product: dict) -> dict:
    """A product as the Products List shows it (ProductList): without its detail fields."""
    return {key: value for key, value in product.items() if key not in PRODUCT_DETAIL_FIELDS}


def make_products(rng: random.Random, anchor: datetime) -> list[dict]:
    return [
        _product(FIRST_PRODUCT_ID + index, title, slug, subscribable, rng, anchor)
        for index, (title, slug, subscribable) in enumerate(content.PRODUCTS)
    ]


def _product(product_id, title, slug, subscribable, rng, anchor) -> dict:
    created = timestamp(anchor - timedelta(days=rng.randint(300, 900)))
    updated = timestamp(anchor - timedelta(days=rng.randint(1, 120)))
    price = rng.choice((9.5, 14, 19.9, 24, 29, 34.5, 39, 49, 59))
    variant = {
        "allow_backorders": False,
        "date_created": created,
        "date_updated": updated,
        "id": product_id * 10 + 1,
        "images": "",
        "inventory_availability": rng.choice(("in_stock", "in_stock", "low_stock")),
        "metadata": {},
        "prices": [
            {
                "currency": "USD",
                "price": f"{price:.2f}",
                "retail": None,
                "subscription": f"{price * 0.9:.2f}" if subscribable else None,
                "subscription_suggested_downsell": None,
            }
        ],
        "product_id": product_id,
        "purchase_availability": "available",
        "requires_shipping": True,
        "sku": slug.upper().replace("-", "")[:12],
        "stockrecords": [
            {
                "id": product_id * 100,
                "location_id": 1,
                "low_stock_threshold": 10,
                "num_allocated": rng.randint(0, 20),
                "num_in_stock": rng.randint(0, 400),
            }
        ],
        "title": title,
        "track_stock": True,
        "unit_cost": f"{price * 0.3:.2f}",
        "upc": None,
        "variant_attribute_values": [],
    }
    return {
        "categories": [],
        "date_created": created,
        "date_updated": updated,
        "description": f"<p>{title}, from our own range.</p>",
        "enable_subscription": subscribable,
        "external_tax_code": None,
        "id": product_id,
        "images": [{"caption": "", "display_order": 0, "id": product_id * 10}],
        "interval": "month" if subscribable else None,
        "interval_counts": [1, 2, 3] if subscribable else None,
        "is_discountable": True,
        "is_public": True,
        "meta_description": None,
        "meta_title": None,
        "metadata": {},
        "ranking": 0,
        "rating": round(rng.uniform(3.6, 4.9), 1),
        "recommended_products": [],
        "slug": slug,
        "structure": "standalone",
        "template": None,
        "title": title,
        "url": f"https://example-store.test/catalogue/{slug}/",
        "variant_attributes": [],
        "variants": [variant],
    }
