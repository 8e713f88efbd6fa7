"""The one exception family of the service layer: each error carries a message that is safe
to show to a signed-in person, and the HTTP status the page answers with."""

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from dashboard.budget import state


class TicketsAPIError(Exception):
    """The store could not answer; `message` is safe to show to a signed-in user."""

    code = "error"
    message = "The store could not answer."
    http_status = 502


class TokenRejected(TicketsAPIError):
    code = "token_rejected"
    message = "The store rejected the API token; check NEXT_API_TOKEN."
    http_status = 502


class ScopeMissing(TicketsAPIError):
    """The token works, but may not read this part of the store (403): a missing scope."""

    code = "scope_missing"
    http_status = 403

    def __init__(self, *args: Any, scope: str = "") -> None:
        super().__init__(*args)
        self.scope = scope
        self.message = (
            f"The store's token may not read this: it needs the {scope} scope."
            if scope
            else "The store's token may not read this."
        )


class FilterRefused(TicketsAPIError):
    """The store refused the filters (400), with its own words for each one."""

    code = "filter_refused"
    message = "The store refused these filters."
    http_status = 400

    def __init__(self, *args: Any, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(*args)
        # {"tags": ["Select a valid choice. 99 is not one of the available choices."], ...}
        self.field_errors = field_errors or {}


class WriteRefused(TicketsAPIError):
    """The store refused a write (a 4xx other than 401, 403 and 429), with its own words for
    each field when it gave them."""

    code = "write_refused"
    message = "The store refused the change."
    http_status = 400

    def __init__(
        self, *args: Any, field_errors: dict[str, list[str]] | None = None, status: int = 400
    ) -> None:
        super().__init__(*args)
        self.field_errors = field_errors or {}
        self.status = status


class TicketNotFound(TicketsAPIError):
    code = "not_found"
    message = "The store has no such ticket."
    http_status = 404


class InvalidCursor(TicketsAPIError):
    code = "invalid_cursor"
    message = "The list changed since this page was loaded; start again from the top."
    http_status = 400


class RateLimited(TicketsAPIError):
    code = "rate_limited"
    message = "The store is rate limiting the dashboard; try again in a few seconds."
    http_status = 503

    def __init__(self, *args: Any, retry_after: str | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after

    @property
    def retry_seconds(self) -> int:
        return max(1, round(retry_after_seconds(self.retry_after)))


class StoreUnavailable(TicketsAPIError):
    code = "unavailable"
    message = "The store is unavailable right now; try again in a moment."
    http_status = 503

    def __init__(self, *args: Any, retryable: bool = False) -> None:
        super().__init__(*args)
        # Connection failures and 502/503/504 are worth one more try; a 500 is not.
        self.retryable = retryable


class StoreTimeout(StoreUnavailable):
    code = "timeout"
    message = "The store took too long to answer; try again in a moment."
    http_status = 504


class StoreBusy(TicketsAPIError):
    code = "busy"
    message = (
        "Many people are asking the store at once and the dashboard keeps to its request "
        "budget; try again in a few seconds."
    )
    http_status = 503


class StillAsking(StoreBusy):
    """Nothing about a person's question is known yet, and the store is too busy to ask at
    once: it is asked in the background, and the page fills in by itself (202, not an error a
    person must act on)."""

    code = "asking"
    message = (
        "Many people are asking the store at once, so this was asked for in the background: "
        "it appears here by itself in a moment."
    )
    http_status = 202


class SharedStateUnavailable(TicketsAPIError):
    """The store may be fine, but the dashboard's own cache or pacing state failed."""

    code = state.SharedStateError.code
    message = state.SharedStateError.message
    http_status = state.SharedStateError.http_status


class BadResponse(TicketsAPIError):
    code = "bad_response"
    message = "The store sent an answer the dashboard cannot read."
    http_status = 502


def retry_after_seconds(value: str | None) -> float:
    """Retry-After as seconds: a number, or an HTTP date; 1 s when absent or unreadable."""
    if value is None:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else 1.0
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)
