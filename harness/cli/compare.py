"""`medsec compare OLD_RUN NEW_RUN`: what changed between two runs, for a release gate.

Exit 0 when nothing regressed, 1 on any regression (regressed, newly failing, newly
error), 2 for bad input (a folder that is not a verified run, different devices without
`--force`, an output path that cannot be written).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from harness.core.terminal import clean, markup_safe
from harness.reporting import compare, compare_page
from harness.reporting.compare import Change, Comparison
from harness.reporting.evidence_diff import FactChange, clip
from harness.reporting.results import write_atomic
from harness.reporting.sources import RunInputError, load_verified

_STYLE = {
    Change.REGRESSED: "bold red",
    Change.NEWLY_FAILING: "bold red",
    Change.NEWLY_ERROR: "bold yellow",
    Change.STILL_FAILING: "red",
    Change.FIXED: "green",
    Change.NEWLY_WAIVED: "magenta",
}
_QUIET = (Change.UNCHANGED_PASS, Change.UNCHANGED)  # counted, not listed


def _t(text: str) -> str:
    """Device text for a rich line: one line, markup and control characters escaped."""
    return markup_safe(text.replace("\r\n", "\\n").replace("\n", "\\n"))


def cmd_compare(
    old_dir: Path, new_dir: Path, html: Path | None, json_out: Path | None, force: bool
) -> int:
    console = Console(soft_wrap=True, highlight=False)
    try:
        old, new = load_verified(old_dir), load_verified(new_dir)
    except RunInputError as exc:
        print(f"medsec compare: {clean(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    mismatch = compare.device_mismatch(old, new)
    if mismatch and not force:
        print(
            f"medsec compare: {clean(mismatch)}; pass --force to compare them anyway",
            file=sys.stderr,
        )
        return EXIT_USAGE
    comparison = compare.compare_runs(old, new)
    try:
        if html is not None:
            write_atomic(html, compare_page.render(comparison))
        if json_out is not None:
            write_atomic(json_out, json.dumps(comparison.to_json(), indent=2) + "\n")
    except OSError as exc:
        print(f"medsec compare: cannot write: {clean(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    show(console, comparison, mismatch)
    for label, path in (("page", html), ("JSON", json_out)):
        if path is not None:
            console.print(f"wrote the comparison {label}: {_t(str(path))}")
    return EXIT_FAILED if comparison.regressions else EXIT_OK


def show(console: Console, comparison: Comparison, mismatch: str) -> None:
    """The comparison in the terminal: the verdict, every change but the unchanged, then
    the evidence changes."""
    console.print(
        f"older: {_t(comparison.old.path)} ({_t(comparison.old.device)}, firmware "
        f"{_t(comparison.old.firmware)}); newer: {_t(comparison.new.path)} "
        f"({_t(comparison.new.device)}, firmware {_t(comparison.new.firmware)}); "
        "both manifests verified"
    )
    if mismatch:
        console.print(f"[bold yellow]{_t(mismatch)}: compared because of --force[/]")
    for note in comparison.notes:
        console.print(f"[yellow]note: {_t(note)}[/]")
    table = Table(title="checks that changed or still fail")
    for column in ("change", "check", "target", "before", "now", "reason"):
        table.add_column(column)
    for change in comparison.changes:
        if change.change in _QUIET:
            continue
        style = _STYLE.get(change.change, "")
        table.add_row(
            f"[{style}]{change.change.words}[/]" if style else change.change.words,
            _t(change.check_id),
            _t(change.target),
            change.old_outcome.value if change.old_outcome else "absent",
            change.new_outcome.value if change.new_outcome else "absent",
            _t(clip(change.new_reason or change.old_reason, 160)),
        )
    if table.row_count:
        console.print(table)
    for diff in comparison.evidence:
        also = f" (also {', '.join(diff.also_in)})" if diff.also_in else ""
        console.print(
            f"[bold]{_t(diff.check_id)} {_t(diff.target)}: {_t(diff.kind)}[/] "
            f"({_t(diff.file)}{_t(also)})"
        )
        if diff.note:
            console.print(f"    {_t(diff.note)}")
        for fact in diff.changes:
            console.print(_fact_line(fact))
        if diff.more_changes:
            console.print(f"    … and {diff.more_changes} more changed facts")
    counts = ", ".join(f"{n} {c.words}" for c, n in comparison.counts().items() if n)
    regressions = len(comparison.regressions)
    verdict = (
        f"[bold red]{regressions} regressions[/]" if regressions else "[bold green]no regression[/]"
    )
    console.print(f"{verdict}: {counts}")


def _fact_line(fact: FactChange) -> str:
    if fact.old is not None or fact.new is not None:
        return (
            f"    {_t(fact.fact)}: [red]{_t(fact.old or '(absent)')}[/] -> "
            f"[green]{_t(fact.new or '(absent)')}[/]"
        )
    parts = []
    if fact.added:
        more = f" and {fact.more_added} more" if fact.more_added else ""
        parts.append(f"[green]+ {_t(', '.join(fact.added))}{more}[/]")
    if fact.removed:
        more = f" and {fact.more_removed} more" if fact.more_removed else ""
        parts.append(f"[red]- {_t(', '.join(fact.removed))}{more}[/]")
    return f"    {_t(fact.fact)}: {'  '.join(parts)}"
