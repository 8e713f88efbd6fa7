"""Exporting a filter's tickets as an Excel workbook (.xlsx), written while it streams.

The walk through the store's pages is the CSV's (`export.rows`); this is the file it writes
for people: the labels the list shows ("On hold", "Customer account"), names where the
dashboard knows them, times as real date-times in `DASHBOARD_TIME_ZONE` (named in the
header, since a spreadsheet's times carry no zone), a bold header row that stays in view,
and every text cell neutralised by the CSV's own rule (`export.safe_cell`).

An .xlsx file is a ZIP archive of XML parts, and openpyxl's write-only worksheet writes its
sheet front to back: the columns and the frozen row first, then each row as it is appended,
then the tail. So the sheet's part is written straight into the archive as the rows come, and
the archive into the response: ZIP entries of a stream that cannot seek back carry their
sizes after their data (a data descriptor), as Java's ZipOutputStream writes them and Excel
reads them. The workbook's other parts (styles, the workbook, the content types), a few
kilobytes, are openpyxl's own `ExcelWriter` output, written after the last row. Nothing goes
to disk and what is held is one page of rows and the compressor's window: about 0.4 MB for
5,000 rows, the same for 50,000 (measured: docs/decisions.md).

The view imports this module when a workbook is first asked for, not with the other views:
openpyxl takes 11 MB of a process that may never export one.
"""

import logging
import re
import time
import zipfile
import zoneinfo

from django.conf import settings
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter

from dashboard.tickets import labels
from dashboard.tickets.export import safe_cell, safe_items

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_TITLE = "Tickets"
# The header's words and each column's width (in characters).
COLUMNS = (
    ("ID", 8),
    ("Subject", 48),
    ("Status", 10),
    ("Priority", 10),
    ("Channel", 17),
    ("Requester", 24),
    ("Requester email", 30),
    ("Assignee", 20),
    ("Type", 16),
    ("Order", 12),
    ("Tags", 20),
    ("Products", 30),
    ("Created", 20),
    ("Updated", 20),
    ("Comments", 10),
)
# Excel's own limit on a cell's text; longer text makes it "repair" the file.
CELL_MAX = 32767
# Characters XML 1.0 cannot hold (openpyxl refuses them): C0 controls but tab, newline and
# carriage return.
NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def text(value):
    """A string cell as Excel will show it: what XML cannot hold dropped, then never a formula
    (the CSV's rule, on what is left), and at most Excel's length; no text is no cell (None)."""
    return safe_cell(NOT_IN_XML.sub("", value))[:CELL_MAX] or None


class ExcelFile:
    """A workbook of one sheet, written row by row into an archive taken a chunk at a time
    (see `export.rows` for the calls)."""

    kind = "Excel"
    suffix = ".xlsx"
    content_type = CONTENT_TYPE

    def __init__(self, zone_name=None):
        self.zone_name = zone_name or settings.DASHBOARD_TIME_ZONE
        self._zone = zoneinfo.ZoneInfo(self.zone_name)
        self._ended = False
        self._out = _Chunks()
        self._archive = zipfile.ZipFile(self._out, "w", zipfile.ZIP_DEFLATED)
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(SHEET_TITLE)
        self._sheet.freeze_panes = "A2"  # the header stays in view
        for number, (_, width) in enumerate(COLUMNS, 1):
            self._sheet.column_dimensions[get_column_letter(number)].width = width
        # The first sheet's part, named as `ExcelWriter` names it (checked in `end`).
        self._part = "xl/worksheets/sheet1.xml"
        entry = zipfile.ZipInfo(self._part, date_time=time.localtime()[:6])
        entry.compress_type = zipfile.ZIP_DEFLATED
        self._entry = self._archive.open(entry, "w")
        # The one place that reaches inside openpyxl (its version is pinned, and the tests
        # read every workbook back): the sheet gets a writer that writes into the archive.
        self._sheet._writer = _StreamedSheet(self._sheet, out=self._entry)
        self._sheet._writer.write_top()  # the columns' widths and the frozen row

    def header(self):
        words = [name for name, _ in COLUMNS]
        words[12:14] = [f"{words[12]} ({self.zone_name})", f"{words[13]} ({self.zone_name})"]
        bold, cells = Font(bold=True), []
        for word in words:
            cells.append(WriteOnlyCell(self._sheet, value=word))
            cells[-1].font = bold
        self._sheet.append(cells)

    def ticket(self, ticket, known, page_names):
        self._sheet.append(_cells(ticket, known, page_names, self._zone))

    def note(self, words):
        self._sheet.append([text(words)])

    def end(self):
        """The sheet's tail, then the workbook's other parts and the archive's directory."""
        self._ended = True
        self._sheet.close()
        self._entry.close()
        ExcelWriter(self._book, _TheRest(self._archive, self._part)).save()

    def take(self):
        return self._out.take()

    def close(self):
        """Finish and drop a workbook that ended early (a cancelled download), so that nothing
        is left to finish itself when it is collected. Nothing of it is on disk."""
        if self._ended:
            return
        self._ended = True
        try:
            if not self._sheet.closed:
                self._sheet.close()
            self._entry.close()
            self._archive.close()
        except Exception:
            logger.warning("an unfinished Excel export did not close", exc_info=True)
        self._out.take()


