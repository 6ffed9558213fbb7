"""junit.xml: our outcomes in the JUnit vocabulary CI servers read.

The shape follows the Jenkins xUnit plugin's junit-10 schema: counts on `testsuites` are
tests, failures and errors only; each `testsuite` carries its time, timestamp and host;
a `testcase` holds at most a failure, error or skipped element and its system-out, where
our own outcome, threats, controls and evidence are written (no per-testcase properties).
"""

from __future__ import annotations

import datetime as dt
import platform
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.config import catalogue
from harness.reporting.results import CheckRecord, Outcome, RunResults

_XML_INVALID = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def _system_out(record: CheckRecord) -> str:
    lines = [
        *([f"device: {record.device}"] if record.device else []),
        f"outcome: {record.outcome.value}"
        + (
            f" (underlying: {record.underlying_outcome.value})" if record.underlying_outcome else ""
        ),
        f"reason: {record.reason}",
        f"severity: {record.severity or 'not recorded'}",
        f"firmware: {record.firmware or 'not read back'}",
        f"threats: {', '.join(record.threats) or '-'}",
        f"controls: {', '.join(record.controls) or '-'}",
        f"standards: {', '.join(record.standards) or '-'}",
        "evidence:",
        *(f"  {path}" for path in record.evidence),
    ]
    return _xml_text("\n".join(lines))


def _where(record: CheckRecord) -> str:
    """The target, after its device in a merged run (two devices share target names)."""
    return f"{record.device}/{record.target}" if record.device else record.target


def _timestamp(text: str | None) -> str:
    """ISO 8601 without a zone suffix, as JUnit consumers expect (the value is UTC)."""
    if not text:
        return ""
    moment = dt.datetime.fromisoformat(text).astimezone(dt.timezone.utc)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds")


_COUNTED = {Outcome.FAILED: "failures", Outcome.ERROR: "errors"}


def _case(
    suite: ET.Element, classname: str, name: str, outcome: Outcome, reason: str
) -> ET.Element:
    """One testcase: failed -> failure, error -> error, not applicable and waived -> skipped."""
    case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(name))
    reason = _xml_text(reason)
    if outcome is Outcome.FAILED:
        ET.SubElement(case, "failure", message=reason, type="failed").text = reason
    elif outcome is Outcome.ERROR:
        ET.SubElement(case, "error", message=reason, type="error").text = reason
    elif outcome in (Outcome.NOT_APPLICABLE, Outcome.WAIVED):
        ET.SubElement(case, "skipped", message=f"{outcome.value}: {reason}", type=outcome.value)
    return case


def _check_cases(suite: ET.Element, classname: str, records: list[CheckRecord]) -> None:
    for record in records:
        case = _case(
            suite,
            classname,
            f"{record.id}[{_where(record)}] {record.title}",
            record.outcome,
            record.reason,
        )
        case.set("time", f"{record.duration_s:.3f}")
        ET.SubElement(case, "system-out").text = _system_out(record)


def _close_suite(suite: ET.Element, outcomes: list[Outcome], seconds: float) -> dict[str, int]:
    """Set the suite's counts and time; returns its tests, failures and errors."""
    counts = {"tests": len(outcomes), "failures": 0, "errors": 0, "skipped": 0}
    for outcome in outcomes:
        counted = _COUNTED.get(outcome, "skipped" if outcome is not Outcome.PASSED else "")
        if counted:
            counts[counted] += 1
    for key, count in counts.items():
        suite.set(key, str(count))
    suite.set("time", f"{seconds:.3f}")
    return counts


def _write(root: ET.Element, totals: dict[str, int], seconds: float, path: Path) -> None:
    for key in ("tests", "failures", "errors"):
        root.set(key, str(totals.get(key, 0)))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")


def write_junit(results: RunResults, path: Path) -> None:
    """One testsuite per check family, one testcase per check and target."""
    root = ET.Element("testsuites", name="medsec-harness")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    hostname = (
        results.configuration.test_host.get("hostname", "") if results.configuration else ""
    ) or platform.node()
    for family in catalogue.Family:
        records = [c for c in results.checks if c.family == family.value]
        if not records:
            continue
        suite = ET.SubElement(root, "testsuite", name=family.value)
        _check_cases(suite, f"medsec.{family.value}", records)
        suite_time = sum(r.duration_s for r in records)
        total_time += suite_time
        counts = _close_suite(suite, [r.outcome for r in records], suite_time)
        suite.set("timestamp", _timestamp(records[0].started))
        suite.set("hostname", hostname)
        for key in totals:
            totals[key] += counts[key]
    _write(root, totals, total_time, path)


@dataclass(frozen=True)
class DeviceSuite:
    """One device of a fleet: how its run ended, and its check records (`device` set)."""

    key: str
    outcome: Outcome  # of the run as a whole: passed, failed or error
    reason: str
    records: list[CheckRecord]


def write_device_suites(devices: list[DeviceSuite], path: Path) -> None:
    """A testsuite per device: `run[KEY]` (the device's verdict), then each check as
    CHECK[KEY/target], so a CI server lists every device and every finding by name."""
    root = ET.Element("testsuites", name="medsec-harness fleet")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    for device in devices:
        suite = ET.SubElement(root, "testsuite", name=device.key, hostname=platform.node())
        _case(
            suite, f"medsec.fleet.{device.key}", f"run[{device.key}]", device.outcome, device.reason
        )
        _check_cases(suite, f"medsec.fleet.{device.key}", device.records)
        seconds = sum(r.duration_s for r in device.records)
        total_time += seconds
        counts = _close_suite(
            suite, [device.outcome, *(r.outcome for r in device.records)], seconds
        )
        if device.records:
            suite.set("timestamp", _timestamp(device.records[0].started))
        for key in totals:
            totals[key] += counts[key]
    _write(root, totals, total_time, path)
