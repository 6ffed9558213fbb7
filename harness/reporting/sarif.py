"""SARIF 2.1.0 from a run's results: for GitHub code scanning, DefectDojo and other viewers.

Two modes. `github`: one result per failed (check, target), each placed on the profile line
that describes the target, since code scanning only shows results at a line of a file.
`full`: every record, its outcome as the result's `kind` (passed -> pass, not applicable ->
notApplicable, error -> review), a waived check as its underlying result with an accepted
suppression. Rules come from the catalogue (`sarif_rules`), lines from the profile
(`sarif_sites`). Every text a device or profile wrote passes through `clean`, and evidence
is referred to by its path in the run folder, never copied.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

from harness.config import catalogue
from harness.core.terminal import clean
from harness.reporting import sarif_rules
from harness.reporting.results import CheckRecord, Outcome, RunResults, write_atomic
from harness.reporting.sarif_sites import ProfileSites

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SOURCE_ROOT = "%SRCROOT%"  # the repository (working) folder; GitHub resolves it to the checkout
RUN_FOLDER = "RUNDIR"
FINGERPRINT = "medsecFinding/v1"
MAX_MESSAGE = 4000  # characters of a device's reason kept in a message
MAX_EVIDENCE_NAMED = 5  # evidence paths named in the message text (all are attachments)


class SarifMode(str, enum.Enum):
    """Which records become results."""

    GITHUB = "github"  # failed checks only, each at a profile line
    FULL = "full"  # every outcome


KINDS: dict[Outcome, str] = {
    Outcome.FAILED: "fail",
    Outcome.PASSED: "pass",
    Outcome.NOT_APPLICABLE: "notApplicable",
    Outcome.ERROR: "review",
}


def safe_text(text: str, limit: int = MAX_MESSAGE) -> str:
    """Device or profile text fit for a viewer: no escape, control or bidi characters, no
    lone surrogates, at most `limit` characters."""
    text = clean(text, keep_newlines=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fingerprint(check_id: str, target: str, device: dict[str, Any]) -> str:
    """Stable across runs and firmware versions of the same device: the check, its target,
    and the device's name and serial number (never the firmware, ports or times)."""
    parts = (check_id, target, str(device.get("name", "")), str(device.get("serial_number", "")))
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "device"


def automation_id(results: RunResults) -> str:
    """`medsec/<device>/<run started>`: GitHub keeps one analysis per `medsec/<device>/`."""
    device = results.device.profiled
    name = _slug(str(device.get("name", "")))
    serial = str(device.get("serial_number") or "")
    return f"medsec/{name}{'-' + _slug(serial) if serial else ''}/{_utc(results.started)}"


def _utc(stamp: str) -> str:
    """ISO 8601 with any offset -> SARIF's UTC form (`...Z`)."""
    moment = dt.datetime.fromisoformat(stamp).astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _folder_uri(folder: Path, root: Path) -> dict[str, Any]:
    """An `originalUriBaseIds` entry: relative to the source root where it lies inside it."""
    if folder.is_relative_to(root) and folder != root:
        relative = urllib.parse.quote(folder.relative_to(root).as_posix()) + "/"
        return {"uri": relative, "uriBaseId": SOURCE_ROOT}
    return {"uri": folder.as_uri().rstrip("/") + "/"}


def _file_location(path: Path, root: Path) -> dict[str, Any]:
    if path.is_relative_to(root):
        relative = urllib.parse.quote(path.relative_to(root).as_posix())
        return {"uri": relative, "uriBaseId": SOURCE_ROOT}
    return {"uri": path.as_uri()}


