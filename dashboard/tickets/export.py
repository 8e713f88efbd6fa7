"""Exporting a filter's tickets as a file, streamed while the store's pages are walked: CSV
here (`CsvFile`), an Excel workbook in `spreadsheet.py`; both go through `rows`.

The file is written as it is read: the header and the first page's rows go out at once, then
each page's rows as the store answers. Nothing is kept on disk or in the shared cache, so any
worker on any machine can answer any export, and a person who cancels the download (or closes
the tab) stops the walk at the next page: the server closes the generator, which asks nothing
more of the store.

Every page is asked for in the background lane, so an export never holds up a person's page:
it takes a slot only while fewer than `STORE_BACKGROUND_LIMIT` calls are in the window and
nobody waits, and waits outside the page's single-flight lock so a person who asks for the
same page meanwhile is never held up. Names come from what the dashboard already knows (agents,
ticket types, customers' names and products' titles looked up before); an export looks nothing
up, since a look-up per customer would cost more calls than the pages themselves.

Every text cell is neutralised for spreadsheets (OWASP's CSV injection advice): a value whose
first character that shows starts a formula (`=`, `+`, `-`, `@`, or a full-width form), or that
starts with a tab or a carriage return, gets a leading `'`, and so does every item of a
multi-value cell (`safe_cell`, `safe_items`: one rule for both formats). Every text field of
the CSV is quoted, so a `;` or a tab never splits a cell, whatever the spreadsheet's locale.
A file that stops early says so in its last line: cut at `EXPORT_MAX_ROWS`, or incomplete
because the store failed part-way (its message, never the token).

The CSV is for scripts: the API's values, times in ISO 8601 UTC, UTF-8 with no byte-order mark
so that its first column is headed exactly `id`. The Excel workbook is for people.
"""

import csv
import io
import logging
import re
import unicodedata
from datetime import UTC
from urllib.parse import quote

from django.conf import settings

from dashboard import budget, store
from dashboard.budget import state

logger = logging.getLogger(__name__)

COLUMNS = (
    "id",
    "subject",
    "status",
    "priority",
    "channel",
    "requester_name",
    "requester_email",
    "assignee_name",
    "type",
    "order",
    "tags",
    "products",
    "created",
    "updated",
    "comment_count",
)
# A page waits this long for a background slot (people go first) before the file says the
# dashboard was too busy to finish.
PAGE_WAIT = 30.0
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What a formula starts with, once blanks are skipped: the ASCII signs and their full-width
# forms (＝ ＋ － ＠), which spreadsheets in East Asian locales take as the same.
FORMULA_CHARACTERS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# Unicode categories that show nothing: separators, controls, formats (U+200B, U+FEFF ...).
INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
LIST_SEPARATOR = "; "  # between tags, and between products, in one cell
FILENAME_FILTERS_MAX = 100  # characters of the file name that name the filters


def max_rows():
    return settings.EXPORT_MAX_ROWS


def safe_cell(value):
    """A cell a spreadsheet shows as text: never a formula, whatever the customer typed. A value
    whose first character that shows is one a formula starts with (`=`, `+`, `-`, `@`, or their
    full-width forms, which some spreadsheets read as the same) gets a leading `'`, however many
    blanks or invisible characters come before it (spaces, NBSP, zero-width space, byte-order
    mark, line and form feeds, NUL...); so does one that starts with a tab or a carriage
    return, as OWASP advises."""
    if value is None:
        return ""
    if isinstance(value, str) and (
        value.startswith(FORMULA_START) or _shown_start(value).startswith(FORMULA_CHARACTERS)
    ):
        return "'" + value
    return value


def split_safe(value):
    """A CSV field that stays text however a spreadsheet splits the line. Quoting keeps a `;` or
    a tab inside one field for a reader that splits where the file does (at commas); but one
    in a locale that splits at `;` (or a tab) does not see the quotes, which open a field only
    at its start, and makes whatever follows a `;` a cell of its own: a formula there (past
    blanks, invisible characters and quotes) gets the same `'` as at the start of a value."""
    if not isinstance(value, str) or not (";" in value or "\t" in value):
        return value
    parts = re.split(r"([;\t])", value)
    for index in range(2, len(parts), 2):
        shown = _shown_start(_shown_start(parts[index]).lstrip('"'))
        if shown.startswith(FORMULA_CHARACTERS):
            parts[index] = "'" + parts[index]
    return "".join(parts)


def safe_items(items):
    """A multi-value cell (tags, products): every item neutralised, not only the first, since
    a spreadsheet that splits the cell at `;` would make each one a cell of its own."""
    return LIST_SEPARATOR.join(safe_cell(str(item)) for item in items)


def _shown_start(value):
    """`value` from its first character that shows: blanks and invisible characters (Unicode
    separators, controls and formats) before it dropped."""
    for index, character in enumerate(value):
        if not (character.isspace() or unicodedata.category(character) in INVISIBLE):
            return value[index:]
    return ""


