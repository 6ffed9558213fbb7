"""The comparison of two runs as one static, self-contained HTML page.

Styled and escaped like report.html (the same stylesheet, Content-Security-Policy and
escaping helpers): every check and target is one `tr.change` row with `data-check-id`,
`data-target` and `data-change` for scripts; the evidence changes follow, per check.
"""

from __future__ import annotations

import datetime as dt

from harness.reporting.compare import CHANGE_MEANING, Change, CheckChange, Comparison, RunSide
from harness.reporting.evidence_diff import EvidenceDiff, FactChange
from harness.reporting.page_base import attr, badge, e, e_lines, severity_tag, when
from harness.reporting.page_style import CSP, CSS, SCRIPT

# The change words, coloured like the outcomes they lead to.
_CHANGE_CSS = {
    Change.REGRESSED: "failed",
    Change.NEWLY_FAILING: "failed",
    Change.NEWLY_ERROR: "error",
    Change.STILL_FAILING: "failed",
    Change.FIXED: "passed",
    Change.NEWLY_WAIVED: "waived",
    Change.NEWLY_PASSING: "passed",
}
_EXTRA_CSS = (
    ".ch{display:inline-block;padding:0 6px;border-radius:3px;font-weight:600;font-size:12px;"
    "border:1px solid #90a4ae}"
    ".ch-failed{background:#ffebee;color:#b71c1c;border-color:#c62828}"
    ".ch-error{background:#fff3e0;color:#bf360c;border-color:#d84315}"
    ".ch-passed{background:#e8f5e9;color:#1b5e20;border-color:#2e7d32}"
    ".ch-waived{background:#f3e5f5;color:#4a148c;border-color:#6a1b9a}"
    "td.add{color:#1b5e20}td.del{color:#b71c1c}"
)


def change_tag(change: Change) -> str:
    css = _CHANGE_CSS.get(change, "")
    return f'<span class="ch ch-{css}">{e(change.words)}</span>'


def _side_rows(old: RunSide, new: RunSide) -> str:
    rows = [
        ("Run folder", old.path, new.path),
        ("Device", old.device, new.device),
        ("Serial number", old.serial_number, new.serial_number),
        ("Firmware as profiled", old.firmware, new.firmware),
        ("Firmware read back (last)", old.firmware_read, new.firmware_read),
        ("Run started", when(old.started), when(new.started)),
        ("Run status", old.status, new.status),
        ("Harness", old.harness_version, new.harness_version),
        ("Manifest SHA-256 (verified)", old.manifest_sha256, new.manifest_sha256),
        ("Signing key", old.key_fingerprint, new.key_fingerprint),
    ]
    for key in sorted(set(old.observed) | set(new.observed)):
        rows.append(
            (
                f"Observed {key.replace('_', ' ')}",
                old.observed.get(key, ""),
                new.observed.get(key, ""),
            )
        )
    out = []
    for label, before, after in rows:
        flag = (
            ' class="flag"'
            if before != after and label not in ("Run folder", "Run started")
            else ""
        )
        out.append(f"<tr><th>{e(label)}</th><td>{e(before)}</td><td{flag}>{e(after)}</td></tr>")
    return (
        '<table class="plain fixed"><tr><th></th><th>Older run</th><th>Newer run</th></tr>'
        + "".join(out)
        + "</table>"
    )


def _verdict(comparison: Comparison) -> str:
    regressions = comparison.regressions
    parts = []
    if not comparison.same_device:
        parts.append(
            '<p class="banner">&#9888; Different devices compared (--force): '
            f"{e(comparison.old.device)} (serial {e(comparison.old.serial_number or '-')}) "
            f"and {e(comparison.new.device)} (serial {e(comparison.new.serial_number or '-')}).</p>"
        )
    parts += [f'<p class="banner">&#9888; {e(note)}</p>' for note in comparison.notes]
    if regressions:
        parts.append(f'<p class="verdict v-open">{len(regressions)} regressions</p>')
    else:
        parts.append('<p class="verdict v-none">No regression</p>')
    counts = comparison.counts()
    cells = "".join(f"<td><b>{counts[c]}</b>{change_tag(c)}</td>" for c in Change if counts[c])
    parts.append(f'<table class="counts"><tr>{cells}</tr></table>')
    return "".join(parts)


