"""What a change to a ticket means beyond the index.

- The store's answers the dashboard caches that it makes wrong are dropped: the ticket's
  thread, and every cached page of a filter the ticket matched before the change or matches
  after it (a page that held it, or one it now belongs on; the pages after it shift too).
  The next view asks the store again and is right, rather than up to the cache's life stale.
- Open lists and walls learn that the index changed: `version()` moves, and their pollers,
  which compare it with the one they saw, then read the index again (`dashboard.views.arrivals`).
- While the index is live (webhooks, and a whole walk done), the store's client hears of it
  (`store.hear_changes`): pages and threads are then cached for `STORE_CACHE_TTL_LIVE`, not
  `STORE_CACHE_TTL`, since whatever changes them is dropped here. The version moves before
  anything is dropped, so an answer the store gave before a change, cached while it is
  heard, is either dropped here or cached for the short time only (`store.client._Asked`).

Which pages are cached is kept in the shared state beside them (`remember_page`, told by
`store.page_listeners` as the store answers each page): every process and machine sees it,
and a delivery finds the pages of every filter anyone has open without walking the cache.
It is written under the budget's shared lock (a page fetched is at most 4 a second), and
kept small: a filter's pages are forgotten when their cached answers end. Finding a page
gone from the cache already is harmless.
"""

import contextlib
import logging
import time
from urllib.parse import urlencode

from django.conf import settings

from dashboard import budget, store
from dashboard.budget import state
from dashboard.index import freshness, query

logger = logging.getLogger(__name__)

VERSION_TTL = 7 * 24 * 3600
DIRECTORY_TTL = 24 * 3600
MAX_FILTERS = 2000  # filters whose pages are kept track of; a few KB each at most
LOCK_WAIT = 1.0
LOCK_TTL = 5.0


def listen() -> None:
    """Hear every page the store answers, and tell the store's client while the index hears
    every change (once per process, from the app's `ready`)."""
    if remember_page not in store.page_listeners:
        store.page_listeners.append(remember_page)
    store.hear_changes(heard)


def heard() -> str | None:
    """The index's version while deliveries keep it live, else None (see the module's notes).
    Asked from the store's threads: the index's state as this process last read it."""
    found = freshness.last_read()
    if not (found.live and found.complete):
        return None
    return version() or None


def remember_page(params: list[tuple[str, str]]) -> bool:
    """Keep that the page of `params` is (about to be) cached, until its cached answer ends;
    False when that could not be kept (the page is then cached for a short while only)."""
    filters = [pair for pair in params if pair[0] != "cursor"]
    cursor = next((value for name, value in params if name == "cursor"), "")
    now = time.time()
    dropped: list[dict] = []
    try:
        with budget.backend().lock(_directory_key(), timeout=LOCK_WAIT, ttl=LOCK_TTL):
            directory = _directory(now)
            entry = directory.setdefault(
                urlencode(filters), {"params": [list(pair) for pair in filters], "cursors": {}}
            )
            entry["cursors"][cursor] = now + max(store.tickets_ttl(), settings.STORE_CACHE_TTL) + 5
            if len(directory) > MAX_FILTERS:  # the filters looked at longest ago go first
                for stale in sorted(directory, key=lambda k: max(directory[k]["cursors"].values()))[
                    : len(directory) - MAX_FILTERS
                ]:
                    dropped.append(directory.pop(stale))
            state.cache_set(_directory_key(), directory, DIRECTORY_TTL)
        # No delivery would find those any more: their pages go too.
        for gone in dropped:
            for params_of_page in _pages_of(gone):
                store.forget_page(params_of_page)
    except (state.SharedStateError, budget.WaitTimeout) as exc:
        # The page is still served; a delivery may leave it until its cached answer ends.
        logger.warning("could not note a cached page: %s", type(exc).__name__)
        return False
    return True


def ticket_changed(before: dict | None, after: dict) -> None:
    """Drop what `after` (a ticket as a delivery gave it; `before`, as the index held it)
    makes wrong, and tell open lists. Called once the change is committed. The version moves
    first: an answer being fetched meanwhile is then not cached for long."""
    index_changed()
    try:
        store.forget_ticket(after["id"])
        for params in _pages_to_drop(before, after):
            store.forget_page(params)
    except state.SharedStateError:
        pass  # the cache is down: nothing of it is served either


def index_changed() -> None:
    """Move the index's version: every open list and wall reads it again."""
    # When the state is down, pollers see no change until it is back; the index is right.
    with contextlib.suppress(state.SharedStateError):
        state.cache_set(_version_key(), f"{time.time_ns():x}", VERSION_TTL)


def version() -> str:
    """The index's version as pollers compare it (one is chosen when there is none yet); ""
    when the shared state cannot say."""
    try:
        found = state.cache_get(_version_key(), "")
        if not found:
            state.cache_add(_version_key(), f"{time.time_ns():x}", VERSION_TTL)
            found = state.cache_get(_version_key(), "")
        return found or ""
    except state.SharedStateError:
        return ""


def _version_key() -> str:
    return state.schema_key("index-version", 1, freshness.store_name())


def _directory(now: float) -> dict:
    """The cached pages by filter, without those whose answers have ended."""
    found = state.cache_get(_directory_key(), None)
    if not isinstance(found, dict):
        return {}
    kept = {}
    for key, entry in found.items():
        cursors = {c: until for c, until in entry.get("cursors", {}).items() if until > now}
        if cursors:
            kept[key] = {"params": entry["params"], "cursors": cursors}
    return kept


def _directory_key() -> str:
    return state.schema_key("cached-pages", 1, freshness.store_name())


def _pages_to_drop(before: dict | None, after: dict) -> list[list[tuple[str, str]]]:
    dropped = []
    for entry in _directory(time.time()).values():
        filters = [(str(name), str(value)) for name, value in entry["params"]]
        asked = store.TicketQuery.from_params(filters)
        # None: the index cannot tell (a search); drop it rather than risk a stale page.
        if any(query.matches(asked, ticket) is not False for ticket in (before, after) if ticket):
            dropped += _pages_of(entry)
    return dropped


def _pages_of(entry: dict) -> list[list[tuple[str, str]]]:
    """The query strings of a directory entry's cached pages."""
    filters = [(str(name), str(value)) for name, value in entry["params"]]
    return [filters + ([("cursor", cursor)] if cursor else []) for cursor in entry["cursors"]]
