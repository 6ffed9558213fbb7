"""results.json: the machine-readable record of a run.

During the run each finished check is appended to `checks.jsonl` (one `CheckRecord` per
line, so nothing is lost and nothing is rewritten); results.json is written when the run
starts and when it ends, however it ends.

The models forbid unknown fields and their JSON Schema is published
(`docs/results.schema.json`), so outside tools can rely on the shape.
"""

from __future__ import annotations

import enum
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Outcome(str, enum.Enum):
    """The outcomes of DESIGN.md; `error` means the harness could not decide."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    NOT_APPLICABLE = "not_applicable"
    WAIVED = "waived"

    @property
    def ok(self) -> bool:
        """Whether this outcome leaves the exit status at 0."""
        return self in (Outcome.PASSED, Outcome.NOT_APPLICABLE, Outcome.WAIVED)


# Worst first: how several targets of one check combine into one outcome.
SEVERITY = (Outcome.FAILED, Outcome.ERROR, Outcome.WAIVED, Outcome.PASSED, Outcome.NOT_APPLICABLE)


def worst(outcomes: list[Outcome]) -> Outcome | None:
    return min(outcomes, key=SEVERITY.index) if outcomes else None


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WaiverRecord(_Record):
    justification: str
    expires: str
    applied: bool
    note: str = ""
    approved_by: str = Field(default="", description="who accepted the finding")
    reference: str = Field(default="", description="e.g. the CAPA or risk record id")


class ArtifactRecord(_Record):
    """One evidence file of a check, as the report presents it."""

    path: str = Field(description="relative to the run folder")
    title: str
    shown: bool = Field(default=False, description="shown in full in the report, not only linked")


class CheckRecord(_Record):
    """One check on one target."""

    id: str
    title: str
    family: str
    target: str
    outcome: Outcome
    reason: str
    threats: list[str]
    controls: list[str]
    standards: list[str]
    evidence: list[str]
    duration_s: float
    cwe: list[str] = []
    capec: list[str] = []
    underlying_outcome: Outcome | None = Field(
        default=None, description="the result before a waiver was applied"
    )
    waiver: WaiverRecord | None = None
    summary: list[str] = []
    nodeid: str
    started: str = Field(json_schema_extra={"format": "date-time"})
    finished: str = Field(json_schema_extra={"format": "date-time"})
    severity: str = Field(default="", description="the catalogue's severity of a failure")
    criterion: str = Field(
        default="", description="the pass criterion, with the profile's values filled in"
    )
    firmware: str | None = Field(
        default=None,
        description="the firmware version in force when the check started, as read back "
        "from the device; None when the run could not read it",
    )
    artifacts: list[ArtifactRecord] = Field(
        default=[], description="the evidence files with their titles, in recording order"
    )
    device: str = Field(
        default="",
        description="merged runs only: the `key` of the device (in `devices`) it ran on; "
        "evidence paths then point into that device's folder",
    )


class HarnessInfo(_Record):
    version: str
    python: str
    packages: dict[str, str]


class ProfileInfo(_Record):
    path: str
    sha256: str


class ThreatModelInfo(_Record):
    path: str
    sha256: str
    system: str
    version: str | None = None
    document: dict[str, Any] | None = Field(
        default=None,
        description="the validated threat model itself, so the matrix can be rendered again "
        "from the run folder alone",
    )


class FirmwareReading(_Record):
    """One reading of the running firmware version (or its failure)."""

    at: str = Field(json_schema_extra={"format": "date-time"})
    version: str | None  # None: the read failed (see `note`)
    source: str  # "start", "end", or the check id whose delivery or read it was
    note: str = ""


class RunConfiguration(_Record):
    """How the run was configured: what a reviewer needs to repeat it."""

    policy: dict[str, Any] = Field(description="every policy value in force, defaults included")
    crypto_policies: dict[str, str] = Field(
        default={}, description="the TLS and SSH crypto policies, by name and version"
    )
    suites: list[str] = []
    command: list[str] = Field(default=[], description="the command line of the run")
    allow_destructive: bool = False
    test_host: dict[str, str] = {}
    tester: str = ""
    organisation: str = ""
    independence: str = Field(
        default="", description="who tested, and how independent of the device's developers"
    )
    signing_key_fingerprint: str = ""
    signing_key_source: str = ""
    lab: dict[str, Any] | None = Field(
        default=None,
        description="the labgrid place the run acquired: place, coordinator, the console and "
        "power port it gave, when it was acquired and how it was released",
    )


class DeviceInfo(_Record):
    profiled: dict[str, Any]
    observed: dict[str, Any]


class MergedDevice(_Record):
    """One source run of a merged results.json (`medsec merge`)."""

    key: str = Field(description="the device's folder under devices/, and each check's `device`")
    name: str
    serial_number: str = ""
    firmware: str = Field(default="", description="as profiled")
    folder: str = Field(description="the source run folder's copy, relative to the merge")
    source: str = Field(description="where the source run folder was when merged")
    manifest_sha256: str = Field(description="SHA-256 of the source run's manifest.json")
    key_fingerprint: str = Field(description="the key that signed the source run's manifest")
    harness_version: str
    status: str
    started: str
    finished: str | None
    profile: ProfileInfo
    device: DeviceInfo
    threat_model: ThreatModelInfo | None = None
    counts: dict[str, int] = {}


RunStatus = Literal["running", "complete", "interrupted", "aborted"]
"""`running` while checks run; `complete`: every collected check ran and pytest ended
normally; `interrupted`: Ctrl-C (or SIGTERM) at any moment; `aborted`: pytest stopped
for another reason (an internal error, `-x`) before every check ran."""


class RunResults(_Record):
    """The whole results.json."""

    schema_: Literal["medsec/results/v1"] = Field(default="medsec/results/v1", alias="schema")
    status: RunStatus
    harness: HarnessInfo
    profile: ProfileInfo
    threat_model: ThreatModelInfo | None
    device: DeviceInfo
    options: dict[str, Any]
    started: str = Field(json_schema_extra={"format": "date-time"})
    finished: str | None = Field(json_schema_extra={"format": "date-time"})
    checks: list[CheckRecord]
    not_run: list[str] = Field(default=[], description="collected checks that did not finish")
    configuration: RunConfiguration | None = None
    implemented: list[str] = Field(
        default=[], description="check ids this harness version implements"
    )
    selected: list[str] = Field(
        default=[], description="check ids collected for this run (the rest were deselected)"
    )
    firmware: list[FirmwareReading] = Field(
        default=[], description="every reading of the running firmware, in order"
    )
    devices: list[MergedDevice] = Field(
        default=[],
        description="merged runs only (`medsec merge`): one entry per source run; each "
        "check's `device` names its entry; empty for a single run",
    )

    def counts(self) -> dict[str, int]:
        totals = {o.value: 0 for o in Outcome}
        for check in self.checks:
            totals[check.outcome.value] += 1
        return totals

    @property
    def ok(self) -> bool:
        return all(c.outcome.ok for c in self.checks)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` in one step, so a crash never leaves half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as an ordinary file would be, not mkstemp's 0600
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(results: RunResults, path: Path) -> None:
    write_atomic(path, results.model_dump_json(by_alias=True, indent=2) + "\n")


CHECKS_LOG = "checks.jsonl"


def load(path: Path) -> RunResults:
    return RunResults.model_validate_json(path.read_text(encoding="utf-8"))


SCHEMA_ID = "urn:medsec-harness:schema:results:v1"


def load_run(run_dir: Path) -> RunResults:
    """results.json, with the checks of checks.jsonl when it holds more (a run that ended
    before it could write its final results.json); a torn last line is skipped."""
    results = load(run_dir / "results.json")
    journal = run_dir / CHECKS_LOG
    if journal.is_file():
        records = []
        for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                records.append(CheckRecord.model_validate_json(line))
            except ValidationError:
                continue
        if len(records) > len(results.checks):
            results.checks = records
    return results


def json_schema() -> str:
    schema = RunResults.model_json_schema(by_alias=True)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "medsec-harness results.json (medsec/results/v1)",
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
