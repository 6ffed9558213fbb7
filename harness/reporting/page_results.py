"""The results section of the report page: one row per check record, its evidence in full.

Evidence files are read from the run folder as they are, never following a link out of
it; text is shown inline up to `INLINE_CAP` bytes per file (the rest is linked), binary
files are linked. Nothing is clipped to a scroll box.
"""

from __future__ import annotations

import errno
import os
import stat
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.config import catalogue
from harness.reporting.page_base import (
    NOT_RECORDED,
    Legend,
    attr,
    badge,
    e,
    e_block,
    e_lines,
    severity_tag,
    when,
)
from harness.reporting.results import ArtifactRecord, CheckRecord, Outcome, RunResults

INLINE_CAP = 256 * 1024  # bytes of one evidence file shown inline; the rest is linked

COLUMNS = ("Check", "Title", "Target", "Outcome", "Severity", "Firmware", "Reason")


@dataclass(frozen=True)
class FileView:
    """One evidence file as found in the run folder."""

    size: int | None  # None: not readable (see problem)
    text: str | None = None  # the shown head, when it is text and was asked for
    truncated: bool = False
    problem: str = ""


def _open_inside(run_dir: Path, relative: str) -> tuple[int | None, str]:
    """A read-only descriptor of `relative` inside `run_dir`, no link followed; or a problem."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or "\\" in relative:
        return None, "not a path inside the run folder"
    current = run_dir
    for part in pure.parts[:-1]:
        current = current / part
        if current.is_symlink():
            return None, "a symbolic link, not followed"
    try:
        fd = os.open(current / pure.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, "missing from the run folder"
    except OSError as exc:
        return None, "a symbolic link, not followed" if exc.errno == errno.ELOOP else "unreadable"
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None, "not a regular file"
    return fd, ""


def _decode(data: bytes, truncated: bool) -> str | None:
    """UTF-8 text, or None for binary (a character cut by the cap is dropped)."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if truncated and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8", errors="replace")
        return None


def read_evidence(run_dir: Path, relative: str, *, show: bool, cap: int = INLINE_CAP) -> FileView:
    fd, problem = _open_inside(run_dir, relative)
    if fd is None:
        return FileView(None, problem=problem)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if not show:
            return FileView(size)
        data = handle.read(cap + 1)
    truncated = len(data) > cap
    text = _decode(data[:cap], truncated)
    return FileView(size, text, truncated)


def artifacts_of(record: CheckRecord) -> list[ArtifactRecord]:
    """The record's evidence with titles; an older results.json has only the paths (its
    transcripts, the .txt files, were the ones shown inline)."""
    if record.artifacts:
        return record.artifacts
    return [
        ArtifactRecord(path=p, title=PurePosixPath(p).name, shown=p.endswith(".txt"))
        for p in record.evidence
    ]


def _size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"


