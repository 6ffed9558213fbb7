"""Our threat-model YAML from an imported source and its mapping.

Threats keep the source's order and become TM-1, TM-2, ...; each carries a `provenance`
block (format, the source's id, its status, the source file's SHA-256, where its checks
came from), so the matrix and the report read an imported model like any other. A
threat's own checks go into a control of its own (titled by the source's mitigation
text); OTM mitigations become controls shared by the threats that name them.
"""

from __future__ import annotations

from typing import Any

import yaml

from harness.config.threatmodel import SCHEMA_ID, ThreatModel
from harness.config.tm_import.mapping import Mapping
from harness.config.tm_import.source import ImportedSource, SourceThreat, one_line, without_tags

NO_CHECK = (
    "no harness check is mapped to this threat: map one (--map, or a `medsec:` tag in the "
    "source) or confirm a --suggest draft"
)


def document(source: ImportedSource, mapping: Mapping) -> dict[str, Any]:
    """The threat model as data, in our schema's key order."""
    controls: list[dict[str, Any]] = []
    by_mitigation: dict[str, str] = {}
    for mitigation in source.mitigations:
        control_id = f"SC-{len(controls) + 1}"
        by_mitigation[mitigation.key] = control_id
        checks = mapping.mitigations[mitigation.key][0]
        controls.append(_control(control_id, mitigation.title, checks))
    threats = []
    for number, threat in enumerate(source.threats, 1):
        checks, origin = mapping.threats[threat.key]
        named = [by_mitigation[key] for key in threat.mitigations if key in by_mitigation]
        if checks or not named:
            control_id = f"SC-{len(controls) + 1}"
            controls.append(_control(control_id, _control_title(threat), checks))
            named.append(control_id)
        threats.append(_threat(f"TM-{number}", threat, named, source, origin))
    return {
        "schema": SCHEMA_ID,
        "system": source.system,
        **({"version": source.version} if source.version else {}),
        "controls": controls,
        "threats": threats,
    }


def _control(control_id: str, title: str, checks: tuple[str, ...]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": control_id, "title": title, "checks": list(checks)}
    if not checks:
        entry["rationale"] = NO_CHECK
    return entry


def _control_title(threat: SourceThreat) -> str:
    mitigation = one_line(without_tags(threat.mitigation), 160)
    return mitigation or f"Controls against: {one_line(threat.title, 140)}"


def _threat(
    threat_id: str, threat: SourceThreat, controls: list[str], source: ImportedSource, origin: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": threat_id, "title": threat.title}
    if threat.stride:
        entry["stride"] = threat.stride
    if threat.capec:
        entry["capec"] = list(threat.capec)
    if threat.asset:
        entry["asset"] = threat.asset
    if threat.description:
        entry["description"] = threat.description
    entry["controls"] = controls
    provenance: dict[str, Any] = {
        "format": source.format,
        "source_id": threat.key,
        "status": threat.status,
        "mitigated": threat.mitigated,
    }
    if threat.severity:
        provenance["severity"] = threat.severity
    provenance |= {"file": source.path.name, "sha256": source.sha256, "mapping": origin}
    entry["provenance"] = provenance
    return entry


def render(data: dict[str, Any], source: ImportedSource) -> str:
    """The YAML text, validated against our schema first (a bug here is never written)."""
    ThreatModel.model_validate(data)
    header = (
        f"# Imported by `medsec import-tm` from {source.format}: {source.path.name}\n"
        f"# (SHA-256 {source.sha256}). Change threats in the source tool and import again;\n"
        "# map checks with --map MAP.yaml or `medsec:` tags there, not by editing this file.\n"
    )
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return header + body
