"""pytest-html hooks: our columns, the evidence block per check, and the summary with the matrix.

Every hook is `optionalhook`, so the plugin loads even where pytest-html is disabled.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.plugin.state import medsec_session
from harness.reporting import html as html_report
from harness.reporting import matrix
from harness.reporting.results import CheckRecord


@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report: Any) -> None:
    medsec = medsec_session(report.config) if hasattr(report, "config") else None
    if medsec is not None:
        report.title = f"medsec-harness: {medsec.profile.device.name}"


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(1, "<th>Check</th>")
    cells.insert(2, "<th>Target</th>")
    cells.insert(3, "<th>Threats</th>")


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: Any, cells: list[str]) -> None:
    record: CheckRecord | None = getattr(report, "medsec_record", None)
    if record is None:
        cells[1:1] = ["<td></td>", "<td></td>", "<td></td>"]
        return
    e = html_report.e
    label = html_report.OUTCOME_LABELS[record.outcome]
    cells[0] = f'<td class="col-result">{e(label)}</td>'
    cells[1:1] = [
        f"<td>{e(record.id)}</td>",
        f"<td>{e(record.target)}</td>",
        f"<td>{e(', '.join(record.threats))}</td>",
    ]


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_html(report: Any, data: list[str]) -> None:
    block = getattr(report, "medsec_html", None)
    if block is not None:
        data.insert(0, block)


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
) -> None:
    medsec = medsec_session(session.config)
    if medsec is None:
        return
    rows = None
    if medsec.threat_model is not None:
        rows = matrix.build(medsec.threat_model, medsec.results.checks, medsec.results.implemented)
    prefix.append(html_report.summary_html(medsec.results, rows, medsec.fingerprint))