def first_page(query):
    """The first page of the export: asked for before the file starts, so that a refusal or a
    fault is answered as a page with its status, not as a file."""
    return _page(query.filters)


def rows(query, first, known, cap=None, file_kind=None):
    """The file of `query`'s tickets, in the store's order, in chunks: the header and the
    first page's rows, then a page's rows at a time; at most `cap` rows (`EXPORT_MAX_ROWS`).

    `first` is `first_page(query)`; `known` is a `names.Shown` with the agents and ticket
    types the filter form already has. `file_kind` writes the file (`CsvFile` unless given),
    made once the response is read: its `header()`, a `ticket(ticket, known, page_names)` per
    row, a closing `note(text)`, and `end()`; `take()` hands over what was written since it
    was last taken, and `close()` lets go of what a file that ends early holds.
    """
    cap = max_rows() if cap is None else cap
    out = (file_kind or CsvFile)()
    page, written, ending = first, 0, "complete"
    try:
        out.header()
        while True:
            room = cap - written
            page_names = _names(page.tickets[:room])
            for ticket in page.tickets[:room]:
                out.ticket(ticket, known, page_names)
            written += min(room, len(page.tickets))
            if len(page.tickets) > room or (written >= cap and page.next_cursor):
                ending = "cut"
                out.note(
                    f"# Cut at {cap:,} rows: more tickets match these filters. Narrow the "
                    "filters (for example by created date) to export the rest."
                )
                break
            if not page.next_cursor:
                break
            chunk = out.take()
            if chunk:  # a compressed file may have nothing to send for a page yet
                yield chunk  # a person who cancels the download stops the walk here
            try:
                page = _page(query.filters.with_cursor(page.next_cursor))
            except store.TicketsAPIError as exc:
                ending = f"incomplete ({exc.code})"
                out.note(_incomplete(written, _reason(exc)))
                break
            except state.SharedStateError as exc:
                ending = f"incomplete ({exc.code})"
                out.note(_incomplete(written, exc.message))
                break
            except Exception:
                # The status line is long gone: the file must still say it stopped.
                logger.exception("export failed part-way")
                ending = "incomplete (error)"
                out.note(_incomplete(written, "The dashboard failed; the error is logged."))
                break
        out.end()
        yield out.take()
    except GeneratorExit:
        ending = "cancelled"
        raise
    finally:
        out.close()
        logger.info("%s export of %s rows: %s", out.kind, written, ending)


def _incomplete(written, reason):
    return (
        f"# Incomplete: only the first {written:,} rows. {reason} "
        "Download again to export every row."
    )


def _reason(exc):
    if isinstance(exc, store.InvalidCursor):
        return "The list changed while it was exported."
    return exc.message


def _page(query):
    with budget.background(wait=PAGE_WAIT):
        try:
            return store.page_in_turn(query)
        except budget.WaitTimeout as exc:
            raise store.StoreBusy() from exc


def _names(tickets):
    """The customers and products of one page that the dashboard knows; asks nothing."""
    people = store.known_customers({t.requester for t in tickets if t.requester is not None})
    products = store.known_products({p for t in tickets for p in t.products})
    return (
        {i: found.person for i, found in people.items() if found.person is not None},
        {i: found.product for i, found in products.items() if found.product is not None},
    )


def _cells(ticket, known, page_names):
    people, products = page_names
    person = people.get(ticket.requester)
    agent = known.staff.get(ticket.assignee) if ticket.assignee is not None else None
    ticket_type = known.ticket_types.get(ticket.ticket_type)
    cells = (
        ticket.id,
        ticket.subject,
        ticket.status,
        ticket.priority,
        ticket.channel,
        " ".join(p for p in (person.first_name, person.last_name) if p) if person else "",
        ticket.from_email or (person.email if person else ""),
        agent.name if agent else _number("Agent", ticket.assignee),
        ticket_type.name if ticket_type else _number("Type", ticket.ticket_type),
        ticket.order,
        safe_items(ticket.tags),
        safe_items(
            products[p].title if p in products and products[p].title else str(p)
            for p in ticket.products
        ),
        _moment(ticket.created_at),
        _moment(ticket.updated_at),
        ticket.comment_count,
    )
    return [safe_cell(cell) for cell in cells]


def _number(kind, value):
    return "" if value is None else f"{kind} #{value}"


def _moment(value):
    """ISO 8601 in UTC: unambiguous, and it sorts as text."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


class CsvFile:
    """CSV rows into text, taken a chunk at a time: the API's values under `COLUMNS`."""

    kind = "CSV"
    suffix = ".csv"
    content_type = "text/csv; charset=utf-8"

    def __init__(self):
        self._buffer = io.StringIO()
        # Every text cell is quoted: a spreadsheet in a locale that splits at `;` (or at tabs)
        # then keeps `Refund;=cmd|...` one cell of text, as it keeps one with a comma. Numbers
        # (the id, the comment count) stay bare, and the header too: its first field is `id`.
        self._csv = csv.writer(self._buffer, quoting=csv.QUOTE_NONNUMERIC)
        self._header = csv.writer(self._buffer)

    def header(self):
        self._header.writerow(COLUMNS)

    def ticket(self, ticket, known, page_names):
        self._csv.writerow([split_safe(cell) for cell in _cells(ticket, known, page_names)])

    def note(self, text):
        # One cell, in the first column: a spreadsheet shows it as the last row's text, a
        # script reads a row with one field.
        self._csv.writerow([text])

    def end(self):
        pass  # the last row ends the file

    def take(self):
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

    def close(self):
        pass


