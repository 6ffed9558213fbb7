"""The parts of the report page only a merged run has (`medsec merge`): a section per
device, and the traceability matrix with one result column per device.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from harness.config.threatmodel import ThreatModel
from harness.reporting import matrix
from harness.reporting.page_base import (
    OUTCOME_ORDER,
    badge,
    counts_of,
    e,
    when,
)
from harness.reporting.page_matrix import Entries, result_cell
from harness.reporting.results import MergedDevice, Outcome, RunResults

_OPEN = (Outcome.FAILED, Outcome.ERROR)


def _link(run_dir: Path, page_dir: Path, relative: str, text: str) -> str:
    base = os.path.relpath(run_dir.resolve(), page_dir.resolve())
    joined = relative if base == "." else f"{base}/{relative}"
    return f'<a href="{e(urllib.parse.quote(joined, safe="/"))}">{e(text)}</a>'


def _device(results: RunResults, device: MergedDevice, run_dir: Path, page_dir: Path) -> str:
    records = [r for r in results.checks if r.device == device.key]
    totals = counts_of(r.outcome for r in records)
    still_open = sum(1 for r in records if r.outcome in _OPEN)
    observed = "; ".join(f"{k}: {v}" for k, v in device.device.observed.items())
    profiled = ", ".join(
        f"{k} {v}" for k, v in device.device.profiled.items() if v is not None and k != "name"
    )
    verdict = (
        f'<p class="verdict v-open">{still_open} open findings</p>'
        if still_open
        else '<p class="verdict v-none">No open findings</p>'
    )
    if device.status != "complete":
        verdict = f'<p class="banner">&#9888; This run is {e(device.status)}.</p>' + verdict
    counts = "".join(f"<td><b>{totals[o]}</b>{badge(o)}</td>" for o in OUTCOME_ORDER)
    model = device.threat_model
    rows = [
        ("Device", e(device.name)),
        ("Profiled", e(profiled)),
        ("Observed", e(observed) or "-"),
        ("Run", f"{when(device.started)} to {when(device.finished)}, {e(device.status)}"),
        ("Harness", e(device.harness_version)),
        ("Threat model", e(f"{model.system} ({model.sha256[:16]}…)") if model else "none"),
        ("Profile", e(f"{device.profile.path} (SHA-256 {device.profile.sha256[:16]}…)")),
        (
            "Its own run folder",
            _link(run_dir, page_dir, f"{device.folder}/report.html", "report")
            + " &middot; "
            + _link(run_dir, page_dir, f"{device.folder}/", device.folder)
            + f" &middot; copied from {e(device.source)}",
        ),
        (
            "Source manifest",
            f"SHA-256 <code>{e(device.manifest_sha256)}</code>, signed by "
            f"<code>{e(device.key_fingerprint)}</code> (verified before merging)",
        ),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        f'<section class="device" id="d-{e(device.key)}" data-device="{e(device.key)}">'
        f"<h3>{e(device.name)} <span class=muted>({e(device.key)})</span></h3>{verdict}"
        f'<table class="counts"><tr>{counts}<td><b>{len(records)}</b>check records</td></tr>'
        f'</table><table class="kv">{table}</table></section>'
    )


def devices_section(results: RunResults, run_dir: Path, page_dir: Path) -> str:
    """One part per source run: identity, verdict, counts, its own report and manifest."""
    total_open = sum(1 for r in results.checks if r.outcome in _OPEN)
    head = (
        f"<p>{len(results.devices)} runs merged; {total_open} open findings across them. "
        "Each run's folder is copied whole under <code>devices/</code>, with its own report "
        "and signed manifest; this folder's manifest lists their manifests' digests.</p>"
    )
    if results.status != "complete":
        head += (
            f'<p class="banner">&#9888; Not every merged run is complete ({e(results.status)}):'
            " absent results are not passes.</p>"
        )
    return head + "".join(_device(results, d, run_dir, page_dir) for d in results.devices)


def _entries_of(entries: Entries, key: str) -> Entries:
    return {
        check: [(i, r) for i, r in found if r.device == key] for check, found in entries.items()
    }


def merged_matrix_section(
    results: RunResults, model: ThreatModel | None, why_not: str, entries: Entries
) -> str:
    """Threat -> control -> check, with each device's result and coverage in a column."""
    if model is None:
        return f"<p>{e(why_not or 'The merged runs answer to different threat models.')}</p>"
    devices = results.devices
    implemented, selected = results.implemented or None, results.selected or None
    per_device = [
        matrix.build(model, [r for r in results.checks if r.device == d.key], implemented, selected)
        for d in devices
    ]
    device_entries = [_entries_of(entries, d.key) for d in devices]
    others = [
        d.name
        for d in devices
        if d.threat_model and model and d.threat_model.system != model.system
    ]
    parts = [
        f"<p>{len(model.threats)} threats of <b>{e(model.system)}</b>, one result column per "
        "device; each threat's coverage is given per device (&#9873;: flagged).</p>"
    ]
    if others:
        parts.append(f'<p class="banner">Other threat models: {e(", ".join(others))}</p>')
    heads = "".join(f"<th>{e(d.name)}<br><span class=muted>{e(d.key)}</span></th>" for d in devices)
    parts.append(
        '<table class="plain fixed merged-matrix"><thead><tr><th>Threat</th><th>Control</th>'
        f"<th>Check</th>{heads}</tr></thead>"
    )
    for n, row in enumerate(per_device[0] if per_device else ()):
        rows_here = [rows[n] for rows in per_device]
        coverage = "".join(
            f"<td class=cov>{e(r.coverage.value)}"
            f"{' <span class=flag>&#9873;</span>' if r.coverage.flagged else ''}</td>"
            for r in rows_here
        )
        parts.append(
            f'<tbody><tr><td colspan="3" id="t-{e(row.threat.id)}"><b>{e(row.threat.id)}</b> '
            f"{e(row.threat.title)} <span class=muted>{e(row.threat.stride)}</span></td>"
            f"{coverage}</tr>"
        )
        for c, control_row in enumerate(row.controls):
            for k, cell in enumerate(control_row.checks):
                results_cells = "".join(
                    "<td>"
                    + result_cell(
                        rows_here[d].controls[c].checks[k],
                        device_entries[d].get(cell.check_id, []),
                    )
                    + "</td>"
                    for d in range(len(devices))
                )
                parts.append(
                    f"<tr><td></td><td>{e(control_row.control.id)}</td>"
                    f"<td><b>{e(cell.check_id)}</b> {e(cell.title)}</td>{results_cells}</tr>"
                )
            if not control_row.checks:
                parts.append(
                    f"<tr><td></td><td>{e(control_row.control.id)}</td>"
                    f'<td colspan="{1 + len(devices)}" class="flag">no check</td></tr>'
                )
        parts.append("</tbody>")
    parts.append("</table>")
    return "".join(parts)
