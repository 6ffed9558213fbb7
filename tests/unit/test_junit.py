"""junit.xml keeps to the Jenkins xUnit junit-10 rules and still says everything we know."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.reporting import junit
from harness.reporting.results import (
    CheckRecord,
    DeviceInfo,
    HarnessInfo,
    Outcome,
    ProfileInfo,
    RunConfiguration,
    RunResults,
    WaiverRecord,
)
from tests import junit_rules


def _record(outcome: Outcome, index: int) -> CheckRecord:
    return CheckRecord(
        id=f"AUTH-00{index + 1}",
        title="Default credentials refused over SSH",
        family="AUTH",
        target="ssh",
        outcome=outcome,
        reason="device said \x00\x1b[2J <b>",
        threats=["T-01"],
        controls=["C-01"],
        standards=["CR 1.1"],
        evidence=["evidence/AUTH-001/ssh/attempts.json"],
        duration_s=1.25,
        nodeid=f"x::t{index}",
        started="2026-11-30T01:02:03.000+00:00",
        finished="2026-11-30T01:02:04.250+00:00",
        severity="critical",
        firmware="2.4.1",
        underlying_outcome=Outcome.FAILED if outcome is Outcome.WAIVED else None,
        waiver=WaiverRecord(justification="x" * 10, expires="2027-01-01", applied=True)
        if outcome is Outcome.WAIVED
        else None,
    )


def _results() -> RunResults:
    return RunResults(
        status="complete",
        harness=HarnessInfo(version="0", python="3", packages={}),
        profile=ProfileInfo(path="p", sha256="0"),
        threat_model=None,
        device=DeviceInfo(profiled={}, observed={}),
        options={},
        started="2026-11-30T01:02:00.000+00:00",
        finished="2026-11-30T01:03:00.000+00:00",
        checks=[_record(o, i) for i, o in enumerate(Outcome)],
        configuration=RunConfiguration(policy={}, test_host={"hostname": "bench-3"}),
    )


def test_junit_keeps_to_the_junit_10_rules(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    junit.write_junit(_results(), path)
    assert junit_rules.problems(path.read_bytes()) == []


def test_the_rules_catch_what_the_old_writer_did() -> None:
    old = (
        b'<testsuites name="m" tests="1" skipped="0"><testsuite name="AUTH" tests="1" '
        b'failures="0" errors="0"><testcase name="x"><properties><property name="a" '
        b'value="b"/></properties></testcase></testsuite></testsuites>'
    )
    assert junit_rules.problems(old) == [
        "<testsuites> has attribute skipped",
        "<testcase x> holds <properties>",
    ]


def test_suites_say_when_where_and_how_long(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    junit.write_junit(_results(), path)
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib["timestamp"] == "2026-11-30T01:02:03"
    assert suite.attrib["hostname"] == "bench-3"
    assert suite.attrib["time"] == "6.250"
    assert root.attrib["time"] == "6.250"


def test_our_outcome_travels_in_system_out(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    junit.write_junit(_results(), path)
    outs = [c.findtext("system-out") or "" for c in ET.parse(path).getroot().iter("testcase")]
    assert any("outcome: waived (underlying: failed)" in text for text in outs)
    assert any("outcome: not_applicable" in text for text in outs)
    assert all("firmware: 2.4.1" in text and "severity: critical" in text for text in outs)
