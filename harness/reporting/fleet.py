"""`medsec fleet`'s results: each device's run judged from its exit status, folder and seal.

The fleet folder (written by `fleet_write`):

    DIR/fleet.json           `devices`: one entry per device (folder, exit code, verdict, counts)
    DIR/fleet.html           one row per device, linked to its report
    DIR/junit.xml            a testsuite per device: its run, then CHECK[device/target] cases
    DIR/devices/<key>/       each device's own run folder (report, evidence, its signed manifest)
    DIR/logs/<key>.log       what its `medsec run` printed
    DIR/profiles/<key>.yaml  a template device's rendered profile
    DIR/manifest.json,.sig,.pub   SHA-256 of every file above, and `device_manifests`: the
                             digest and signing key of each device run's own manifest
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness import __version__
from harness.evidence.manifest import MANIFEST, verify_run
from harness.reporting.results import Outcome, RunResults, load_run

DEVICES = "devices"
LOGS = "logs"
PROFILES = "profiles"
FLEET_JSON = "fleet.json"
FLEET_HTML = "fleet.html"
Verdict = Literal["passed", "failed", "error", "interrupted"]
VERDICTS: tuple[Verdict, ...] = ("passed", "failed", "error", "interrupted")
_EXIT_INTERRUPTED = 130  # `medsec run`'s status after Ctrl-C


@dataclass(frozen=True)
class DeviceRun:
    """How one device's `medsec run` process ended (exit_code None: never started)."""

    key: str
    profile: Path
    exit_code: int | None
    duration_s: float
    timed_out: bool = False
    stopped: bool = False  # the fleet told it to stop (Ctrl-C, SIGTERM)
    name: str = ""  # from the profile, for a run that left no results
    serial_number: str = ""
    firmware: str = ""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FleetDevice(_Record):
    """One device of fleet.json."""

    key: str = Field(description="its folder: devices/<key>, logs/<key>.log")
    name: str
    serial_number: str
    firmware: str = Field(description="as profiled")
    profile: str = Field(description="the profile its run read")
    folder: str = Field(description="its run folder, relative to the fleet folder")
    log: str = Field(description="what its medsec run printed, relative to the fleet folder")
    exit_code: int | None = Field(description="of its medsec run; null: never started")
    verdict: Verdict
    reason: str = Field(description="why the verdict, in one line")
    status: str = Field(description="results.json status, or 'no results'")
    counts: dict[str, int] = Field(description="check records per outcome")
    open_findings: int = Field(description="check records failed or error")
    failed_checks: list[str] = Field(description="CHECK[target] of every failed or error record")
    duration_s: float
    manifest_sha256: str = Field(description="of its own manifest.json; empty when unsealed")
    key_fingerprint: str = Field(description="the key its manifest verified with; empty if not")


class FleetResults(_Record):
    """The whole fleet.json."""

    schema_: Literal["medsec/fleet-results/v1"] = Field(
        default="medsec/fleet-results/v1", alias="schema"
    )
    name: str
    fleet_file: str
    fleet_sha256: str
    harness_version: str
    status: Literal["complete", "interrupted"]
    started: str
    finished: str
    options: dict[str, object]
    verdicts: dict[str, int] = Field(description="devices per verdict")
    devices: list[FleetDevice]

    @property
    def ok(self) -> bool:
        return self.status == "complete" and all(d.verdict == "passed" for d in self.devices)


def device_results(folder: Path) -> RunResults | None:
    """A device run folder's results (checks.jsonl's when it holds more), if readable."""
    try:
        return load_run(folder) if (folder / "results.json").is_file() else None
    except (ValidationError, ValueError, OSError):
        return None


def _verdict(run: DeviceRun, results: RunResults | None) -> tuple[Verdict, str]:
    if run.exit_code is None:
        return "interrupted", "not started: the fleet was interrupted"
    if run.timed_out:
        return "error", f"did not finish in time; stopped after {run.duration_s:.0f} s"
    if run.exit_code == _EXIT_INTERRUPTED or (results and results.status == "interrupted"):
        left = len(results.not_run) if results else 0
        return "interrupted", f"interrupted: {left} checks did not finish"
    if run.stopped and (results is None or results.status != "complete"):
        # Stopped as it started (still importing): it could not yet say so itself.
        return "interrupted", f"stopped by the fleet before its run said so (exit {run.exit_code})"
    if results is None:
        return "error", f"medsec run exited {run.exit_code} and left no results (see its log)"
    failed = sum(1 for c in results.checks if c.outcome is Outcome.FAILED)
    errors = sum(1 for c in results.checks if c.outcome is Outcome.ERROR)
    if results.status != "complete":
        return "error", f"the run did not complete ({results.status}, exit {run.exit_code})"
    if failed:
        return "failed", f"{failed} checks failed, {errors} could not decide"
    if errors or run.exit_code != 0:
        return "error", f"{errors} checks could not decide (exit {run.exit_code})"
    return "passed", "every check passed, was not applicable or waived"


def judge_device(run: DeviceRun, fleet_dir: Path) -> FleetDevice:
    """One device's entry, from its exit status, run folder and seal."""
    folder = fleet_dir / DEVICES / run.key
    results = device_results(folder)
    verdict, reason = _verdict(run, results)
    sealed = verify_run(folder) if (folder / MANIFEST).is_file() else None
    profiled = results.device.profiled if results else {}
    open_records = [
        c
        for c in (results.checks if results else [])
        if c.outcome in (Outcome.FAILED, Outcome.ERROR)
    ]
    return FleetDevice(
        key=run.key,
        name=str(profiled.get("name") or run.name),
        serial_number=str(profiled.get("serial_number") or run.serial_number),
        firmware=str(profiled.get("firmware") or run.firmware),
        profile=str(run.profile),
        folder=f"{DEVICES}/{run.key}",
        log=f"{LOGS}/{run.key}.log",
        exit_code=run.exit_code,
        verdict=verdict,
        reason=reason,
        status=results.status if results else "no results",
        counts=results.counts() if results else {},
        open_findings=len(open_records),
        failed_checks=[f"{c.id}[{c.target}]" for c in open_records],
        duration_s=round(run.duration_s, 3),
        manifest_sha256=(
            hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
            if sealed is not None and sealed.ok
            else ""
        ),
        key_fingerprint=sealed.fingerprint if sealed is not None and sealed.ok else "",
    )


@dataclass(frozen=True)
class FleetMeta:
    """What the fleet command knows besides the runs."""

    name: str
    fleet_file: Path
    fleet_sha256: str
    started: dt.datetime
    interrupted: bool
    options: dict[str, object]


def fleet_results(meta: FleetMeta, devices: list[FleetDevice]) -> FleetResults:
    """fleet.json's content: interrupted if the fleet or any device run was."""
    interrupted = meta.interrupted or any(d.verdict == "interrupted" for d in devices)
    return FleetResults(
        name=meta.name,
        fleet_file=str(meta.fleet_file),
        fleet_sha256=meta.fleet_sha256,
        harness_version=__version__,
        status="interrupted" if interrupted else "complete",
        started=meta.started.isoformat(timespec="seconds"),
        finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        options=meta.options,
        verdicts={v: sum(1 for d in devices if d.verdict == v) for v in VERDICTS},
        devices=devices,
    )
