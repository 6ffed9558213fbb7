"""results.json: the machine-readable record of a run, rewritten after every check.

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

from pydantic import BaseModel, ConfigDict, Field


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
    started: str
    finished: str


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


class DeviceInfo(_Record):
    profiled: dict[str, Any]
    observed: dict[str, Any]


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
    started: str
    finished: str | None
    checks: list[CheckRecord]
    not_run: list[str] = Field(default=[], description="collected checks that did not finish")

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
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(results: RunResults, path: Path) -> None:
    write_atomic(path, results.model_dump_json(by_alias=True, indent=2) + "\n")


def load(path: Path) -> RunResults:
    return RunResults.model_validate_json(path.read_text(encoding="utf-8"))


def json_schema() -> str:
    schema = RunResults.model_json_schema(by_alias=True)
    schema["title"] = "medsec-harness results.json (medsec/results/v1)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