def _change_row(change: CheckChange) -> str:
    return (
        f'<tr class="change" data-check-id="{attr(change.check_id)}" '
        f'data-target="{attr(change.target)}" data-change="{change.change.value}">'
        f"<td><b>{e(change.check_id)}</b> {e(change.title)}</td><td>{e(change.target)}</td>"
        f"<td>{change_tag(change.change)}</td><td>{severity_tag(change.severity)}</td>"
        f"<td>{badge(change.old_outcome)}</td><td>{badge(change.new_outcome)}</td>"
        f"<td>{e_lines(change.new_reason or change.old_reason)}</td></tr>"
    )


def _changes(comparison: Comparison) -> str:
    head = (
        '<table class="plain fixed"><tr><th style="width:22%">Check</th><th style="width:10%">'
        'Target</th><th style="width:10%">Change</th><th style="width:7%">Severity</th>'
        '<th style="width:8%">Before</th><th style="width:8%">Now</th><th>Reason (now, '
        "else before)</th></tr>"
    )
    return head + "".join(_change_row(c) for c in comparison.changes) + "</table>"


def _items(items: tuple[str, ...], more: int) -> str:
    shown = "<br>".join(e(i) for i in items)
    return shown + (f'<br><span class="muted">… and {more} more</span>' if more else "")


def _fact_row(fact: FactChange) -> str:
    if fact.old is not None or fact.new is not None:
        before = e(fact.old) if fact.old is not None else '<span class="muted">absent</span>'
        after = e(fact.new) if fact.new is not None else '<span class="muted">absent</span>'
        return (
            f'<tr><td>{e(fact.fact)}</td><td class="del">{before}</td>'
            f'<td class="add">{after}</td></tr>'
        )
    return (
        f"<tr><td>{e(fact.fact)}</td>"
        f'<td class="del">{_items(fact.removed, fact.more_removed)}</td>'
        f'<td class="add">{_items(fact.added, fact.more_added)}</td></tr>'
    )


def _evidence_block(diff: EvidenceDiff) -> str:
    also = f" (the same evidence in {e(', '.join(diff.also_in))})" if diff.also_in else ""
    head = (
        f'<h3 class="evidence-diff" data-check-id="{attr(diff.check_id)}" '
        f'data-target="{attr(diff.target)}">{e(diff.check_id)} on {e(diff.target)}: '
        f'{e(diff.kind)} <span class="muted">{e(diff.file)}{also}</span></h3>'
    )
    if diff.note:
        return head + f'<p class="muted">{e(diff.note)}</p>'
    more = (
        f'<p class="muted">… and {diff.more_changes} more changed facts (not shown)</p>'
        if diff.more_changes
        else ""
    )
    return (
        head + '<table class="plain fixed"><tr><th style="width:26%">What</th><th>Removed or before'
        "</th><th>Added or now</th></tr>"
        + "".join(_fact_row(f) for f in diff.changes)
        + "</table>"
        + more
    )


def _legend() -> str:
    items = "".join(f"<dt>{change_tag(c)}</dt><dd>{e(m)}</dd>" for c, m in CHANGE_MEANING.items())
    return (
        f'<dl class="legend">{items}</dl><p>A <b>regression</b> (regressed, newly failing, '
        "newly error) makes <code>medsec compare</code> exit 1.</p>"
    )


def render(comparison: Comparison) -> str:
    """The whole comparison page."""
    rendered = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    evidence = "".join(_evidence_block(d) for d in comparison.evidence) or (
        "<p>No structured evidence differs.</p>"
    )
    sections = [
        ("verdict", "Verdict", _verdict(comparison)),
        ("runs", "The two runs", _side_rows(comparison.old, comparison.new)),
        ("changes", "Every check and target", _changes(comparison)),
        ("evidence", "What changed in the evidence", evidence),
        ("legend", "Legend", _legend()),
    ]
    title = f"Comparison: {comparison.old.device} → {comparison.new.device}"
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{e(title)}</title><style>{CSS}{_EXTRA_CSS}</style></head><body>",
        f'<header><h1>{e(title)}</h1><p class="muted">rendered {rendered}; both runs\' '
        "signed manifests verified before anything was read</p></header>",
    ]
    for n, (key, heading, body) in enumerate(sections, 1):
        parts.append(f'<section id="{key}"><h2>{n}. {heading}</h2>{body}</section>\n')
    parts.append(f"<script>{SCRIPT}</script></body></html>\n")
    return "".join(parts)
