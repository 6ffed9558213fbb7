"""Rendering a run as HTML: the fragments the pytest-html report shows.

Every string that came from the device (banners, replies, transcripts, reasons) passes
through `html.escape` here and nowhere else; pytest-html inserts these fragments as HTML.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from harness.config import catalogue
from harness.evidence.recorder import Artifact
from harness.reporting.matrix import CellStatus, ThreatRow
from harness.reporting.results import CheckRecord, Outcome, RunResults

OUTCOME_LABELS = {
    Outcome.PASSED: "Passed",
    Outcome.FAILED: "Failed",
    Outcome.ERROR: "Error",
    Outcome.NOT_APPLICABLE: "Not applicable",
    Outcome.WAIVED: "Waived",
}

STYLE = """<style>
.medsec{font-family:Helvetica,Arial,sans-serif;white-space:normal;font-size:13px;color:#222}
.medsec table{border-collapse:collapse;margin:6px 0 14px}
.medsec th,.medsec td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
.medsec th{background:#f0f0f0}
.medsec pre{white-space:pre-wrap;word-break:break-all;background:#fafafa;border:1px solid #e6e6e6;
 padding:6px;font-family:monospace;font-size:12px}
.medsec .o{padding:1px 6px;border-radius:3px;color:#fff;font-weight:bold;white-space:nowrap}
.o-passed{background:#2e7d32}.o-failed{background:#c62828}.o-error{background:#ef6c00}
.o-not_applicable{background:#757575}.o-waived{background:#6a1b9a}.o-none{background:#bdbdbd;color:#333}
.c-failed{background:#ffebee}.c-not-covered,.c-no-check{background:#fff8e1}
.medsec .flag{color:#c62828;font-weight:bold}
.medsec details{margin:4px 0}
</style>"""


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pre(text: str) -> str:
    # No raw newlines: pytest-html colours every log line starting with "E".
    return "<pre>" + e(text).replace("\r", "&#13;").replace("\n", "&#10;") + "</pre>"


def badge(outcome: Outcome | None) -> str:
    if outcome is None:
        return '<span class="o o-none">not run</span>'
    return f'<span class="o o-{outcome.value}">{e(OUTCOME_LABELS[outcome])}</span>'


def check_block(record: CheckRecord, artifacts: Iterable[Artifact]) -> str:
    """The evidence of one check, shown when its row in the results table is expanded."""
    parts = [
        '<div class="medsec">',
        f"<p><b>{e(record.id)}</b> {e(record.title)} &mdash; target <b>{e(record.target)}</b> "
        f"{badge(record.outcome)}</p>",
        f"<p><b>Reason:</b> {e(record.reason)}</p>" if record.reason else "",
    ]
    if record.waiver:
        parts.append(
            f"<p><b>Waiver</b> ({'applied' if record.waiver.applied else 'not applied'}, "
            f"expires {e(record.waiver.expires)}): {e(record.waiver.justification)} "
            f"{e(record.waiver.note)}; underlying result {badge(record.underlying_outcome)}</p>"
        )
    parts.append(
        "<table><tr><th>Threats</th><th>Controls</th><th>Standards</th><th>CWE / CAPEC</th></tr>"
        f"<tr><td>{e(', '.join(record.threats) or '-')}</td>"
        f"<td>{e(', '.join(record.controls) or '-')}</td>"
        f"<td>{e(', '.join(record.standards))}</td>"
        f"<td>{e(', '.join(record.cwe + record.capec))}</td></tr></table>"
    )
    if record.summary:
        parts.append("<p><b>Summary</b></p>" + _pre("\n".join(record.summary)))
    for artifact in artifacts:
        link = f'<a href="{e(artifact.path)}">{e(artifact.path)}</a>'
        if artifact.inline is None:
            parts.append(f"<p>{e(artifact.title)}: {link}</p>")
        else:
            parts.append(
                f"<details><summary>{e(artifact.title)} ({link})</summary>"
                f"{_pre(artifact.inline)}</details>"
            )
    parts.append("</div>")
    return "".join(parts)


def summary_html(results: RunResults, rows: tuple[ThreatRow, ...] | None, fingerprint: str) -> str:
    """Identity, outcome counts, the traceability matrix and the "not tested" list."""
    device = results.device
    identity = "".join(
        f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>"
        for k, v in [
            *((f"device {k}", v) for k, v in device.profiled.items() if v is not None),
            *((f"observed {k}", v) for k, v in device.observed.items()),
            ("profile", f"{results.profile.path} (sha256 {results.profile.sha256})"),
            (
                "harness",
                f"medsec-harness {results.harness.version}, Python {results.harness.python}",
            ),
            ("run", f"{results.started} to {results.finished or '(running)'}: {results.status}"),
            ("evidence signing key", fingerprint),
        ]
    )
    counts = results.counts()
    count_cells = "".join(f"<td>{badge(Outcome(k))} {v}</td>" for k, v in counts.items() if v)
    parts = [
        STYLE,
        '<div class="medsec">',
        "<h2>Device and run</h2>",
        f"<table>{identity}</table>",
        f"<table><tr>{count_cells or '<td>no checks finished</td>'}</tr></table>",
    ]
    if results.status == "interrupted":
        parts.append(
            f'<p class="flag">The run was interrupted: {len(results.checks)} results recorded, '
            f"{len(results.not_run)} checks did not finish.</p>"
        )
    parts.append(
        _matrix_html(rows)
        if rows is not None
        else "<p>No threat model in the profile: no traceability matrix.</p>"
    )
    parts.append(_waivers_html(results.checks))
    parts.append(
        "<h2>Not tested from outside the device</h2><ul>"
        + "".join(f"<li>{e(item)}</li>" for item in catalogue.NOT_TESTABLE)
        + "</ul></div>"
    )
    return "".join(parts)


def _matrix_html(rows: tuple[ThreatRow, ...]) -> str:
    flagged = [r for r in rows if r.coverage.flagged]
    head = (
        "<h2>Traceability matrix</h2>"
        f"<p>{len(rows)} threats; {len(flagged)} flagged (failed, not covered, or no check "
        "names them).</p><table><tr><th>Threat</th><th>STRIDE / CAPEC</th><th>Coverage</th>"
        "<th>Control</th><th>Check</th><th>Outcome</th></tr>"
    )
    body = []
    for row in rows:
        lines = [(c, cell) for c in row.controls for cell in (c.checks or (None,))]
        css = f' class="c-{row.coverage.value.replace(" ", "-")}"'
        flag = ' <span class="flag">&#9873;</span>' if row.coverage.flagged else ""
        previous_control = None
        for index, (control_row, cell) in enumerate(lines):
            cells = []
            if index == 0:
                span = f' rowspan="{len(lines)}"'
                stride = row.threat.stride or "not classified"
                cells += [
                    f"<td{span}><b>{e(row.threat.id)}</b> {e(row.threat.title)}</td>",
                    f"<td{span}>{e(stride)}<br>{e(', '.join(row.threat.capec))}</td>",
                    f"<td{span}>{e(row.coverage.value)}{flag}</td>",
                ]
            control = control_row.control
            if control is not previous_control:
                span = f' rowspan="{max(1, len(control_row.checks))}"'
                cells.append(f"<td{span}><b>{e(control.id)}</b> {e(control.title)}</td>")
                previous_control = control
            if cell is None:
                why = control.rationale or "no check can show this control"
                cells.append(f'<td colspan="2" class="flag">no check: {e(why)}</td>')
            else:
                note = "" if cell.status is CellStatus.RAN else f" ({cell.status.value})"
                cells.append(f"<td>{e(cell.check_id)} {e(cell.title)}{e(note)}</td>")
                targets = (
                    "".join(
                        f"<br>{e(target)}: {badge(outcome)}" for target, outcome in cell.targets
                    )
                    if len(cell.targets) > 1
                    else ""
                )
                cells.append(f"<td>{badge(cell.outcome)}{targets}</td>")
            body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return head + "".join(body) + "</table>"


def _waivers_html(checks: list[CheckRecord]) -> str:
    waived = [c for c in checks if c.waiver is not None]
    if not waived:
        return ""
    rows = "".join(
        f"<tr><td>{e(c.id)}</td><td>{e(c.target)}</td><td>{badge(c.outcome)}</td>"
        f"<td>{badge(c.underlying_outcome)}</td><td>{e(c.waiver.justification)}</td>"
        f"<td>{e(c.waiver.expires)}{' (expired)' if not c.waiver.applied else ''}</td></tr>"
        for c in waived
        if c.waiver is not None
    )
    return (
        "<h2>Waivers</h2><table><tr><th>Check</th><th>Target</th><th>Outcome</th>"
        f"<th>Underlying</th><th>Justification</th><th>Expires</th></tr>{rows}</table>"
    )
