"""Exports of SPREADSHEET_ROWS tickets as Excel and as CSV: the memory and the time the
dashboard spends writing each, through the view, under gunicorn.

"Download Excel" writes its workbook as it streams, holding one page of rows and the
compressor's window, never the file. This phase measures that against the CSV beside it, in an
environment of its own: a sandbox of SPREADSHEET_ROWS tickets that answers at once and sets no
limit, and a dashboard that paces nothing (`STORE_RATE_LIMIT=0`) and looks no name up. So the
time is the dashboard's own work, walking 200 pages and writing the rows; how the budget paces
an export's walk among people is the export phase's measure.

Each kind is served by a gunicorn of its own (one worker, its own shared state, so that
neither reads the pages the other's walk cached). A small export of each kind warms it first
(the imports, openpyxl's among them, and the agents and ticket types the filter form asks
for). Then the worker's resident high-water mark is reset (`5` written to
`/proc/PID/clear_refs`) and its resident size read, the whole file is downloaded as a browser
saves it, and the worker's peak above that size is its **peak memory while streaming**, beside
the seconds to the first and the last byte and the CPU seconds the worker spent. The workbook
is then opened with openpyxl and checked: every row, real dates, the list's labels, a frozen
header.

`DJANGO_DEBUG=1 .venv/bin/python -m tools.bench.spreadsheet` runs this phase alone (under a
minute).
"""

import contextlib
import io
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import requests

from tools.processes import Gunicorn

from .clients import CountedSandbox, sign_in
from .plan import THREADS, VIEW_TIMEOUT
from .report import Check, measure_table

SPREADSHEET_ROWS = 5000  # EXPORT_MAX_ROWS, so both files are whole
WARM_UP = "status=closed&priority=high&channel=api"  # a few rows of each kind first
KINDS = (("CSV", "tickets.csv"), ("Excel", "tickets.xlsx"))
TARGET_EXCEL_PEAK_MB = 8.0  # above the worker as it was: a page of rows, never the file


@dataclass
class Streamed:
    """One file downloaded whole, and what the worker spent on it."""

    kind: str
    status: int = 0
    rows: int = 0
    size: int = 0  # bytes
    first_byte: float = 0.0  # seconds from the request to the file's first bytes
    seconds: float = 0.0  # to its last byte
    cpu: float = 0.0  # the worker's CPU seconds meanwhile
    resident_before: float = 0.0  # MB, the worker's resident size as the download began
    peak: float = 0.0  # MB above that, at most, while it streamed
    problems: list = field(default_factory=list)  # what the file's check found wrong

    @property
    def whole(self):
        return self.status == 200 and self.rows == SPREADSHEET_ROWS and not self.problems


@dataclass
class SpreadsheetResult:
    files: dict  # kind -> Streamed

    @property
    def excel(self):
        return self.files["Excel"]


def measure(write, logs):
    """This phase from start to stop, in an environment of its own."""
    from . import run

    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-xlsx-")))
        write(f"Spreadsheets: a sandbox of {SPREADSHEET_ROWS} tickets, one worker ...")
        sandbox = stack.enter_context(
            CountedSandbox(
                "--rate-limit", "0", "--latency-ms", "0", "--tickets", str(SPREADSHEET_ROWS),
                token=secrets.token_urlsafe(24), log_path=logs / "sandbox-spreadsheet.log",
            )
        )  # fmt: skip
        env, credentials = run.prepare(root, sandbox)
        files = {}
        for kind, path in KINDS:
            write(f"Spreadsheets: {kind} of {SPREADSHEET_ROWS} rows ...")
            # A dashboard of its own for each, so that neither reads the pages the other's
            # walk left in the shared cache.
            django_env = {
                **env.django_env(root / f"state-{kind}"),
                "STORE_RATE_LIMIT": "0",
                "STORE_NAME_LOOKUPS_PER_MINUTE": "0",
                "EXPORT_MAX_ROWS": str(SPREADSHEET_ROWS),
            }
            with Gunicorn(
                django_env,
                "--workers", "1", "--threads", str(THREADS), "--worker-class", "gthread",
                log_path=logs / "gunicorn-spreadsheet.log",
            ) as dashboard:  # fmt: skip
                worker = _worker_of(dashboard.process.popen.pid)
                cookies = sign_in(dashboard.url, *credentials)
                for _, warm in KINDS:  # the same imports and names before either is measured
                    _download(f"{dashboard.url}/{warm}?{WARM_UP}", cookies)
                files[kind] = _streamed(kind, f"{dashboard.url}/{path}", cookies, worker)
    return SpreadsheetResult(files)


def _streamed(kind, url, cookies, worker):
    result = Streamed(kind)
    _reset_peak(worker)
    result.resident_before = _status_mb(worker, "VmRSS")
    cpu = _cpu_seconds(worker)
    result.status, body, result.first_byte, result.seconds = _download(url, cookies)
    result.cpu = _cpu_seconds(worker) - cpu
    result.peak = _status_mb(worker, "VmHWM") - result.resident_before
    result.size = len(body)
    if result.status != 200:
        result.problems.append(f"HTTP {result.status}")
    elif kind == "Excel":
        result.rows = _check_workbook(body, result.problems)
    else:
        result.rows = _check_csv(body, result.problems)
    return result


