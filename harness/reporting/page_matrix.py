"""The traceability matrix, the firmware timeline, and the summaries per FDA premarket
control category and per IEC 62443-4-2 requirement, for the report page.

A check with many targets shows counts per outcome; its targets are listed in a
`<details>` (open when printed), each linking to its result row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from harness.config import catalogue, references
from harness.config.threatmodel import ThreatModel, load_threat_model
from harness.core.errors import MedsecError
from harness.reporting import matrix
from harness.reporting.page_base import (
    NOT_RECORDED,
    Legend,
    badge,
    count_badges,
    counts_of,
    e,
    when,
)
from harness.reporting.results import CheckRecord, Outcome, RunResults

Entries = dict[str, list[tuple[int, CheckRecord]]]
UNCLASSIFIED = "not classified"  # an imported threat whose source gives no STRIDE category
CODE = re.compile(
    r"\b(?:FDA-[A-Za-z]+|CR \d+\.\d+|EDR \d+\.\d+|EN \d+\.\d+(?:-\d+)?|CWE-\d+|CAPEC-\d+)\b"
)


def entries_by_check(results: RunResults) -> Entries:
    """Each check id's records with their row index on the page."""
    found: Entries = {}
    for index, record in enumerate(results.checks):
        found.setdefault(record.id, []).append((index, record))
    return found


def threat_model_of(results: RunResults) -> tuple[ThreatModel | None, str]:
    """The run's threat model, or why there is none to show."""
    info = results.threat_model
    if info is None:
        return None, "The profile names no threat model: there is no traceability matrix."
    if info.document is not None:
        try:
            return ThreatModel.model_validate(info.document), ""
        except ValidationError as exc:
            return None, (
                "The threat model recorded in results.json does not validate against this "
                f"harness version ({exc.error_count()} problems): no matrix is shown."
            )
    # An older results.json names the file only: use it if it is still the same file.
    path = Path(info.path)
    try:
        same = path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
        if same:
            return load_threat_model(path), ""
    except (OSError, MedsecError):
        pass
    return None, (
        "results.json does not carry the threat model, and the file it names is missing or "
        "has changed since the run (its SHA-256 differs): no matrix is shown."
    )


def _sets(results: RunResults) -> tuple[list[str] | None, list[str] | None]:
    return results.implemented or None, results.selected or None


def _status_word(status: matrix.CellStatus) -> str:
    return f'<span class="st">{status.value}</span>'


def _targets(entries: list[tuple[int, CheckRecord]]) -> str:
    """One target: its outcome; several: counts, expandable to each target's outcome."""
    if len(entries) == 1:
        index, record = entries[0]
        return f'{badge(record.outcome)} <a href="#r-{index}">{e(record.target)}</a>'
    totals = count_badges(counts_of(r.outcome for _, r in entries))
    items = "".join(
        f'<li><a href="#r-{i}">{e(r.target)}</a> <span class="w-{r.outcome.value}">'
        f"{r.outcome.value.replace('_', ' ')}</span></li>"
        for i, r in entries
    )
    return (
        f"<details><summary>{totals} <span class=muted>{len(entries)} targets</span></summary>"
        f'<ul class="targets">{items}</ul></details>'
    )


def result_cell(cell: matrix.CheckCell, entries: list[tuple[int, CheckRecord]]) -> str:
    if entries:
        return _targets(entries)
    return _status_word(cell.status)


def matrix_section(
    results: RunResults, model: ThreatModel | None, why_not: str, entries: Entries
) -> str:
    if model is None:
        return f"<p>{e(why_not)}</p>"
    implemented, selected = _sets(results)
    rows = matrix.build(model, results.checks, implemented, selected)
    flagged = sum(1 for r in rows if r.coverage.flagged)
    parts = [
        f"<p>{len(rows)} threats of <b>{e(model.system)}</b>"
        f"{' version ' + e(model.version) if model.version else ''}; {flagged} flagged "
        "(&#9873;: a check failed or could not decide, no named check that applies ran, or "
        "no check can show the controls).</p>"
    ]
    if implemented is None:
        parts.append(
            "<p class=muted>This results.json does not record which checks the harness "
            "implemented and which the run selected: a check without results is "
            "&ldquo;not run&rdquo;.</p>"
        )
    parts.append(
        '<table class="matrix fixed"><thead><tr><th>Threat</th><th>STRIDE / CAPEC</th>'
        "<th>Coverage</th><th>Control</th><th>Check</th><th>Result</th></tr></thead>"
    )
    for row in rows:
        parts.append(_threat_rows(row, entries))
    parts.append("</table>")
    return "".join(parts)


