"""A small run and its profile for the SARIF tests: every outcome, a waiver, known lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema

from harness.config import catalogue
from harness.reporting.results import (
    ArtifactRecord,
    CheckRecord,
    DeviceInfo,
    HarnessInfo,
    Outcome,
    ProfileInfo,
    RunResults,
    WaiverRecord,
)

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
SECRET = "hunter2-console-secret"

# Line numbers below are part of the test: each site must point at its line.
PROFILE = f"""\
schema: medsec/profile/v1
device:
  name: Bench pump
  vendor: Example Medical
  model: IP-100
  firmware: 2.4.1
  serial_number: SN-1
scope:
  allow: [192.0.2.10/32]
network:
  host: 192.0.2.10
  expected_tcp: [22, 443, 8883]
  expected_udp: []
  services:
    - {{name: therapy-api, port: 443, protocol: https}}
    - {{name: ssh, port: 22, protocol: ssh}}
    - {{name: telemetry, port: 8883, protocol: mqtts}}
    - {{name: broker, port: 1883, protocol: mqtt}}
ssh:
  port: 22
  username: service
  password: ${{PUMP_SSH_PASSWORD}}
serial:
  url: socket://192.0.2.10:4000
  password: {SECRET}
http:
  base_url: https://admin:{SECRET}@192.0.2.10:443/api?token={SECRET}
update:
  channel: https
  url: https://192.0.2.10:443/api/update
tls_client:
  listen: 192.0.2.1:8443
"""
LINES = {
    "device": 2,
    "network": 10,
    "expected_tcp": 12,
    "expected_udp": 13,
    "therapy-api": 15,
    "ssh-service": 16,
    "telemetry": 17,
    "broker": 18,
    "ssh": 19,
    "serial": 23,
    "http": 26,
    "update": 28,
    "tls_client": 31,
}
STARTED = "2026-11-30T02:10:12.345+00:00"
FINISHED = "2026-11-30T02:12:00.000+00:00"


def record(check_id: str, target: str, outcome: Outcome, reason: str, **extra: Any) -> CheckRecord:
    spec = catalogue.get(check_id)
    evidence = [f"evidence/{check_id}/{target}/transcript.txt"]
    return CheckRecord(
        id=check_id,
        title=spec.title,
        family=spec.family.value,
        target=target,
        outcome=outcome,
        reason=reason,
        threats=["T-01"],
        controls=["C-01"],
        standards=list(spec.standards),
        cwe=list(spec.cwe),
        capec=list(spec.capec),
        evidence=evidence,
        artifacts=[ArtifactRecord(path=p, title="what was sent and received") for p in evidence],
        duration_s=0.5,
        nodeid=f"testsuites/x.py::{check_id}[{target}]",
        started=STARTED,
        finished=FINISHED,
        severity=spec.severity.value,
        criterion=spec.criterion,
        firmware="2.4.1",
        **extra,
    )


def every_outcome() -> list[CheckRecord]:
    """One record of each outcome, on targets spread over the profile."""
    waiver = WaiverRecord(
        justification="Legacy broker replaced in release 3.0",
        expires="2099-06-30",
        applied=True,
        approved_by="QA lead",
        reference="CAPA-1187",
    )
    return [
        record("CRYPTO-001", "therapy-api", Outcome.FAILED, "accepts TLS 1.0, TLS 1.1"),
        record("CRYPTO-008", "ssh", Outcome.PASSED, "every criterion met"),
        record("AUTH-002", "serial", Outcome.ERROR, "no login prompt within 10 s"),
        record("SURFACE-009", "network", Outcome.NOT_APPLICABLE, "the profile has no host6"),
        record(
            "CRYPTO-007",
            "telemetry",
            Outcome.WAIVED,
            "renegotiation accepted",
            underlying_outcome=Outcome.FAILED,
            waiver=waiver,
        ),
        record("SURFACE-001", "network", Outcome.FAILED, "9999 open, not expected"),
    ]


def run_results(checks: list[CheckRecord], profile: Path, **extra: Any) -> RunResults:
    return RunResults(
        status=extra.pop("status", "complete"),
        harness=HarnessInfo(version="0.1.0", python="3.11", packages={}),
        profile=ProfileInfo(
            path=str(profile), sha256=hashlib.sha256(profile.read_bytes()).hexdigest()
        ),
        threat_model=None,
        device=DeviceInfo(
            profiled={
                "name": "Bench pump",
                "vendor": "Example Medical",
                "model": "IP-100",
                "firmware": extra.pop("firmware", "2.4.1"),
                "serial_number": "SN-1",
                "hardware": None,
            },
            observed={},
        ),
        options={},
        started=STARTED,
        finished=extra.pop("finished", FINISHED),
        checks=checks,
        **extra,
    )


def write_profile(folder: Path) -> Path:
    path = folder / "profiles" / "bench.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PROFILE)
    return path


def schema_errors(log: dict[str, Any]) -> list[str]:
    """What the official SARIF 2.1.0 schema finds wrong with `log` (after a JSON round trip)."""
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    document = json.loads(json.dumps(log))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