def _download(url, cookies):
    """(status, body, seconds to the first bytes, seconds to the last)."""
    start = time.perf_counter()
    first, body = 0.0, io.BytesIO()
    with requests.get(url, cookies=cookies, stream=True, timeout=VIEW_TIMEOUT) as response:
        for chunk in response.iter_content(chunk_size=None):
            first = first or time.perf_counter() - start
            body.write(chunk)
        status = response.status_code
    return status, body.getvalue(), first, time.perf_counter() - start


def _check_workbook(body, problems):
    """The workbook's ticket rows, as openpyxl reads them; what is wrong goes to `problems`."""
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(body))["Tickets"]
    except Exception as exc:  # any way it fails to open is the finding
        problems.append(f"does not open: {exc}")
        return 0
    rows = list(sheet.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    if data and str(data[-1][0]).startswith("#"):  # a note ends a file that stopped early
        problems.append(data.pop()[0])
    if header[:3] != ("ID", "Subject", "Status") or not str(header[12]).startswith("Created ("):
        problems.append(f"header {header!r}")
    if sheet.freeze_panes != "A2":
        problems.append(f"frozen at {sheet.freeze_panes!r}, not A2")
    if not all(isinstance(row[12], datetime) and isinstance(row[13], datetime) for row in data):
        problems.append("a time that is not a date")
    codes = {str(value) for row in data for value in (row[2], row[4]) if value is not None}
    if any("_" in code or not code[:1].isupper() for code in codes):  # on_hold, not On hold
        problems.append(f"statuses and channels {sorted(codes)}")
    return len(data)


def _check_csv(body, problems):
    import csv

    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    header, data = rows[0], rows[1:]
    if header[:1] != ["id"]:
        problems.append(f"header {header[:3]!r}")
    if data and data[-1][0].startswith("#"):
        problems.append(data.pop()[0])
    return len(data)


# --- The worker, from /proc ----------------------------------------------------------------


def _worker_of(master_pid):
    """gunicorn's one worker: the master's child."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == master_pid:
                    children.append(int(entry))
    if len(children) != 1:
        raise RuntimeError(f"gunicorn {master_pid} has {len(children)} workers, not one")
    return children[0]


def _reset_peak(pid):
    """From now on, the process's resident high-water mark counts afresh (Linux 4.0 and
    later)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _status_mb(pid, name):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {name} for process {pid}")


def _cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- Report ------------------------------------------------------------------------------


def _file(s):
    return f"{s.rows}/{SPREADSHEET_ROWS} rows" + (
        " (whole)" if s.whole else f" ({'; '.join(s.problems) or 'short'})"
    )


MEASURES = (
    ("file answered", lambda s: f"HTTP {s.status}, {_file(s)}", "whole"),
    ("  size, kB", lambda s: f"{s.size / 1024:.0f}", ""),
    ("  first bytes of the file, s", lambda s: f"{s.first_byte:.2f}", ""),
    ("  the whole file, s", lambda s: f"{s.seconds:.1f}", ""),
    ("  the worker's CPU, s", lambda s: f"{s.cpu:.2f}", ""),
    ("worker's resident size before, MB", lambda s: f"{s.resident_before:.1f}", ""),
    ("peak memory while streaming, MB above it", lambda s: f"{s.peak:.1f}",
     f"Excel <= {TARGET_EXCEL_PEAK_MB:g}"),
)  # fmt: skip


def table(result):
    return measure_table(
        f"Exports of {SPREADSHEET_ROWS:,} tickets, Excel beside CSV: one gunicorn worker, a "
        "store that answers at once and a dashboard that paces nothing",
        [(kind, result.files[kind]) for kind, _ in KINDS],
        MEASURES,
    )


def checks(result):
    excel = result.excel
    return [
        Check(
            f"an Excel export of {SPREADSHEET_ROWS:,} tickets opens whole, with dates, labels "
            "and a frozen header",
            excel.whole,
            _file(excel),
        ),
        Check(
            f"peak memory while streaming it <= {TARGET_EXCEL_PEAK_MB:g} MB above the worker",
            excel.status == 200 and excel.peak <= TARGET_EXCEL_PEAK_MB,
            f"{excel.peak:.1f} MB in {excel.seconds:.1f} s (the CSV: "
            f"{result.files['CSV'].peak:.1f} MB in {result.files['CSV'].seconds:.1f} s)",
        ),
    ]


# --- This phase alone --------------------------------------------------------------------


def smoke(write=print):
    with tempfile.TemporaryDirectory(prefix="bench-xlsx-logs-") as logs:
        result = measure(write, Path(logs))
    write("\n" + table(result).text() + "\n")
    for check in checks(result):
        write(check.line())
    return result


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    smoke()