# --- The file's name ---------------------------------------------------------------------


def filename(params, today, suffix=".csv"):
    """`tickets_<filters>_<date>.csv` (or `suffix`): the filters as `name-value` parts, e.g.
    `tickets_status-new-open_priority-high_2026-11-27.csv`, as `(ascii, unicode)`; the two
    differ only when a filter holds letters outside ASCII. `params` are `(name, value)` pairs
    with repeated names together, as the bookmark has them."""
    params = list(params)
    return (
        _filename(params, today, suffix, ascii_only=True),
        _filename(params, today, suffix, ascii_only=False),
    )


def _filename(params, today, suffix, ascii_only):
    parts = {}
    for name, value in params:
        parts.setdefault(_slug(name, ascii_only), []).append(_slug(str(value), ascii_only))
    words = "_".join("-".join(filter(None, [name, *values])) for name, values in parts.items())
    words = words[:FILENAME_FILTERS_MAX].strip("-_")
    return "_".join(filter(None, ["tickets", words, today.isoformat()])) + suffix


def _slug(text, ascii_only):
    text = unicodedata.normalize("NFKD" if ascii_only else "NFC", text)
    if ascii_only:
        text = text.encode("ascii", "ignore").decode("ascii")
    # Letters and digits (of any script unless ASCII), runs of anything else one hyphen.
    return re.sub(r"[\W_]+", "-", text).strip("-")


def content_disposition(names):
    """An attachment, named in ASCII for every client and, per RFC 6266, in UTF-8 too when
    the name has letters outside ASCII."""
    ascii_name, unicode_name = names
    header = f'attachment; filename="{ascii_name}"'
    if unicode_name != ascii_name:
        header += f"; filename*=UTF-8''{quote(unicode_name, safe='')}"
    return header


# --- How many at once ------------------------------------------------------------------------
# Each download holds a server thread for as long as the store's pages take (a minute or more
# for thousands of tickets); one person asking for dozens at once held every thread of every
# worker, and everyone's pages waited. So each download takes a place, counted in the budget's
# shared state (every process, every machine): at most `EXPORTS_PER_PERSON` per person and
# `EXPORTS_AT_ONCE` in all. A place is given back when the download ends, however it ends; one
# whose process died is given back after `EXPORT_HOLD` seconds.
EXPORT_HOLD = 600
RETRY_AFTER = 15


class ExportsBusy(store.TicketsAPIError):
    code = "exports_busy"
    http_status = 429

    def __init__(self, mine: bool) -> None:
        super().__init__()
        self.retry_seconds = RETRY_AFTER
        most = settings.EXPORTS_PER_PERSON
        self.message = (
            (
                "You already have a download under way"
                if most == 1
                else f"You already have {most} downloads under way"
            )
            + ": wait for it to finish, then ask again."
            if mine
            else f"{settings.EXPORTS_AT_ONCE} downloads are under way for the team, the most "
            f"the dashboard runs at once; try again in {RETRY_AFTER} seconds."
        )


def take_place(person_id):
    """A place for one download of `person_id`'s, or `ExportsBusy`; returns what gives it back
    (call it once the download has ended). The shared state failing gives no place either."""
    backend = budget.backend()
    mine_key = f"exports:{store.identity()}:person:{person_id}"
    all_key = f"exports:{store.identity()}:all"
    try:
        wait, mine = backend.admit_attempt(mine_key, EXPORT_HOLD, settings.EXPORTS_PER_PERSON)
        if wait > 0:
            raise ExportsBusy(mine=True)
        wait, everyone = backend.admit_attempt(all_key, EXPORT_HOLD, settings.EXPORTS_AT_ONCE)
        if wait > 0:
            backend.forget_attempt(mine_key, mine)
            raise ExportsBusy(mine=False)
    except state.SharedStateError as exc:
        raise store.SharedStateUnavailable() from exc

    def give_back():
        for key, token in ((all_key, everyone), (mine_key, mine)):
            try:
                backend.forget_attempt(key, token)
            except state.SharedStateError:
                logger.warning(
                    "could not give back a download's place; it frees in %s s", EXPORT_HOLD
                )

    return give_back


class Held:
    """A file's chunks that give their place back when the response is closed: by the server
    once it is sent, or when the person cancels (also before the first chunk, when a generator's
    own `finally` would never run)."""

    def __init__(self, chunks, give_back):
        self._chunks, self._give_back = chunks, give_back

    def __iter__(self):
        return iter(self._chunks)

    def close(self):
        give_back, self._give_back = self._give_back, None
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            if give_back is not None:
                give_back()
