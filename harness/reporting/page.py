"""report.html: the run as a reviewer reads it, rendered once from results.json and the
evidence files (at the end of a run, and by `medsec report RUN_DIR` at any later time).

One static, self-contained page: inline CSS, no external resource, nothing that needs
JavaScript. Sections, in order: executive verdict, findings, test configuration,
traceability matrix (and firmware timeline), FDA premarket categories and IEC 62443-4-2
requirements, the results (every check record one `tr.result` row with `data-check-id`,
`data-target` and `data-outcome`, its evidence in full below it), and a legend of every
code and word the page uses. Every string from a device, profile or file is escaped.
The page is built as a list of parts joined once: its size and time are linear in the
number of checks and the evidence shown.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections import Counter
from pathlib import Path

from harness.reporting import matrix
from harness.reporting.page_base import (
    NOT_RECORDED,
    OUTCOME_MEANING,
    OUTCOME_ORDER,
    SEVERITY_MEANING,
    SEVERITY_ORDER,
    Legend,
    badge,
    compact,
    counts_of,
    e,
    e_lines,
    severity_tag,
    when,
)
from harness.reporting.page_matrix import (
    categories_section,
    entries_by_check,
    firmware_timeline,
    headline_section,
    matrix_section,
    threat_model_of,
)
from harness.reporting.page_merged import devices_section, merged_matrix_section
from harness.reporting.page_results import (
    ResultsView,
    firmware_recorded,
    severity_of,
    target_cell,
    waiver_text,
)
from harness.reporting.page_style import CSP, CSS, SCRIPT
from harness.reporting.results import CheckRecord, Outcome, RunResults, write_atomic

REPORT_NAME = "report.html"
_OPEN = (Outcome.FAILED, Outcome.ERROR)

COVERAGE_MEANING = {
    matrix.Coverage.COVERED: "every named check that applies ran, and passed or was waived",
    matrix.Coverage.PARTIAL: "some named checks ran and passed; others that apply were "
    "deselected, are not implemented, or did not finish",
    matrix.Coverage.FAILED: "a named check failed or could not decide (error)",
    matrix.Coverage.NOT_COVERED: "checks are named, but none that applies ran",
    matrix.Coverage.NOT_APPLICABLE: "every named check was not applicable to this device "
    "(each result row gives the reason); not a gap in the run",
    matrix.Coverage.NO_CHECK: "the controls name no check: they cannot be shown from outside "
    "the device (the control's rationale says why)",
}
STATUS_MEANING = {
    matrix.CellStatus.RAN: "the check has results: counts per outcome, each target listed",
    matrix.CellStatus.NOT_APPLICABLE: "every target of the check was not applicable",
    matrix.CellStatus.DESELECTED: "this harness implements the check, but the run did not "
    "select it (e.g. --suite)",
    matrix.CellStatus.NOT_IMPLEMENTED: "this harness version has no such check yet",
    matrix.CellStatus.NOT_RUN: "selected, but the run ended before it finished (or an older "
    "results.json does not say whether it was selected)",
}
ABBREVIATIONS = {
    "CAPEC": "MITRE Common Attack Pattern Enumeration and Classification",
    "CWE": "MITRE Common Weakness Enumeration",
    "STRIDE": "threat categories: Spoofing, Tampering, Repudiation, Information disclosure, "
    "Denial of service, Elevation of privilege",
    "FDA": "U.S. Food and Drug Administration (premarket cybersecurity guidance)",
    "IEC 62443-4-2": "security requirements for industrial automation and control system "
    "components; CR: component requirement, EDR: embedded device requirement",
    "ETSI EN 303 645": "cyber security baseline for consumer IoT (EN x.y-z: a provision)",
    "TM-n, SC-n": "threat and control ids of the device's threat model",
    "UTC": "Coordinated Universal Time: every time on this page is in UTC",
    "SHA-256": "a cryptographic digest: the same file always has the same SHA-256",
    "Ed25519": "the signature algorithm of the run folder's manifest",
    "kB, MB": "1,000 and 1,000,000 bytes",
}


def render(results: RunResults, run_dir: Path, *, page_dir: Path | None = None) -> str:
    """The whole page. Evidence links are relative to `page_dir` (default: the run folder)."""
    legend = Legend()
    entries = entries_by_check(results)
    model, why_not = threat_model_of(results)
    if model is not None:
        legend.add(code for t in model.threats for code in t.capec)
    view = ResultsView(results, run_dir, page_dir or run_dir, legend)
    device = str(results.device.profiled.get("name") or "device")
    if results.devices:  # a merged run: each device's identity and configuration is its own
        sections = [
            ("devices", "Devices", devices_section(results, run_dir, page_dir or run_dir)),
            ("findings", "Findings", _findings(results)),
            (
                "matrix",
                "Traceability: threats, controls, checks, per device",
                merged_matrix_section(results, model, why_not, entries),
            ),
        ]
    else:
        sections = [
            (
                "verdict",
                "Executive verdict",
                headline_section(results, model, entries) + _verdict(results),
            ),
            ("findings", "Findings", _findings(results)),
            ("configuration", "Test configuration", _configuration(results, run_dir)),
            (
                "matrix",
                "Traceability: threats, controls, checks",
                matrix_section(results, model, why_not, entries)
                + "<h3>Firmware timeline</h3>"
                + firmware_timeline(results),
            ),
        ]
    sections += [
        (
            "categories",
            "Summary by FDA control category and IEC 62443-4-2 requirement",
            categories_section(results, entries, legend),
        ),
        ("results", "Results and evidence", _results(results, view)),
    ]
    # The legend is rendered last: it lists the codes the other sections showed.
    sections.append(("legend", "Legend", _legend(legend)))
    toc = "".join(
        f'<a href="#{key}">{n}. {title}</a>' for n, (key, title, _) in enumerate(sections, 1)
    )
    rendered = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Security test report: {e(device)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>Security test report: {e(device)}</h1>",
        f'<p class="muted">medsec-harness {e(results.harness.version)}; run started '
        f"{when(results.started)}; this page rendered {rendered} from the run folder "
        f"{e(run_dir.name)}</p>",
        f'<nav class="toc">{toc}</nav></header>',
    ]
    for n, (key, title, body) in enumerate(sections, 1):
        parts.append(f'<section id="{key}"><h2>{n}. {title}</h2>')
        parts.append(body)
        parts.append("</section>\n")
    parts.append(f"<script>{SCRIPT}</script></body></html>\n")
    return "".join(parts)


def write_report(run_dir: Path, results: RunResults, path: Path | None = None) -> Path:
    """Write the page (default `run_dir/report.html`) in one step; returns its path."""
    target = path or run_dir / REPORT_NAME
    write_atomic(target, render(results, run_dir, page_dir=target.parent))
    return target


def _open(records: list[CheckRecord]) -> list[CheckRecord]:
    return [r for r in records if r.outcome in _OPEN]


def _profiled_firmware(results: RunResults) -> str:
    return str(results.device.profiled.get("firmware") or "")


def _banners(results: RunResults) -> list[str]:
    out = []
    if results.status != "complete":
        what = {
            "interrupted": "was interrupted (Ctrl-C or a termination signal)",
            "aborted": "was aborted before every check ran",
            "running": "had not finished when this page was rendered (or ended without closing "
            "its results)",
        }[results.status]
        out.append(
            f"This run {what}: {len(results.checks)} results recorded, "
            f"{len(results.not_run)} selected checks did not finish. Absent results are not "
            "passes."
        )
    profiled = _profiled_firmware(results)
    if profiled:
        other = Counter(r.firmware for r in results.checks if r.firmware and r.firmware != profiled)
        if other:
            versions = ", ".join(f"{e(v)} ({n} checks)" for v, n in sorted(other.items()))
            out.append(
                f"{sum(other.values())} checks ran on firmware other than the profiled "
                f"{e(profiled)}: {versions}. Their rows are flagged in the results."
            )
        read = sorted(
            {f.version for f in results.firmware if f.version and f.version != profiled}
            - set(other)
        )
        if read:
            out.append(
                f"The device reported firmware {', '.join(e(v) for v in read)}, not the "
                f"profiled {e(profiled)}, during the run (see the firmware timeline)."
            )
    return [f'<p class="banner">&#9888; {text}</p>' for text in out]


def _firmware_read(results: RunResults) -> str:
    versions: list[str] = []
    for reading in results.firmware:
        shown = reading.version or "not read"
        label = f"{shown} ({reading.source})"
        if not versions or not versions[-1].startswith(shown + " "):
            versions.append(label)
    if versions:
        return ", then ".join(e(v) for v in versions)
    observed = results.device.observed.get("firmware_version")
    if observed:
        return f"{e(observed)} <span class=muted>(one reading; no timeline recorded)</span>"
    return f'<span class="muted">{NOT_RECORDED}</span>'


def _verdict(results: RunResults) -> str:
    totals = counts_of(r.outcome for r in results.checks)
    still_open = _open(results.checks)
    if results.status != "complete":
        verdict = ("v-incomplete", f"Incomplete run: {len(still_open)} open findings so far")
    elif still_open:
        verdict = ("v-open", f"{len(still_open)} open findings")
    else:
        verdict = ("v-none", "No open findings")
    profiled = results.device.profiled
    rows = [
        ("Device", profiled.get("name")),
        (
            "Vendor, model",
            ", ".join(str(profiled.get(k)) for k in ("vendor", "model") if profiled.get(k)),
        ),
        ("Serial number", profiled.get("serial_number")),
    ]
    rows += [
        (f"Profiled {key.replace('_', ' ')}", value)
        for key, value in profiled.items()
        if key not in ("name", "vendor", "model", "serial_number", "firmware") and value is not None
    ]
    cells = [f"<tr><th>{e(k)}</th><td>{e(v) if v else NOT_RECORDED}</td></tr>" for k, v in rows]
    profiled_firmware = _profiled_firmware(results) or NOT_RECORDED
    cells.append(f"<tr><th>Firmware as profiled</th><td>{e(profiled_firmware)}</td></tr>")
    cells.append(f"<tr><th>Firmware as read back</th><td>{_firmware_read(results)}</td></tr>")
    for key, value in results.device.observed.items():
        if key != "firmware_version":
            cells.append(
                f"<tr><th>Observed {e(key.replace('_', ' '))}</th><td>{e(value)}</td></tr>"
            )
    cells += [
        f"<tr><th>Date</th><td>{when(results.started)} to {when(results.finished)}</td></tr>",
        f"<tr><th>Run status</th><td>{e(results.status)}</td></tr>",
        f"<tr><th>Tool</th><td>medsec-harness {e(results.harness.version)} "
        f"(Python {e(results.harness.python)})</td></tr>",
    ]
    counts = "".join(f"<td><b>{totals[o]}</b>{badge(o)}</td>" for o in OUTCOME_ORDER)
    return "".join(
        [
            *_banners(results),
            f'<p class="verdict {verdict[0]}">{verdict[1]}</p>',
            f'<table class="counts"><tr>{counts}<td><b>{len(results.checks)}</b>check records</td>'
            f"<td><b>{len(still_open)}</b>open findings</td></tr></table>",
            f'<table class="kv">{"".join(cells)}</table>',
            ""
            if results.configuration is not None
            else '<p class="note">This results.json comes from an older harness: the test '
            "configuration, the firmware per check, severities and pass criteria with their "
            "values were not recorded (where the page shows the catalogue&#8217;s, it says "
            "so).</p>",
        ]
    )


def _findings(results: RunResults) -> str:
    found = [
        (index, r)
        for index, r in enumerate(results.checks)
        if r.outcome in _OPEN or (r.outcome is Outcome.WAIVED)
    ]
    if not found:
        return "<p>No check failed or could not decide.</p>"

    def order(item: tuple[int, CheckRecord]) -> tuple[int, int, int]:
        severity = severity_of(item[1])
        rank = SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
        return (item[1].outcome is Outcome.WAIVED, rank, item[0])

    view_profiled = _profiled_firmware(results)
    rows = []
    for index, record in sorted(found, key=order):
        if record.outcome is Outcome.WAIVED:
            disposition = waiver_text(record)
            outcome = f"{badge(record.outcome)} {badge(record.underlying_outcome)}"
        else:
            disposition = '<b class="flag">open</b>'
            if record.waiver is not None:
                disposition += f"; {waiver_text(record)}"
            outcome = badge(record.outcome)
        firmware = e(record.firmware) if record.firmware else '<span class="muted">-</span>'
        if record.firmware and view_profiled and record.firmware != view_profiled:
            firmware = f'<span class="flag">{firmware}</span>'
        rows.append(
            f'<tr><td>{severity_tag(severity_of(record))}</td><td><a href="#r-{index}">'
            f"{e(record.id)}</a> {e(record.title)}</td><td>{target_cell(record)}</td>"
            f"<td>{outcome}</td><td>{e(', '.join(record.threats) or '-')}</td>"
            f"<td>{firmware}</td><td>{e_lines(record.reason)}</td><td>{disposition}</td></tr>"
        )
    still_open = len(_open(results.checks))
    return (
        f"<p>{still_open} open; {len(found) - still_open} accepted by a waiver. Open findings "
        "first, most severe first; each links to its result and evidence.</p>"
        + chunked(
            "<tr><th>Severity</th><th>Check</th><th>Target</th><th>Outcome</th><th>Threats</th>"
            "<th>Firmware</th><th>Reason</th><th>Disposition</th></tr>",
            rows,
            "plain fixed findings",
        )
    )


CHUNK_ROWS = 200


def chunked(head: str, rows: list[str], css: str) -> str:
    """A long table as tables of CHUNK_ROWS rows, each laid out only when it is on screen."""
    return "".join(
        f'<div class="chunk"><table class="{css}">{head if start == 0 else ""}'
        f"{''.join(rows[start : start + CHUNK_ROWS])}</table></div>"
        for start in range(0, len(rows), CHUNK_ROWS)
    )


def _kv(rows: list[tuple[str, str]]) -> str:
    return (
        '<table class="kv">'
        + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        + "</table>"
    )


def _manifest_key(run_dir: Path) -> tuple[str, str]:
    """The signing key's fingerprint and origin from manifest.json (older results.json)."""
    import json

    try:
        key = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8")).get("key", {})
        return str(key.get("fingerprint", "")), str(key.get("source", ""))
    except (OSError, ValueError, AttributeError):
        return "", ""


