"""fleet.html: one row per device, linked to its own report; static and self-contained.

Styled and escaped like report.html (the same stylesheet, Content-Security-Policy and
escaping helpers); each row is a `tr.device` with `data-device` and `data-verdict`.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from pathlib import Path

from harness.reporting.fleet import FleetDevice, FleetResults
from harness.reporting.page_base import attr, e, when
from harness.reporting.page_style import CSP, CSS, SCRIPT

# Verdicts, coloured like the outcomes they mirror.
_VERDICT_CSS = {"passed": "passed", "failed": "failed", "error": "error", "interrupted": "none"}
_MEANING = {
    "passed": "the run completed and every check passed, was not applicable or waived",
    "failed": "the run completed and at least one check failed: open findings",
    "error": "the run could not decide: a check errored, the run did not complete, the "
    "profile was refused or the run timed out (see its log)",
    "interrupted": "Ctrl-C or SIGTERM stopped the fleet: the run was cut short (its partial "
    "report is linked) or never started",
}


def _verdict(verdict: str) -> str:
    return f'<span class="o o-{_VERDICT_CSS.get(verdict, "none")}">{e(verdict)}</span>'


def _link(fleet_dir: Path, relative: str, text: str) -> str:
    if not (fleet_dir / relative).is_file():
        return f'<span class="muted">no {e(text)}</span>'
    return f'<a href="{attr(urllib.parse.quote(relative, safe="/"))}">{e(text)}</a>'


def _row(device: FleetDevice, fleet_dir: Path) -> str:
    counts = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in device.counts.items() if n)
    findings = "<br>".join(e(c) for c in device.failed_checks[:20])
    if len(device.failed_checks) > 20:
        findings += f'<br><span class="muted">… and {len(device.failed_checks) - 20} more</span>'
    return (
        f'<tr class="device" data-device="{attr(device.key)}" '
        f'data-verdict="{attr(device.verdict)}">'
        f"<td><b>{e(device.name)}</b><br><span class=muted>{e(device.key)}</span></td>"
        f"<td>{e(device.serial_number) or '-'}</td><td>{e(device.firmware) or '-'}</td>"
        f"<td>{_verdict(device.verdict)}<br><span class=muted>{e(device.reason)}</span></td>"
        f"<td><b>{device.open_findings}</b><br>{findings}</td>"
        f"<td>{e(counts) or '-'}</td><td>{device.duration_s:.1f} s</td>"
        f"<td>{_link(fleet_dir, f'{device.folder}/report.html', 'report')}<br>"
        f"{_link(fleet_dir, device.log, 'log')}</td></tr>"
    )


def _summary(results: FleetResults) -> str:
    parts = []
    if results.status != "complete":
        parts.append(
            '<p class="banner">&#9888; The fleet was interrupted: devices marked interrupted '
            "did not finish (absent results are not passes).</p>"
        )
    open_devices = sum(1 for d in results.devices if d.verdict != "passed")
    total = len(results.devices)
    parts.append(
        f'<p class="verdict v-open">{open_devices} of {total} devices did not pass</p>'
        if open_devices
        else f'<p class="verdict v-none">All {total} devices passed</p>'
    )
    cells = "".join(f"<td><b>{n}</b>{_verdict(v)}</td>" for v, n in results.verdicts.items() if n)
    parts.append(f'<table class="counts"><tr>{cells}</tr></table>')
    options = ", ".join(f"{k}: {v}" for k, v in results.options.items())
    parts.append(
        '<table class="kv">'
        f"<tr><th>Fleet file</th><td>{e(results.fleet_file)} (SHA-256 "
        f"<code>{e(results.fleet_sha256)}</code>)</td></tr>"
        f"<tr><th>Run</th><td>{when(results.started)} to {when(results.finished)}, "
        f"{e(results.status)}</td></tr>"
        f"<tr><th>Options</th><td>{e(options)}</td></tr>"
        f"<tr><th>Harness</th><td>{e(results.harness_version)}</td></tr></table>"
    )
    return "".join(parts)


def render(results: FleetResults, fleet_dir: Path) -> str:
    """The whole fleet page; links are relative to `fleet_dir`, where it is written."""
    rendered = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    head = (
        '<table class="plain fixed"><thead><tr><th style="width:20%">Device</th>'
        '<th style="width:10%">Serial</th><th style="width:8%">Firmware</th>'
        '<th style="width:18%">Verdict</th><th style="width:16%">Open findings</th>'
        '<th>Check records</th><th style="width:6%">Time</th><th style="width:7%">Files</th>'
        "</tr></thead><tbody>"
    )
    rows = "".join(_row(d, fleet_dir) for d in results.devices)
    legend = "".join(f"<dt>{_verdict(v)}</dt><dd>{e(m)}</dd>" for v, m in _MEANING.items())
    title = f"Fleet: {results.name}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{e(title)}</h1><p class="muted">rendered {rendered}; each device\'s '
        "run folder is sealed by its own manifest, and this folder's manifest lists theirs "
        "(<code>medsec verify</code> checks both)</p></header>"
        f'<section id="summary"><h2>1. Summary</h2>{_summary(results)}</section>\n'
        f'<section id="devices"><h2>2. Devices</h2>{head}{rows}</tbody></table></section>\n'
        f'<section id="legend"><h2>3. Legend</h2><dl class="legend">{legend}</dl></section>\n'
        f"<script>{SCRIPT}</script></body></html>\n"
    )
