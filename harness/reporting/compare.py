"""`medsec compare`: what became of every check between an older and a newer run.

Each (check id, target) of either run gets one `Change`; a regression (`Change.gates`)
makes the command exit 1, so CI can hold a firmware release on it. A waived outcome is
judged by its underlying result on the old side (a waived failure that now passes is
fixed) and as accepted on the new side (newly waived, never a regression: the waiver
names who accepted it).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

from harness.reporting.evidence_diff import EvidenceComparer, EvidenceDiff, clip
from harness.reporting.results import CheckRecord, Outcome
from harness.reporting.sources import SourceRun

_OPEN = (Outcome.FAILED, Outcome.ERROR)


class Change(str, enum.Enum):
    """What became of one check on one target, most urgent first."""

    REGRESSED = "regressed"  # passed -> failed
    NEWLY_FAILING = "newly_failing"  # absent, not applicable or error -> failed
    NEWLY_ERROR = "newly_error"  # anything else -> error
    STILL_FAILING = "still_failing"  # failed or error (or waived so) -> failed, or error -> error
    FIXED = "fixed"  # failed, error or waived -> passed
    NEWLY_WAIVED = "newly_waived"  # -> waived from anything but waived
    NEWLY_NOT_APPLICABLE = "newly_not_applicable"  # applied before, not applicable now
    NEWLY_PASSING = "newly_passing"  # not applicable before, passed now
    ADDED = "added"  # absent before; passed, not applicable or waived now
    REMOVED = "removed"  # present before, absent now
    UNCHANGED_PASS = "unchanged_pass"  # noqa: S105 (an outcome, not a password)
    UNCHANGED = "unchanged"  # not applicable or waived both times

    @property
    def gates(self) -> bool:
        """Whether this change fails the comparison (exit 1)."""
        return self in (Change.REGRESSED, Change.NEWLY_FAILING, Change.NEWLY_ERROR)

    @property
    def words(self) -> str:
        return self.value.replace("_", " ")


CHANGE_MEANING = {
    Change.REGRESSED: "passed before, fails now",
    Change.NEWLY_FAILING: "fails now; before it was absent, not applicable or could not decide",
    Change.NEWLY_ERROR: "the harness could not decide now (error); before it decided or was absent",
    Change.STILL_FAILING: "failed (or could not decide) both times",
    Change.FIXED: "failed or could not decide before (a waived one included), passes now",
    Change.NEWLY_WAIVED: "a waiver accepts its result now",
    Change.NEWLY_NOT_APPLICABLE: "applied before, not applicable now (the reason is recorded)",
    Change.NEWLY_PASSING: "not applicable before, applies and passes now",
    Change.ADDED: "absent from the older run; passes, is not applicable or waived now",
    Change.REMOVED: "in the older run, absent from the newer one",
    Change.UNCHANGED_PASS: "passed both times",
    Change.UNCHANGED: "not applicable both times, or waived both times",
}


def classify(old: CheckRecord | None, new: CheckRecord | None) -> Change:
    """The change from `old` to `new` (None: absent from that run)."""
    if new is None:
        return Change.REMOVED
    after = new.outcome
    if old is None:
        return {Outcome.FAILED: Change.NEWLY_FAILING, Outcome.ERROR: Change.NEWLY_ERROR}.get(
            after, Change.ADDED
        )
    before = old.outcome
    if before is Outcome.WAIVED and after is not Outcome.WAIVED:
        before = old.underlying_outcome or Outcome.FAILED
    if after is Outcome.WAIVED:
        return Change.UNCHANGED if before is Outcome.WAIVED else Change.NEWLY_WAIVED
    if after is Outcome.NOT_APPLICABLE:
        return Change.UNCHANGED if before is after else Change.NEWLY_NOT_APPLICABLE
    if after is Outcome.PASSED:
        if before is Outcome.PASSED:
            return Change.UNCHANGED_PASS
        return Change.NEWLY_PASSING if before is Outcome.NOT_APPLICABLE else Change.FIXED
    if after is Outcome.FAILED:
        if before is Outcome.PASSED:
            return Change.REGRESSED
        return Change.STILL_FAILING if before is Outcome.FAILED else Change.NEWLY_FAILING
    return Change.STILL_FAILING if before is Outcome.ERROR else Change.NEWLY_ERROR


@dataclass(frozen=True)
class CheckChange:
    """One check on one target in both runs."""

    check_id: str
    title: str
    target: str
    change: Change
    old_outcome: Outcome | None
    new_outcome: Outcome | None
    old_reason: str
    new_reason: str
    severity: str


@dataclass(frozen=True)
class RunSide:
    """What the comparison shows of one run."""

    path: str
    device: str
    serial_number: str
    firmware: str  # as profiled
    firmware_read: str  # as read back at the end ("" if never)
    harness_version: str
    status: str
    started: str
    manifest_sha256: str
    key_fingerprint: str
    observed: dict[str, str]


@dataclass(frozen=True)
class Comparison:
    """The whole comparison: both runs, every check's change, the evidence diffs."""

    old: RunSide
    new: RunSide
    same_device: bool
    changes: tuple[CheckChange, ...]
    evidence: tuple[EvidenceDiff, ...]
    notes: tuple[str, ...] = ()

    @property
    def regressions(self) -> tuple[CheckChange, ...]:
        return tuple(c for c in self.changes if c.change.gates)

    def counts(self) -> dict[Change, int]:
        totals = dict.fromkeys(Change, 0)
        for change in self.changes:
            totals[change.change] += 1
        return totals

    def to_json(self) -> dict[str, Any]:
        """The comparison as JSON-ready data (enums as their values)."""
        data = asdict(self)
        data["format"] = "medsec/compare/v1"
        data["regressions"] = len(self.regressions)
        data["counts"] = {k.value: v for k, v in self.counts().items()}
        plain: dict[str, Any] = _plain(data)
        return plain


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _side(run: SourceRun) -> RunSide:
    results = run.results
    read = [f.version for f in results.firmware if f.version]
    observed = results.device.observed
    return RunSide(
        path=str(run.path),
        device=run.device_name,
        serial_number=run.serial_number,
        firmware=str(results.device.profiled.get("firmware") or ""),
        firmware_read=read[-1] if read else str(observed.get("firmware_version", "")),
        harness_version=results.harness.version,
        status=results.status,
        started=results.started,
        manifest_sha256=run.manifest_sha256,
        key_fingerprint=run.verification.fingerprint,
        observed={str(k): clip(str(v)) for k, v in results.device.observed.items()},
    )


