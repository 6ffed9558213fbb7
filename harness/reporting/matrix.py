"""The traceability matrix: threat -> control -> check -> outcome, and the gaps."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from harness.config import catalogue
from harness.config.threatmodel import Control, Threat, ThreatModel
from harness.reporting.results import CheckRecord, Outcome, worst

_RAN = (Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.WAIVED)


class Coverage(str, enum.Enum):
    FAILED = "failed"  # a check of this threat failed or errored
    COVERED = "covered"  # every named check ran and passed (or is waived)
    PARTIAL = "partial"  # some named checks ran and passed, others did not run
    NOT_COVERED = "not covered"  # checks are named, none ran
    NO_CHECK = "no check"  # the controls name no check at all

    @property
    def flagged(self) -> bool:
        return self in (Coverage.FAILED, Coverage.NOT_COVERED, Coverage.NO_CHECK)


@dataclass(frozen=True)
class CheckCell:
    check_id: str
    title: str
    implemented: bool
    outcome: Outcome | None  # None: not run in this run
    targets: tuple[tuple[str, Outcome], ...]


@dataclass(frozen=True)
class ControlRow:
    control: Control
    checks: tuple[CheckCell, ...]


@dataclass(frozen=True)
class ThreatRow:
    threat: Threat
    controls: tuple[ControlRow, ...]
    coverage: Coverage

    @property
    def cells(self) -> tuple[CheckCell, ...]:
        return tuple(cell for row in self.controls for cell in row.checks)


def build(
    model: ThreatModel, records: Iterable[CheckRecord], implemented: Iterable[str]
) -> tuple[ThreatRow, ...]:
    """One row per threat, with each check's outcome aggregated over its targets."""
    by_check: dict[str, list[CheckRecord]] = {}
    for record in records:
        by_check.setdefault(record.id, []).append(record)
    known = set(implemented)
    rows = []
    for threat in model.threats:
        controls = tuple(
            ControlRow(
                control=model.control(control_id),
                checks=tuple(
                    _cell(check_id, by_check.get(check_id, []), check_id in known)
                    for check_id in model.control(control_id).checks
                ),
            )
            for control_id in threat.controls
        )
        rows.append(ThreatRow(threat, controls, _coverage(controls)))
    return tuple(rows)


def _cell(check_id: str, records: list[CheckRecord], implemented: bool) -> CheckCell:
    return CheckCell(
        check_id=check_id,
        title=catalogue.get(check_id).title,
        implemented=implemented,
        outcome=worst([r.outcome for r in records]),
        targets=tuple((r.target, r.outcome) for r in records),
    )


def _coverage(controls: tuple[ControlRow, ...]) -> Coverage:
    cells = [cell for row in controls for cell in row.checks]
    if not cells:
        return Coverage.NO_CHECK
    ran = [c for c in cells if c.outcome in _RAN]
    if any(c.outcome in (Outcome.FAILED, Outcome.ERROR) for c in ran):
        return Coverage.FAILED
    if not ran:
        return Coverage.NOT_COVERED
    return Coverage.COVERED if len(ran) == len(cells) else Coverage.PARTIAL
