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


def write_junit(results: RunResults, path: Path) -> None:
    """failed -> failure, error -> error, not applicable and waived -> skipped."""
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
        counts = {"tests": len(records), "failures": 0, "errors": 0, "skipped": 0}
        for record in records:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"medsec.{family.value}",
                name=_xml_text(f"{record.id}[{_where(record)}] {record.title}"),
                time=f"{record.duration_s:.3f}",
            )
            reason = _xml_text(record.reason)
            if record.outcome is Outcome.FAILED:
                ET.SubElement(case, "failure", message=reason, type="failed").text = reason
                counts["failures"] += 1
            elif record.outcome is Outcome.ERROR:
                ET.SubElement(case, "error", message=reason, type="error").text = reason
                counts["errors"] += 1
            elif record.outcome in (Outcome.NOT_APPLICABLE, Outcome.WAIVED):
                ET.SubElement(
                    case, "skipped", message=f"{record.outcome.value}: {reason}",
                    type=record.outcome.value,
                )  # fmt: skip
                counts["skipped"] += 1
            ET.SubElement(case, "system-out").text = _system_out(record)
        suite_time = sum(r.duration_s for r in records)
        total_time += suite_time
        for key, count in counts.items():
            suite.set(key, str(count))
        suite.set("time", f"{suite_time:.3f}")
        suite.set("timestamp", _timestamp(records[0].started))
        suite.set("hostname", hostname)
        for key in totals:
            totals[key] += counts[key]
    for key, count in totals.items():
        root.set(key, str(count))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
