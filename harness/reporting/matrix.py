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
    COVERED = "covered"  # every named check that applies ran and passed (or is waived)
    PARTIAL = "partial"  # some named checks ran and passed, others that apply did not run
    NOT_COVERED = "not covered"  # checks are named, none that applies ran
    NOT_APPLICABLE = "not applicable"  # every named check was not applicable to this device
    NO_CHECK = "no check"  # the controls name no check at all

    @property
    def flagged(self) -> bool:
        return self in (Coverage.FAILED, Coverage.NOT_COVERED, Coverage.NO_CHECK)


class CellStatus(str, enum.Enum):
    """What became of one named check in this run."""

    RAN = "ran"  # at least one target passed, failed, errored or was waived
    NOT_APPLICABLE = "not applicable"  # every target was not applicable
    NOT_RUN = "not run"  # selected (or not known to be deselected) but never finished
    DESELECTED = "deselected"  # this harness implements it; this run did not select it
    NOT_IMPLEMENTED = "not implemented"  # this harness version has no such check


@dataclass(frozen=True)
class CheckCell:
    check_id: str
    title: str
    implemented: bool
    outcome: Outcome | None  # None: not run in this run
    targets: tuple[tuple[str, Outcome], ...]
    status: CellStatus = CellStatus.NOT_RUN


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
    model: ThreatModel,
    records: Iterable[CheckRecord],
    implemented: Iterable[str] | None,
    selected: Iterable[str] | None = None,
) -> tuple[ThreatRow, ...]:
    """One row per threat, with each check's outcome aggregated over its targets.

    `implemented`: the check ids this harness implements (None: not known, as in a
    results.json from an older harness; a check without records is then "not run").
    `selected`: the ids this run collected (None: not known; nothing is "deselected").
    """
    by_check: dict[str, list[CheckRecord]] = {}
    for record in records:
        by_check.setdefault(record.id, []).append(record)
    known = None if implemented is None else set(implemented)
    chosen = None if selected is None else set(selected)
    rows = []
    for threat in model.threats:
        controls = tuple(
            ControlRow(
                control=model.control(control_id),
                checks=tuple(
                    cell(check_id, by_check.get(check_id, []), known, chosen)
                    for check_id in model.control(control_id).checks
                ),
            )
            for control_id in threat.controls
        )
        rows.append(ThreatRow(threat, controls, _coverage(controls)))
    return tuple(rows)


def cell(
    check_id: str, records: list[CheckRecord], known: set[str] | None, chosen: set[str] | None
) -> CheckCell:
    """One check's outcome over its targets, and what became of it (`build` explains the
    sets: None is "not recorded")."""
    implemented = bool(records) or known is None or check_id in known
    if any(r.outcome in _RAN for r in records):
        status = CellStatus.RAN
    elif records:
        status = CellStatus.NOT_APPLICABLE
    elif not implemented:
        status = CellStatus.NOT_IMPLEMENTED
    elif chosen is not None and check_id not in chosen:
        status = CellStatus.DESELECTED
    else:
        status = CellStatus.NOT_RUN
    return CheckCell(
        check_id=check_id,
        title=catalogue.get(check_id).title,
        implemented=implemented,
        outcome=worst([r.outcome for r in records]),
        targets=tuple((r.target, r.outcome) for r in records),
        status=status,
    )


def _coverage(controls: tuple[ControlRow, ...]) -> Coverage:
    """A not-applicable check neither covers a threat nor leaves it partial."""
    cells = [cell for row in controls for cell in row.checks]
    if not cells:
        return Coverage.NO_CHECK
    if any(c.outcome in (Outcome.FAILED, Outcome.ERROR) for c in cells):
        return Coverage.FAILED
    applicable = [c for c in cells if c.status is not CellStatus.NOT_APPLICABLE]
    if not applicable:
        return Coverage.NOT_APPLICABLE
    ran = [c for c in applicable if c.status is CellStatus.RAN]
    if not ran:
        return Coverage.NOT_COVERED
    return Coverage.COVERED if len(ran) == len(applicable) else Coverage.PARTIAL


def mitigated_but_failing(rows: Iterable[ThreatRow]) -> tuple[ThreatRow, ...]:
    """Threats the imported source marks mitigated while a check mapped to them failed:
    the claim and the evidence disagree, so the report leads with them."""
    return tuple(
        row
        for row in rows
        if row.threat.provenance is not None
        and row.threat.provenance.mitigated
        and any(outcome is Outcome.FAILED for cell in row.cells for _, outcome in cell.targets)
    )