def _or_not(value: str) -> str:
    return e(value) if value else f'<span class="muted">{NOT_RECORDED}</span>'


def _configuration(results: RunResults, run_dir: Path) -> str:
    config = results.configuration
    rows: list[tuple[str, str]] = []
    if config is None:
        rows.append(
            ("Configuration", f'<span class="muted">{NOT_RECORDED} (older results.json)</span>')
        )
        fingerprint, source = _manifest_key(run_dir)
    else:
        policy = "".join(
            f"<tr><td>{e(k)}</td><td>{e(compact(v))}</td></tr>"
            for k, v in sorted(config.policy.items())
        )
        crypto = "; ".join(f"{e(k)}: {e(v)}" for k, v in sorted(config.crypto_policies.items()))
        host = "; ".join(f"{e(k)}: {e(v)}" for k, v in sorted(config.test_host.items()))
        rows += [
            (
                "Policy values in force",
                f'<table class="plain">{policy}</table>' if policy else NOT_RECORDED,
            ),
            ("Crypto policies", crypto or NOT_RECORDED),
            ("Suites", _or_not(", ".join(config.suites))),
            (
                "Destructive checks",
                "allowed (--allow-destructive)" if config.allow_destructive else "not allowed",
            ),
            (
                "Command line",
                f"<code>{e(shlex.join(config.command))}</code>" if config.command else NOT_RECORDED,
            ),
            ("Test host", host or NOT_RECORDED),
            ("Tester", _or_not(config.tester)),
            ("Organisation", _or_not(config.organisation)),
            ("Independence", _or_not(config.independence)),
        ]
        fingerprint, source = config.signing_key_fingerprint, config.signing_key_source
        if not fingerprint:
            fingerprint, source = _manifest_key(run_dir)
    # The runner's own arguments only where no command line was recorded (older runs).
    internal = config is not None and bool(config.command)
    options = "; ".join(
        f"{e(k)}: {e(compact(v))}"
        for k, v in sorted(results.options.items())
        if not (internal and k == "args")
    )
    packages = ", ".join(f"{e(k)} {e(v)}" for k, v in sorted(results.harness.packages.items()))
    model = results.threat_model
    rows += [
        ("Run options", options or "none"),
        (
            "Harness",
            f"medsec-harness {e(results.harness.version)}, Python {e(results.harness.python)}",
        ),
        ("Dependencies", packages or NOT_RECORDED),
        (
            "Threat model",
            f"{e(model.path)}<br>{e(model.system)}, version {e(model.version or NOT_RECORDED)}"
            f"<br>SHA-256 <code>{e(model.sha256)}</code>"
            if model
            else "none named by the profile",
        ),
        (
            "Profile",
            f"{e(results.profile.path)}<br>SHA-256 <code>{e(results.profile.sha256)}</code>",
        ),
        ("Evidence signing key", _key_text(fingerprint, source)),
    ]
    return _kv(rows)


