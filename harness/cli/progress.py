"""Live progress for `medsec run`: one line per finished check, a bar, a closing table."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.core.terminal import markup_safe
from harness.plugin.state import medsec_session
from harness.reporting.results import CheckRecord, Outcome, RunResults

STYLES = {
    Outcome.PASSED: "green",
    Outcome.FAILED: "bold red",
    Outcome.ERROR: "bold yellow",
    Outcome.NOT_APPLICABLE: "dim",
    Outcome.WAIVED: "magenta",
}


class ProgressReporter:
    """A pytest plugin object the CLI registers in place of pytest's terminal output."""

    def __init__(self, console: Console, *, live: bool) -> None:
        self.console = console
        self.live = live
        self.progress: Progress | None = None
        self.task: Any = None
        self.problems: list[str] = []
        self.config: pytest.Config | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.live:
            return
        self.progress = Progress(
            TextColumn("[bold]checking"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("checks", total=len(session.items))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.problems.append(f"collection error in {report.nodeid}: {report.longreprtext}")
            self.console.print(
                f"[bold red]collection error[/] {markup_safe(report.nodeid)}\n"
                + markup_safe(report.longreprtext, keep_newlines=True),
                markup=True,
                highlight=False,
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        if self.progress is not None:
            self.progress.advance(self.task)
        medsec = medsec_session(self.config) if self.config else None
        records = medsec.results.checks if medsec else []
        record = next((r for r in reversed(records) if r.nodeid == report.nodeid), None)
        if record is not None and self.live:
            self.console.print(line(record), highlight=False)

    def pytest_sessionfinish(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def line(record: CheckRecord) -> str:
    style = STYLES[record.outcome]
    reason = record.reason if len(record.reason) < 110 else record.reason[:107] + "..."
    return (
        f"[{style}]{record.outcome.value:>14}[/] {markup_safe(record.id):<11} "
        f"{markup_safe(record.target):<14} [dim]{record.duration_s:6.2f}s[/]  "
        + markup_safe(reason)
    )


def firmware_notes(results: RunResults) -> list[str]:
    """Warnings a reader must not miss: checks that ran on another firmware than profiled."""
    profiled = str(results.device.profiled.get("firmware") or "")
    other = [c for c in results.checks if c.firmware is not None and c.firmware != profiled]
    if not other or not profiled:
        return []
    versions = ", ".join(sorted({markup_safe(c.firmware or "") for c in other}))
    return [
        f"{len(other)} check(s) ran on firmware {versions}, not the profiled "
        f"{markup_safe(profiled)} (see the report's firmware column)"
    ]


def summary_table(results: RunResults) -> Table:
    """Per family, how many checks ended how."""
    table = Table(title="medsec run summary", show_lines=False)
    table.add_column("family")
    for outcome in Outcome:
        table.add_column(outcome.value, justify="right", style=STYLES[outcome])
    families = sorted({c.family for c in results.checks})
    for family in families:
        counts = [
            sum(1 for c in results.checks if c.family == family and c.outcome is o) for o in Outcome
        ]
        table.add_row(family, *(str(n) if n else "" for n in counts))
    return table