def _by_key(records: list[CheckRecord]) -> dict[tuple[str, str], CheckRecord]:
    keyed: dict[tuple[str, str], CheckRecord] = {}
    for record in records:
        keyed.setdefault((record.id, record.target), record)
    return keyed


def _order(change: CheckChange) -> tuple[int, str, str]:
    return (list(Change).index(change.change), change.check_id, change.target)


def compare_runs(old: SourceRun, new: SourceRun) -> Comparison:
    """Every (check id, target) of either run classified, and the evidence diffed where
    both runs have the check on that target."""
    before, after = _by_key(old.results.checks), _by_key(new.results.checks)
    comparer = EvidenceComparer(old.path, new.path)
    changes = []
    for key in list(before) + [k for k in after if k not in before]:
        was, now = before.get(key), after.get(key)
        either = now or was
        assert either is not None
        changes.append(
            CheckChange(
                check_id=key[0],
                title=either.title,
                target=key[1],
                change=classify(was, now),
                old_outcome=was.outcome if was else None,
                new_outcome=now.outcome if now else None,
                old_reason=clip(was.reason, 400) if was else "",
                new_reason=clip(now.reason, 400) if now else "",
                severity=either.severity,
            )
        )
        if was is not None and now is not None:
            comparer.compare(was, now)
    old_side, new_side = _side(old), _side(new)
    same = (old_side.device, old_side.serial_number) == (new_side.device, new_side.serial_number)
    notes = []
    if old.harness_major != new.harness_major:
        notes.append(
            f"the runs were made by harness versions {old_side.harness_version} and "
            f"{new_side.harness_version} (different major versions): checks and evidence "
            "may differ for that reason alone"
        )
    for side, label in ((old_side, "older"), (new_side, "newer")):
        if side.status != "complete":
            notes.append(f"the {label} run is {side.status}: absent results are not passes")
    return Comparison(
        old=old_side,
        new=new_side,
        same_device=same,
        changes=tuple(sorted(changes, key=_order)),
        evidence=tuple(comparer.diffs),
        notes=tuple(notes),
    )


def device_mismatch(old: SourceRun, new: SourceRun) -> str:
    """Why the two runs are of different devices ("" when name and serial agree)."""
    if (old.device_name, old.serial_number) == (new.device_name, new.serial_number):
        return ""
    return (
        f"the runs are of different devices: {old.device_name!r} (serial "
        f"{old.serial_number or 'not recorded'}) and {new.device_name!r} (serial "
        f"{new.serial_number or 'not recorded'})"
    )
