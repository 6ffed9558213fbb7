"""Hand-made, signed run folders for the compare and merge tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.config import catalogue
from harness.evidence.manifest import write_manifest
from harness.reporting.results import (
    ArtifactRecord,
    CheckRecord,
    DeviceInfo,
    HarnessInfo,
    Outcome,
    ProfileInfo,
    RunResults,
    save,
)

Check = tuple[str, str, Outcome]  # check id, target, outcome


def make_run(
    folder: Path,
    checks: list[Check],
    *,
    evidence: dict[tuple[str, str], dict[str, Any]] | None = None,
    device: str = "Pump IP-100",
    serial: str = "SN-1",
    version: str = "0.1.0",
    summaries: dict[tuple[str, str], list[str]] | None = None,
) -> Path:
    """A run folder with one record per check, the given JSON evidence, signed."""
    folder.mkdir(parents=True)
    records = []
    for check_id, target, outcome in checks:
        spec = catalogue.get(check_id)
        artifacts = []
        for name, content in (evidence or {}).get((check_id, target), {}).items():
            path = f"evidence/{check_id}/{target}/{name}"
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            raw = content if isinstance(content, str) else json.dumps(content)
            (folder / path).write_text(raw)
            artifacts.append(ArtifactRecord(path=path, title=name, shown=False))
        records.append(
            CheckRecord(
                id=check_id,
                title=spec.title,
                family=spec.family.value,
                target=target,
                outcome=outcome,
                reason=f"{check_id} on {target}: {outcome.value}",
                threats=[],
                controls=[],
                standards=list(spec.standards),
                evidence=[a.path for a in artifacts],
                artifacts=artifacts,
                duration_s=0.1,
                nodeid=f"testsuites/x.py::{check_id}[{target}]",
                started="2026-11-30T02:10:12+00:00",
                finished="2026-11-30T02:10:13+00:00",
                severity=spec.severity.value,
                underlying_outcome=Outcome.FAILED if outcome is Outcome.WAIVED else None,
                summary=(summaries or {}).get((check_id, target), []),
            )
        )
    results = RunResults(
        status="complete",
        harness=HarnessInfo(version=version, python="3.11", packages={}),
        profile=ProfileInfo(path="pump.yaml", sha256="ab" * 32),
        threat_model=None,
        device=DeviceInfo(
            profiled={"name": device, "serial_number": serial, "firmware": "2.4.1"},
            observed={"ssh_identification": "SSH-2.0-pumpd"},
        ),
        options={},
        started="2026-11-30T02:10:11+00:00",
        finished="2026-11-30T02:20:11+00:00",
        checks=records,
    )
    save(results, folder / "results.json")
    (folder / "report.html").write_text("<html></html>\n")
    write_manifest(folder, Ed25519PrivateKey.generate(), key_source="test", meta={})
    return folder