class ResultsView:
    """Renders check records against one run folder, linking from one page folder."""

    def __init__(self, results: RunResults, run_dir: Path, page_dir: Path, legend: Legend) -> None:
        self.results = results
        self.run_dir = run_dir
        self.base = os.path.relpath(run_dir.resolve(), page_dir.resolve())
        self.legend = legend
        self.profiled_firmware = str(results.device.profiled.get("firmware") or "")
        self.firmware_recorded = firmware_recorded(results)
        self.linked_threats = results.threat_model is not None

    def href(self, relative: str) -> str:
        joined = relative if self.base == "." else f"{self.base}/{relative}"
        return e(urllib.parse.quote(joined.replace(os.sep, "/"), safe="/"))

    def firmware_cell(self, record: CheckRecord) -> str:
        if record.firmware is None:
            word = "not read" if self.firmware_recorded else NOT_RECORDED
            return f'<span class="muted">{word}</span>'
        if self.profiled_firmware and record.firmware != self.profiled_firmware:
            return (
                f'<span class="flag" title="not the profiled firmware">{e(record.firmware)} '
                f"&#8800; profiled {e(self.profiled_firmware)}</span>"
            )
        return e(record.firmware)

    def rows(self) -> Iterator[str]:
        yield (
            '<table class="row head"><tr>'
            + "".join(f"<th>{c}</th>" for c in COLUMNS)
            + "</tr></table>"
        )
        for index, record in enumerate(self.results.checks):
            yield self.check(index, record)

    def check(self, index: int, record: CheckRecord) -> str:
        outcome = badge(record.outcome)
        if record.outcome is Outcome.WAIVED and record.underlying_outcome is not None:
            outcome += (
                f'<br><span class="muted">underlying</span> {badge(record.underlying_outcome)}'
            )
        differs = (
            record.firmware is not None
            and bool(self.profiled_firmware)
            and record.firmware != self.profiled_firmware
        )
        css = f"check s-{record.outcome.value}" + (" fw-other" if differs else "")
        cells = (
            f"<td>{e(record.id)}</td><td>{e(record.title)}</td><td>{target_cell(record)}</td>"
            f"<td>{outcome}</td><td>{severity_cell(record)}</td>"
            f"<td>{self.firmware_cell(record)}</td><td>{e_lines(record.reason)}</td>"
        )
        return (
            f'<section class="{css}" id="r-{index}"><table class="row">'
            f'<tr class="result" data-check-id="{attr(record.id)}" '
            f'data-target="{attr(record.target)}"'
            + (f' data-device="{attr(record.device)}"' if record.device else "")
            + f' data-outcome="{record.outcome.value}">{cells}</tr></table>'
            f'<div class="detail">{self.detail(record)}</div></section>\n'
        )

    def detail(self, record: CheckRecord) -> str:
        parts = [f"<p><b>Pass criterion:</b> {criterion_of(record, self.results)}</p>"]
        parts.append(f"<p><b>Traces:</b> {self.traces(record)}</p>")
        parts.append(
            f'<p class="meta">started {when(record.started)}, ended {when(record.finished)}, '
            f"took {record.duration_s:.2f} s</p>"
        )
        if record.waiver is not None:
            parts.append(f'<p class="waiver">{waiver_text(record)}</p>')
        if record.summary:
            parts.append(f'<pre class="sum">{e_block(chr(10).join(record.summary))}</pre>')
        parts.extend(self.artifact(a) for a in artifacts_of(record))
        return "".join(parts)

    def traces(self, record: CheckRecord) -> str:
        def threat(tid: str) -> str:
            return f'<a href="#t-{e(tid)}">{e(tid)}</a>' if self.linked_threats else e(tid)

        items = [
            "threats " + (", ".join(threat(t) for t in record.threats) or "none named"),
            "controls " + (", ".join(e(c) for c in record.controls) or "none named"),
        ]
        for codes in (record.standards, record.cwe, record.capec):
            if codes:
                items.append(self.legend.codes_text(codes))
        return " &middot; ".join(items)

    def artifact(self, art: ArtifactRecord) -> str:
        view = read_evidence(self.run_dir, art.path, show=art.shown)
        head = f'<p class="art-h"><b>{e(art.title)}</b> &middot; '
        if view.size is None:
            return head + f'{e(art.path)} <span class="flag">{e(view.problem)}</span></p>'
        link = f'<a href="{self.href(art.path)}">{e(art.path)}</a> &middot; {_size(view.size)}'
        if not art.shown:
            return head + link + "</p>"
        if view.text is None:
            return head + link + ' &middot; <span class="muted">binary, linked</span></p>'
        rest = ""
        if view.truncated:
            rest = (
                f'<p class="cut">Shown: the first {_size(INLINE_CAP)} of {_size(view.size)}; '
                f'the whole file: <a href="{self.href(art.path)}">{e(art.path)}</a></p>'
            )
        return f'<div class="art">{head}{link}</p><pre>{e_block(view.text)}</pre>{rest}</div>'


def target_cell(record: CheckRecord) -> str:
    """The target, and in a merged run the device it belongs to."""
    if not record.device:
        return e(record.target)
    return f'{e(record.target)}<br><span class="muted">on {e(record.device)}</span>'


def firmware_recorded(results: RunResults) -> bool:
    """Whether this results.json records the firmware per check (older ones do not)."""
    return bool(results.firmware) or any(c.firmware is not None for c in results.checks)


def severity_of(record: CheckRecord) -> str:
    """The recorded severity; for an older record, the catalogue's (marked as such)."""
    if record.severity:
        return record.severity
    spec = catalogue.CATALOGUE.get(record.id)
    return spec.severity.value if spec is not None else ""


def severity_cell(record: CheckRecord) -> str:
    shown = severity_tag(severity_of(record))
    if record.severity or not severity_of(record):
        return shown
    return shown + ' <span class="muted">(catalogue)</span>'


def criterion_of(record: CheckRecord, results: RunResults) -> str:
    if record.criterion:
        return e(record.criterion)
    spec = catalogue.CATALOGUE.get(record.id)
    if spec is None:
        return f'<span class="muted">{NOT_RECORDED}</span>'
    policy = results.configuration.policy if results.configuration is not None else {}
    return (
        f"{e(catalogue.criterion_for(spec, policy))} "
        '<span class="muted">(the catalogue&#8217;s wording; this run did not record its own)'
        "</span>"
    )


def waiver_text(record: CheckRecord) -> str:
    waiver = record.waiver
    if waiver is None:
        return ""
    state = "accepted by a waiver" if waiver.applied else "a waiver names it but does NOT apply"
    parts = [
        f"<b>{state}</b>",
        f"approved by {e(waiver.approved_by) if waiver.approved_by else NOT_RECORDED}",
        f"reference {e(waiver.reference) if waiver.reference else NOT_RECORDED}",
        f"expires {e(waiver.expires)}",
        f"justification: {e_lines(waiver.justification)}",
    ]
    if waiver.note:
        parts.append(e(waiver.note))
    return "; ".join(parts)