def _threat_rows(row: matrix.ThreatRow, entries: Entries) -> str:
    lines = [(c, cell) for c in row.controls for cell in (c.checks or (None,))]
    css = f"cov-{row.coverage.value.replace(' ', '-')}"
    flag = ' <span class="flag">&#9873;</span>' if row.coverage.flagged else ""
    out = [f'<tbody class="{css}">']
    previous = None
    for index, (control_row, cell) in enumerate(lines):
        cells = []
        if index == 0:
            span = f' rowspan="{len(lines)}"'
            threat = row.threat
            stride = threat.stride or UNCLASSIFIED
            cells += [
                f'<td{span} id="t-{e(threat.id)}"><b>{e(threat.id)}</b> {e(threat.title)}</td>',
                f"<td{span}>{e(stride)}<br>{', '.join(e(c) for c in threat.capec)}</td>",
                f'<td{span} class="cov">{e(row.coverage.value)}{flag}</td>',
            ]
        control = control_row.control
        if control is not previous:
            span = f' rowspan="{max(1, len(control_row.checks))}"'
            cells.append(f"<td{span}><b>{e(control.id)}</b> {e(control.title)}</td>")
            previous = control
        if cell is None:
            why = control.rationale or "no check can show this control from outside the device"
            cells.append(f'<td colspan="2" class="flag">no check: {e(why)}</td>')
        else:
            cells.append(f"<td><b>{e(cell.check_id)}</b> {e(cell.title)}</td>")
            cells.append(f"<td>{result_cell(cell, entries.get(cell.check_id, []))}</td>")
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody>")
    return "".join(out)


def headline_section(results: RunResults, model: ThreatModel | None, entries: Entries) -> str:
    """A banner and table of the threats the source marks mitigated whose checks failed
    (empty when there are none): the first thing a reviewer must see."""
    if model is None:
        return ""
    implemented, selected = _sets(results)
    rows = matrix.mitigated_but_failing(matrix.build(model, results.checks, implemented, selected))
    if not rows:
        return ""
    lines = []
    for row in rows:
        threat, source = row.threat, row.threat.provenance
        assert source is not None  # mitigated_but_failing keeps imported threats only
        failing = []
        for cell in row.cells:
            failed = [
                (i, r) for i, r in entries.get(cell.check_id, []) if r.outcome is Outcome.FAILED
            ]
            if failed:
                targets = ", ".join(f'<a href="#r-{i}">{e(r.target)}</a>' for i, r in failed)
                failing.append(f"<li><b>{e(cell.check_id)}</b> {e(cell.title)}: {targets}</li>")
        lines.append(
            f'<tr><td><a href="#t-{e(threat.id)}"><b>{e(threat.id)}</b></a> {e(threat.title)}</td>'
            f"<td>{e(source.format)} <code>{e(source.source_id)}</code><br>status "
            f"&ldquo;{e(source.status or 'mitigated')}&rdquo; in {e(source.file)}</td>"
            f'<td><ul class="cl">{"".join(dict.fromkeys(failing))}</ul></td></tr>'
        )
    count = len(rows)
    return (
        f'<div class="headline"><p class="banner">&#9888; Headline: {count} '
        f"threat{'s' if count != 1 else ''} the threat model marks mitigated "
        f"{'fail' if count != 1 else 'fails'} a check mapped to "
        f"{'them' if count != 1 else 'it'}: the source claims a control this run shows "
        "missing or broken.</p>"
        '<table class="plain fixed"><tr><th>Threat</th><th>Marked mitigated by</th>'
        f"<th>Failed checks and targets</th></tr>{''.join(lines)}</table></div>"
    )


