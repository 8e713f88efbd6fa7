"""`make bench` writes its run into `docs/benchmarks.md` (`tools/bench/report.py`): tried on
made-up figures here, since a real run takes ten minutes of both cores."""

import os
from datetime import UTC, datetime
from pathlib import Path

from tools.bench import report

DOCS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def made_up_run():
    tables = [
        report.Table(
            "Dashboard vs direct API (made up)",
            ["measure", "1 worker", "target"],
            [["first view / direct", "1.23x", "<= 1.10x"], ["peak upstream calls", 4, "<= 4"]],
        )
    ]
    checks = [
        report.Check("first view / direct <= 1.10x", False, "1 worker 1.23x"),
        report.Check("peak upstream calls <= 4", True, "1 worker 4"),
    ]
    return tables, checks


def made_up_block(seconds=601.4):
    tables, checks = made_up_run()
    return report.docs_block(report.header(2.5, 0.5, now=WHEN), tables, checks, seconds)


def test_the_run_names_the_command_the_date_the_cores_and_the_figures():
    tables, _ = made_up_run()
    block = made_up_block()

    assert block.startswith(report.DOCS_START) and block.endswith(report.DOCS_END)
    assert "`make bench`, 2026-12-01 09:30 UTC, on " in block
    assert f"on {os.cpu_count()} cores (" in block
    assert "Load average before / after: 2.50 / 0.50." in block
    assert "The whole run took 601 s." in block
    assert "```text\n" + tables[0].text() + "\n" in block
    assert "FAIL  first view / direct <= 1.10x: 1 worker 1.23x" in block
    assert "PASS  peak upstream calls <= 4: 1 worker 4" in block
    assert "MISSED 1 target(s): first view / direct <= 1.10x" in block


def test_a_run_takes_the_place_of_the_last_and_keeps_the_page_around_it(tmp_path):
    page = tmp_path / "benchmarks.md"
    before = "# Benchmarks\n\nWhat is measured, written by hand.\n\n"
    after = "\n\n## What the figures mean\n\nAlso by hand.\n"
    old = f"{report.DOCS_START}\n\n```text\nfirst view / direct  9.99x\n```\n\n{report.DOCS_END}"
    page.write_text(before + old + after)

    report.write_docs(page, made_up_block())
    assert page.read_text() == before + made_up_block() + after

    report.write_docs(page, made_up_block(seconds=42))  # and again, once more in its place
    assert page.read_text() == before + made_up_block(seconds=42) + after


def test_a_page_without_the_markers_gets_the_run_at_its_end(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nBy hand.\n\n")
    report.write_docs(page, made_up_block())
    assert page.read_text() == "# Benchmarks\n\nBy hand.\n\n" + made_up_block() + "\n"


def test_a_missing_page_is_started(tmp_path):
    page = tmp_path / "docs" / "benchmarks.md"
    report.write_docs(page, made_up_block())
    assert page.read_text() == "# Benchmarks\n\n" + made_up_block() + "\n"


def test_the_documentation_has_one_place_for_the_run():
    text = DOCS_PAGE.read_text()
    assert text.count(report.DOCS_START) == 1 and text.count(report.DOCS_END) == 1
    assert text.index(report.DOCS_START) < text.index(report.DOCS_END)
