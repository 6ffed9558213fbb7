"""Run folders read by `medsec compare` and `medsec merge`: verified first, then loaded.

A folder whose signed manifest does not verify (unsigned, tampered, a file added or
removed) is refused with `RunInputError`: nothing is compared or merged on evidence that
may have been edited since the run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from harness.core.errors import MedsecError
from harness.evidence.manifest import MANIFEST, Verification, verify_run
from harness.reporting.results import RunResults, load_run

_LISTED = 5  # files named in a refusal; the rest are counted


class RunInputError(MedsecError):
    """A run folder that cannot be compared or merged (the CLI exits 2)."""


@dataclass(frozen=True)
class SourceRun:
    """One verified run folder and its results."""

    path: Path
    results: RunResults
    verification: Verification
    manifest_sha256: str  # SHA-256 of its manifest.json, the digest a merge lists

    @property
    def device_name(self) -> str:
        return str(self.results.device.profiled.get("name") or "")

    @property
    def serial_number(self) -> str:
        return str(self.results.device.profiled.get("serial_number") or "")

    @property
    def harness_major(self) -> str:
        return harness_major(self.results.harness.version)


def harness_major(version: str) -> str:
    """The MAJOR of a MAJOR.MINOR.PATCH version (the whole text if it has no dot)."""
    return version.split(".", 1)[0]


def _why_unverified(result: Verification) -> str:
    if result.problem:
        return result.problem
    parts = []
    for label, paths in (
        ("modified", result.modified),
        ("missing", result.missing),
        ("added", result.added),
    ):
        if paths:
            shown = ", ".join(paths[:_LISTED])
            more = f" and {len(paths) - _LISTED} more" if len(paths) > _LISTED else ""
            parts.append(f"{label}: {shown}{more}")
    return "; ".join(parts)


def load_verified(run_dir: Path) -> SourceRun:
    """The run folder `run_dir`, its manifest verified against the key saved in it."""
    if not run_dir.is_dir():
        raise RunInputError(f"{run_dir}: not a folder")
    if not (run_dir / MANIFEST).is_file():
        raise RunInputError(f"{run_dir}: no {MANIFEST}: not a signed run folder")
    result = verify_run(run_dir)
    if not result.ok:
        raise RunInputError(
            f"{run_dir}: the signed manifest does not verify ({_why_unverified(result)}); "
            f"`medsec verify {run_dir}` lists every difference"
        )
    try:
        results = load_run(run_dir)
    except (ValidationError, ValueError, OSError) as exc:
        raise RunInputError(f"{run_dir / 'results.json'} cannot be read: {exc}") from None
    digest = hashlib.sha256((run_dir / MANIFEST).read_bytes()).hexdigest()
    return SourceRun(run_dir, results, result, digest)