def _cells(ticket, known, page_names, zone):
    """A ticket's row: labels and names as the list shows them, local times, numbers."""
    people, products = page_names
    return [
        ticket.id,
        text(ticket.subject or ""),
        labels.label(ticket.status) or None,
        labels.label(ticket.priority) or None,
        labels.label(ticket.channel) or None,
        text(_requester(ticket, people)),
        text(ticket.from_email or getattr(people.get(ticket.requester), "email", "")),
        text(_assignee(ticket, known.staff)),
        text(_ticket_type(ticket, known.ticket_types)),
        text(ticket.order or ""),
        text(safe_items(ticket.tags)),
        text(safe_items(_product(p, products) for p in ticket.products)),
        _local(ticket.created_at, zone),
        _local(ticket.updated_at, zone),
        ticket.comment_count,
    ]


def _requester(ticket, people):
    """By name when known; else as the list shows them: their email, or "Customer #id"."""
    if ticket.requester is None:
        return ticket.from_email or ""
    person = people.get(ticket.requester)
    if person is not None:
        return person.name
    return ticket.from_email or f"Customer #{ticket.requester}"


def _assignee(ticket, staff):
    if ticket.assignee is None:
        return "Unassigned"
    agent = staff.get(ticket.assignee)
    return agent.name if agent else f"Agent #{ticket.assignee}"


def _ticket_type(ticket, ticket_types):
    if ticket.ticket_type is None:
        return ""
    found = ticket_types.get(ticket.ticket_type)
    return found.name if found else f"Type #{ticket.ticket_type}"


def _product(product_id, products):
    found = products.get(product_id)
    return found.title if found and found.title else f"Product #{product_id}"


def _local(moment, zone):
    """A spreadsheet's date-time: the wall-clock time in `zone`, with no zone of its own."""
    return moment.astimezone(zone).replace(tzinfo=None) if moment else None


class _StreamedSheet(WorksheetWriter):
    """openpyxl's writer of a write-only sheet, given the sheet's part of the archive to write
    into (its `out`) rather than a temporary file of its own."""

    def cleanup(self):
        pass  # no temporary file to remove


class _TheRest:
    """The archive as openpyxl's `ExcelWriter` sees it: every part goes in, but the sheet's,
    which is in already."""

    def __init__(self, archive, part):
        self._archive = archive
        self._part = part

    def writestr(self, name, data):
        self._archive.writestr(name, data)

    def write(self, source, name):
        if name != self._part:  # a later openpyxl naming its sheet otherwise
            raise RuntimeError(f"the sheet was streamed as {self._part}, not {name}")

    def namelist(self):
        return self._archive.namelist()

    def close(self):
        self._archive.close()


class _Chunks:
    """Where the archive is written: a stream that cannot seek (so every entry's sizes follow
    its data), handed over a chunk at a time."""

    def __init__(self):
        self._parts = []

    def write(self, data):
        self._parts.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def take(self):
        data = b"".join(self._parts)
        self._parts.clear()
        return data
