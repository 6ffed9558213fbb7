"""The rules of the Jenkins xUnit plugin's junit-10 schema, as assertions of our own.

Jenkins (and most CI servers after it) read junit.xml against that schema; its file is not
ours to ship, so its constraints are checked here one by one: which elements may appear
where, which attributes each may carry, which are required, and the time format.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

SUREFIRE_TIME = re.compile(r"^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$")
OUTCOME = {"type", "message"}
SUITES_ATTRS = {"name", "time", "tests", "failures", "errors"}
SUITE_ATTRS = {
    "name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp",
    "hostname", "id", "package", "file", "log", "url",
}  # fmt: skip
SUITE_REQUIRED = {"name", "tests", "failures", "errors"}
SUITE_CHILDREN = {"testsuite", "properties", "testcase", "system-out", "system-err"}
CASE_ATTRS = {"name", "time", "classname", "group"}
CASE_CHILDREN = {
    "skipped", "error", "failure", "rerunFailure", "rerunError", "flakyFailure",
    "flakyError", "system-out", "system-err",
}  # fmt: skip


def problems(document: bytes) -> list[str]:
    """Every way `document` breaks the junit-10 rules (empty: it conforms)."""
    root = ET.fromstring(document)
    found: list[str] = []
    if root.tag != "testsuites":
        return [f"root element is <{root.tag}>, not <testsuites>"]
    found += _attributes(root, SUITES_ATTRS, set())
    for suite in root:
        if suite.tag != "testsuite":
            found.append(f"<testsuites> holds <{suite.tag}>")
            continue
        found += _suite(suite)
    return found


def _suite(suite: ET.Element) -> list[str]:
    found = _attributes(suite, SUITE_ATTRS, SUITE_REQUIRED)
    for child in suite:
        if child.tag not in SUITE_CHILDREN:
            found.append(f"<testsuite> holds <{child.tag}>")
        elif child.tag == "testcase":
            found += _attributes(child, CASE_ATTRS, {"name"})
            for grandchild in child:
                if grandchild.tag not in CASE_CHILDREN:
                    found.append(f"<testcase {child.get('name')}> holds <{grandchild.tag}>")
                elif grandchild.tag in ("skipped", "error", "failure"):
                    found += _attributes(grandchild, OUTCOME, set())
        elif child.tag == "testsuite":
            found += _suite(child)
    return found


def _attributes(element: ET.Element, allowed: set[str], required: set[str]) -> list[str]:
    present = set(element.attrib)
    found = [f"<{element.tag}> has attribute {a}" for a in sorted(present - allowed)]
    found += [f"<{element.tag}> lacks attribute {a}" for a in sorted(required - present)]
    time = element.get("time")
    timed = element.tag in ("testsuites", "testsuite") and time is not None
    if timed and not SUREFIRE_TIME.match(time or ""):
        found.append(f"<{element.tag}> time {time!r} is not a SUREFIRE_TIME")
    return found