def _key_text(fingerprint: str, source: str) -> str:
    if not fingerprint:
        return f'<span class="muted">{NOT_RECORDED}</span>'
    shown = f"Ed25519 <code>{e(fingerprint)}</code>"
    if source == "generated for this run":
        return (
            f"{shown}, generated for this run: the signed manifest shows the run folder is "
            "unchanged since the run; it does not identify the lab (a run signed with a "
            "lab key, <code>--signing-key</code>, does)"
        )
    return f"{shown}, {e(source) if source else 'origin ' + NOT_RECORDED}"


def _results(results: RunResults, view: ResultsView) -> str:
    totals = counts_of(r.outcome for r in results.checks)
    # Unticking an outcome hides its checks on screen (CSS only; print shows all).
    filters = "".join(
        f'<input type="checkbox" class="filter" id="f-{o.value}" checked>'
        f'<label class="filter" for="f-{o.value}">{badge(o, totals[o])}</label>'
        for o in OUTCOME_ORDER
    )
    fw_note = (
        ""
        if firmware_recorded(results)
        else '<p class="muted">This results.json does not record the firmware per check.</p>'
    )
    return "".join(
        [
            f"<p>{len(results.checks)} check records, one row each, in the order they ran; "
            "below each row its pass criterion, traces and evidence in full (text inline, "
            "binary files linked).</p>",
            fw_note,
            f'<span class="filter">Show:</span>{filters}<div class="checks">',
            *view.rows(),
            "</div>",
        ]
    )