def threat_capec(model: ThreatModel | None) -> Iterable[str]:
    return [code for t in model.threats for code in t.capec] if model else []


def firmware_timeline(results: RunResults) -> str:
    profiled = str(results.device.profiled.get("firmware") or "")
    if not results.firmware:
        return (
            f"<p>Profiled firmware {e(profiled or NOT_RECORDED)}. "
            "No firmware readings are recorded in this results.json.</p>"
        )
    rows = []
    for reading in results.firmware:
        if reading.version is None:
            version = '<span class="flag">not read</span>'
        elif profiled and reading.version != profiled:
            version = f'<span class="flag">{e(reading.version)} &#8800; profiled</span>'
        else:
            version = e(reading.version)
        rows.append(
            f"<tr><td>{when(reading.at)}</td><td>{version}</td><td>{e(reading.source)}</td>"
            f"<td>{e(reading.note)}</td></tr>"
        )
    return (
        f"<p>Profiled firmware <b>{e(profiled or NOT_RECORDED)}</b>; every reading of the "
        "running version, in order (at the start, after each image delivered, at the end):</p>"
        '<table class="plain"><tr><th>Time</th><th>Version read</th><th>When</th>'
        f"<th>Note</th></tr>{''.join(rows)}</table>"
    )


def _checks_for(code: str, results: RunResults) -> list[str]:
    ids = {s.id for s in catalogue.CATALOGUE.values() if code in s.standards}
    ids.update(r.id for r in results.checks if code in r.standards)
    return sorted(ids)


def category_table(
    title: str, codes: dict[str, str], results: RunResults, entries: Entries, legend: Legend
) -> str:
    implemented, selected = _sets(results)
    known = None if implemented is None else set(implemented)
    chosen = None if selected is None else set(selected)
    rows = []
    for code, name in codes.items():
        legend.add([code])
        ids = _checks_for(code, results)
        lines = []
        records: list[CheckRecord] = []
        for check_id in ids:
            found = entries.get(check_id, [])
            records += [r for _, r in found]
            spec = catalogue.CATALOGUE.get(check_id)
            label = f"{e(check_id)} {e(spec.title) if spec else ''}"
            if found:
                first = found[0][0]
                shown = count_badges(counts_of(r.outcome for _, r in found))
                lines.append(f'<li><a href="#r-{first}">{label}</a> {shown}</li>')
            elif spec is not None:
                status = matrix.cell(check_id, [], known, chosen).status
                lines.append(f"<li>{label} {_status_word(status)}</li>")
        body = (
            f'<ul class="cl">{"".join(lines)}</ul>'
            if lines
            else '<span class="muted">no check of this harness gives evidence for it</span>'
        )
        totals = count_badges(counts_of(r.outcome for r in records)) or (
            '<span class="muted">none ran</span>' if ids else ""
        )
        rows.append(
            f"<tr><td><b>{e(code)}</b></td><td>{e(name)}</td><td>{body}</td><td>{totals}</td></tr>"
        )
    return (
        f"<h3>{title}</h3>"
        '<table class="plain cat fixed"><tr><th>Code</th><th>Requirement</th>'
        "<th>Checks giving evidence</th><th>Outcomes</th></tr>"
        f"{''.join(rows)}</table>"
    )


def categories_section(results: RunResults, entries: Entries, legend: Legend) -> str:
    not_testable = "".join(f"<li>{e(item)}</li>" for item in catalogue.NOT_TESTABLE)
    for item in catalogue.NOT_TESTABLE:
        legend.add(CODE.findall(item))
    return (
        category_table(
            "FDA premarket cybersecurity guidance, Appendix 1: security control categories",
            references.FDA_CATEGORIES,
            results,
            entries,
            legend,
        )
        + category_table(
            "IEC 62443-4-2 component requirements (CR) and embedded device requirements (EDR)",
            references.IEC_62443_4_2,
            results,
            entries,
            legend,
        )
        + "<h3>Not tested from outside the device</h3>"
        + "<p>What no check of this harness can show from outside; evidence for these comes "
        + f"from elsewhere in the submission.</p><ul>{not_testable}</ul>"
    )
