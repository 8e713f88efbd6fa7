"""The store's Admin API: the only code in the dashboard that speaks HTTP to the store.

Views, the wall and the forms use what this package exports; its modules are:

- `client`: every GET, paced inside the token's shared budget, with one deadline per attempt,
  bounded retries, and answers shared between everyone who asks at once;
- `transport`: each thread's session, whose reads end at the call's deadline;
- `errors`: the exception family, each error with a message fit for the page;
- `parse`: strict field readers for the JSON, so nothing past here sees a raw dict;
- `tickets`: the Tickets List and a ticket's thread, its changes (`update_ticket`), ticket types;
- `people`: the support agents, and customers by id, email or name;
- `products`: product titles by id, and products by title;
- `webhooks`: registering the dashboard's receiver of the store's webhooks.
"""

from dashboard.store.client import (
    cursor_from_url,
    forget_local,
    identity,
    missing_scopes,
    scope_refused,
    when_sent,
)
from dashboard.store.errors import (
    BadResponse,
    FilterRefused,
    InvalidCursor,
    RateLimited,
    ScopeMissing,
    SharedStateUnavailable,
    StoreBusy,
    StoreTimeout,
    StoreUnavailable,
    TicketNotFound,
    TicketsAPIError,
    TokenRejected,
    WriteRefused,
)
from dashboard.store.parse import schema
from dashboard.store.people import (
    FIND_LIMIT,
    Found,
    Person,
    find_customers,
    known_customers,
    look_up_customer,
    staff,
    staff_due,
)
from dashboard.store.products import (
    FoundProduct,
    Product,
    find_products,
    known_products,
    look_up_product,
)
from dashboard.store.tickets import (
    CHANNELS,
    FILTER_NAMES,
    PRIORITIES,
    RESOLVED,
    STATUSES,
    WRITE_SCOPE,
    Attachment,
    Comment,
    Ticket,
    TicketPage,
    TicketQuery,
    TicketType,
    all_tickets_page,
    cached_page,
    current_ticket,
    forget_page,
    forget_ticket,
    get_ticket,
    list_tickets,
    page_in_turn,
    page_listeners,
    ticket_types,
    ticket_types_due,
    update_ticket,
)
from dashboard.store.webhooks import Webhook, create_webhook

__all__ = [
    "CHANNELS",
    "FIND_LIMIT",
    "FILTER_NAMES",
    "PRIORITIES",
    "RESOLVED",
    "STATUSES",
    "WRITE_SCOPE",
    "Attachment",
    "BadResponse",
    "Comment",
    "FilterRefused",
    "Found",
    "FoundProduct",
    "InvalidCursor",
    "Person",
    "Product",
    "RateLimited",
    "ScopeMissing",
    "SharedStateUnavailable",
    "StoreBusy",
    "StoreTimeout",
    "StoreUnavailable",
    "Ticket",
    "TicketNotFound",
    "TicketPage",
    "TicketQuery",
    "TicketType",
    "TicketsAPIError",
    "TokenRejected",
    "Webhook",
    "WriteRefused",
    "all_tickets_page",
    "cached_page",
    "current_ticket",
    "update_ticket",
    "scope_refused",
    "create_webhook",
    "cursor_from_url",
    "find_customers",
    "find_products",
    "forget_local",
    "missing_scopes",
    "get_ticket",
    "identity",
    "known_customers",
    "known_products",
    "forget_page",
    "forget_ticket",
    "list_tickets",
    "page_in_turn",
    "page_listeners",
    "schema",
    "look_up_customer",
    "look_up_product",
    "staff",
    "staff_due",
    "ticket_types",
    "ticket_types_due",
    "when_sent",
]