class _Writer:
    """One run's SARIF: what every result shares (rules, device, profile, folders)."""

    def __init__(self, results: RunResults, run_dir: Path, profile: Path, root: Path) -> None:
        self.results = results
        self.run_dir = run_dir.resolve()
        self.root = root.resolve()
        self.profile_path = profile.resolve()
        self.sites = ProfileSites.read(self.profile_path)
        self.rule_index = {check_id: i for i, check_id in enumerate(catalogue.CATALOGUE)}

    def notifications(self) -> list[dict[str, Any]]:
        notes = []
        if self.sites.problem:
            notes.append(f"profile not readable, results point at line 1: {self.sites.problem}")
        elif self.sites.sha256 != self.results.profile.sha256:
            notes.append(
                f"{self.profile_path.name} changed since the run (sha256 differs): results "
                "point at the lines of the profile as it is now"
            )
        status, not_run = self.results.status, len(self.results.not_run)
        if status != "complete":
            count = f"{not_run} collected checks" if not_run else "checks that"
            notes.append(
                f"the run did not complete (status {status}): {count} did not finish "
                "and have no result"
            )
        return [{"level": "warning", "message": {"text": safe_text(n)}} for n in notes]

    def result(self, record: CheckRecord) -> dict[str, Any]:
        spec = catalogue.get(record.id)
        decided = record.underlying_outcome if record.outcome is Outcome.WAIVED else None
        kind = KINDS.get(decided or record.outcome, "fail")
        level = sarif_rules.SEVERITY[spec.severity].level if kind == "fail" else "none"
        site = self.sites.site(record.id, record.target)
        found: dict[str, Any] = {
            "ruleId": record.id,
            "ruleIndex": self.rule_index[record.id],
            "kind": kind,
            "level": level,
            "message": {"text": self._message(record, site.address)},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _file_location(self.profile_path, self.root),
                        "region": {"startLine": site.line},
                    },
                    "logicalLocations": [
                        {
                            "name": safe_text(record.target, 200),
                            "fullyQualifiedName": safe_text(site.address, 500),
                            "kind": "resource",
                        }
                    ],
                    "message": {"text": f"profile key {site.key or '(document)'}"},
                }
            ],
            "partialFingerprints": {
                FINGERPRINT: fingerprint(record.id, record.target, self.results.device.profiled)
            },
            "attachments": self._attachments(record),
            "properties": {
                "outcome": record.outcome.value,
                "target": safe_text(record.target, 200),
                "firmware": safe_text(record.firmware or "", 200),
                "threats": record.threats,
                "controls": record.controls,
                "criterion": safe_text(record.criterion or spec.criterion),
                "started": record.started,
                "finished": record.finished,
                "duration_s": record.duration_s,
            },
        }
        if record.outcome is Outcome.WAIVED and record.waiver is not None:
            found["suppressions"] = [self._suppression(record)]
        return found

    def _message(self, record: CheckRecord, address: str) -> str:
        if record.outcome is Outcome.WAIVED:
            underlying = record.underlying_outcome.value if record.underlying_outcome else "?"
            verdict = f"{underlying}, waived"
        else:
            verdict = record.outcome.value.replace("_", " ")
        paths = [a.path for a in record.artifacts] or record.evidence
        named = ", ".join(paths[:MAX_EVIDENCE_NAMED])
        left = len(paths) - MAX_EVIDENCE_NAMED
        more = f" and {left} more" if left > 0 else ""
        evidence = f" Evidence in the run folder: {named}{more}." if paths else ""
        reason = safe_text(record.reason).rstrip()
        text = f"{record.id} {verdict} on {record.target} ({address}): {reason}"
        text = text if text.endswith(".") else text + "."
        return safe_text(text + evidence, MAX_MESSAGE + 1000)

    def _attachments(self, record: CheckRecord) -> list[dict[str, Any]]:
        titled = [(a.path, a.title) for a in record.artifacts] or [(p, p) for p in record.evidence]
        return [
            {
                "description": {"text": safe_text(title, 500)},
                "artifactLocation": {"uri": urllib.parse.quote(path), "uriBaseId": RUN_FOLDER},
            }
            for path, title in titled
        ]

    @staticmethod
    def _suppression(record: CheckRecord) -> dict[str, Any]:
        waiver = record.waiver
        assert waiver is not None
        details = [f"expires {waiver.expires}"]
        if waiver.approved_by:
            details.append(f"approved by {waiver.approved_by}")
        if waiver.reference:
            details.append(f"record {waiver.reference}")
        return {
            "kind": "external",
            "status": "accepted",
            "justification": safe_text(f"{waiver.justification} ({'; '.join(details)})"),
            "properties": {"expires": waiver.expires, "source": "profile waivers"},
        }

    def invocation(self) -> dict[str, Any]:
        results = self.results
        found: dict[str, Any] = {
            "executionSuccessful": results.status == "complete",
            "startTimeUtc": _utc(results.started),
            "toolExecutionNotifications": self.notifications(),
            "properties": {"status": results.status, "notRun": len(results.not_run)},
        }
        if results.finished:
            found["endTimeUtc"] = _utc(results.finished)
        return found

    def run(self, mode: SarifMode) -> dict[str, Any]:
        records = self.results.checks
        if mode is SarifMode.GITHUB:
            records = [c for c in records if c.outcome is Outcome.FAILED]
        home = sarif_rules.project_home()
        device = self.results.device.profiled
        return {
            "tool": {
                "driver": {
                    "name": "medsec-harness",
                    "version": self.results.harness.version,
                    "semanticVersion": self.results.harness.version,
                    "informationUri": home,
                    "rules": sarif_rules.rules(home),
                    "supportedTaxonomies": [{"name": sarif_rules.CWE_TAXONOMY, "index": 0}],
                }
            },
            "taxonomies": [sarif_rules.cwe_taxonomy()],
            "automationDetails": {
                "id": automation_id(self.results),
                "description": {"text": safe_text(f"medsec run of {device.get('name', '')}")},
            },
            "invocations": [self.invocation()],
            "originalUriBaseIds": {
                SOURCE_ROOT: {"uri": self.root.as_uri().rstrip("/") + "/"},
                RUN_FOLDER: _folder_uri(self.run_dir, self.root),
            },
            "columnKind": "unicodeCodePoints",
            "results": [self.result(record) for record in records],
            "properties": {
                "mode": mode.value,
                "runFolder": self.run_dir.name,
                "device": {k: safe_text(str(v), 200) for k, v in device.items() if v is not None},
                "profileSha256": self.results.profile.sha256,
            },
        }


def build(
    results: RunResults,
    run_dir: Path,
    mode: SarifMode = SarifMode.GITHUB,
    *,
    profile: Path | None = None,
    source_root: Path | None = None,
) -> dict[str, Any]:
    """The SARIF log of one run. `profile` defaults to the path results.json records
    (relative paths to the current folder), `source_root` to the current folder."""
    root = source_root or Path.cwd()
    writer = _Writer(results, run_dir, profile or Path(results.profile.path), root)
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [writer.run(mode)]}


def dumps(log: dict[str, Any]) -> str:
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def write(path: Path, log: dict[str, Any]) -> None:
    """Write the log to `path` in one step."""
    write_atomic(path, dumps(log))
