"""Device-controlled text is escaped in every HTML fragment and valid in junit.xml."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.evidence.recorder import Artifact
from harness.reporting import html as report
from harness.reporting import junit
from harness.reporting.results import (
    CheckRecord,
    DeviceInfo,
    HarnessInfo,
    Outcome,
    ProfileInfo,
    RunResults,
)

HOSTILE = '<script>alert("pwned")</script>\x00\x1b[31m'


def _record(outcome: Outcome, reason: str = HOSTILE) -> CheckRecord:
    return CheckRecord(
        id="AUTH-001",
        title="Default credentials refused over SSH",
        family="AUTH",
        target="ssh",
        outcome=outcome,
        reason=reason,
        threats=["TM-01"],
        controls=["SC-01"],
        standards=["CR 1.1"],
        evidence=["evidence/AUTH-001/ssh/ssh.txt"],
        duration_s=0.5,
        summary=[f"banner {HOSTILE}"],
        nodeid="x::y",
        started="",
        finished="",
    )


def test_check_block_escapes_everything_from_the_device() -> None:
    block = report.check_block(
        _record(Outcome.FAILED), [Artifact("evidence/a.txt", "transcript", f"recv {HOSTILE}\nEnd")]
    )
    assert "<script>" not in block
    assert "&lt;script&gt;" in block
    assert "\n" not in block  # pytest-html would colour lines starting with "E"


def test_summary_escapes_observed_identity() -> None:
    results = RunResults(
        status="complete",
        harness=HarnessInfo(version="0", python="3", packages={}),
        profile=ProfileInfo(path="p.yaml", sha256="0"),
        threat_model=None,
        device=DeviceInfo(profiled={"name": "pump"}, observed={"ssh_identification": HOSTILE}),
        options={},
        started="s",
        finished="f",
        checks=[_record(Outcome.PASSED)],
    )
    html = report.summary_html(results, None, "SHA256:x")
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html


def test_junit_maps_outcomes_and_survives_control_characters(tmp_path: Path) -> None:
    records = [_record(o) for o in Outcome]
    results = RunResults(
        status="complete",
        harness=HarnessInfo(version="0", python="3", packages={}),
        profile=ProfileInfo(path="p", sha256="0"),
        threat_model=None,
        device=DeviceInfo(profiled={}, observed={}),
        options={},
        started="s",
        finished="f",
        checks=records,
    )
    path = tmp_path / "junit.xml"
    junit.write_junit(results, path)
    root = ET.parse(path).getroot()
    assert root.attrib["tests"] == "5"
    assert root.attrib["failures"] == "1"
    assert root.attrib["errors"] == "1"
    assert sum(int(s.attrib["skipped"]) for s in root) == 2
