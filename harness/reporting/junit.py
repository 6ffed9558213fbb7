"""junit.xml: our outcomes in the JUnit vocabulary CI servers read."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.config import catalogue
from harness.reporting.results import Outcome, RunResults

_XML_INVALID = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def write_junit(results: RunResults, path: Path) -> None:
    """JUnit XML with our outcomes: failed -> failure, error -> error, NA and waived -> skipped."""
    root = ET.Element("testsuites", name="medsec-harness")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
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
                name=_xml_text(f"{record.id}[{record.target}]"),
                time=f"{record.duration_s:.3f}",
            )
            properties = ET.SubElement(case, "properties")
            for name, value in (
                ("check", record.id),
                ("outcome", record.outcome.value),
                ("threats", ",".join(record.threats)),
                ("controls", ",".join(record.controls)),
            ):
                ET.SubElement(properties, "property", name=name, value=value)
            reason = _xml_text(record.reason)
            if record.outcome is Outcome.FAILED:
                ET.SubElement(case, "failure", message=reason).text = reason
                counts["failures"] += 1
            elif record.outcome is Outcome.ERROR:
                ET.SubElement(case, "error", message=reason).text = reason
                counts["errors"] += 1
            elif record.outcome in (Outcome.NOT_APPLICABLE, Outcome.WAIVED):
                ET.SubElement(case, "skipped", message=f"{record.outcome.value}: {reason}")
                counts["skipped"] += 1
            ET.SubElement(case, "system-out").text = _xml_text("\n".join(record.evidence))
        for key, count in counts.items():
            suite.set(key, str(count))
            totals[key] += count
    for key, count in totals.items():
        root.set(key, str(count))
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