def _legend(legend: Legend) -> str:
    def dl(items: list[tuple[str, str]]) -> str:
        return (
            '<dl class="legend">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
        )

    codes = []
    for code, meaning, url in legend.entries():
        shown = f'<a href="{e(url)}">{e(code)}</a>' if url else e(code)
        codes.append((shown, e(meaning)))
    return "".join(
        [
            "<h3>Outcomes</h3>",
            dl([(badge(o), e(OUTCOME_MEANING[o])) for o in OUTCOME_ORDER]),
            "<p>An <b>open finding</b> is a check that failed or could not decide (error) "
            "and that no waiver accepts.</p>",
            "<h3>Severities</h3>",
            dl([(severity_tag(s), e(SEVERITY_MEANING[s])) for s in SEVERITY_ORDER]),
            "<h3>Coverage of a threat</h3>",
            dl([(e(c.value), e(m)) for c, m in COVERAGE_MEANING.items()]),
            "<h3>What became of a named check</h3>",
            dl([(e(s.value), e(m)) for s, m in STATUS_MEANING.items()]),
            "<h3>Reference codes on this page</h3>",
            dl(codes) if codes else "<p>None.</p>",
            "<h3>Abbreviations</h3>",
            dl([(e(k), e(v)) for k, v in ABBREVIATIONS.items()]),
        ]
    )
