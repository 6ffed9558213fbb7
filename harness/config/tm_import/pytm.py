"""OWASP pytm: the JSON `./tm.py --json FILE` writes (never their tm.py, never pytm itself).

Each finding is one threat applied to one element: `threat_id` (the library's SID) and
`target` (the element's name) together are its stable id, since `id` only counts the
findings of one run. A finding the user overrode (`element.overrides`) comes out with an
empty description and references: they are filled from pytm's threat library by
`threat_id` (tables/pytm.json), or left blank for a threat the library lacks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config.tm_import.source import (
    ImportedSource,
    Node,
    SourceThreat,
    capec_cwe,
    inline_checks,
    load_json,
    one_line,
    read_bounded,
    sha256_of,
)
from harness.config.tm_import.tables import table

# The fields a pytm user writes in an override (`Finding(threat_id=..., response=...)`).
TAG_FIELDS = ("response", "mitigations", "description", "details", "cvss")


def looks_like(document: object) -> bool:
    return isinstance(document, dict) and "findings" in document and "threatsFile" in document


def read(path: Path) -> ImportedSource:
    """The findings of a pytm JSON file, in pytm's order."""
    data = read_bounded(path)
    root = Node(load_json(path, data), path)
    root.need("findings")  # written by `--json` even when empty
    library: dict[str, dict[str, Any]] = table("pytm")["threats"]
    threats: list[SourceThreat] = []
    seen: dict[str, int] = {}
    filled = 0
    for finding in root.items("findings"):
        threat_id = finding.text("threat_id", required=True)
        target = finding.text("target", required=True)
        key = f"{threat_id}@{target}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:  # two elements of one name: keep both, in order
            key = f"{key}#{seen[key]}"
        known = library.get(threat_id, {})
        description = finding.text("description")
        references = finding.text("references")
        if not description and known:
            description = str(known.get("description", ""))
            filled += 1
        capec, cwe = capec_cwe(references)
        if not references and known:
            capec = tuple(str(c) for c in known.get("capec", []))
            cwe = tuple(str(c) for c in known.get("cwe", []))
        response = finding.text("response")
        tagged, tag_field = inline_checks(*((name, finding.text(name)) for name in TAG_FIELDS))
        details = finding.text("details")
        threats.append(
            SourceThreat(
                key=key,
                title=one_line(description) or threat_id,
                description="\n\n".join(part for part in (description, details) if part),
                capec=capec,
                cwe=cwe,
                asset=target,
                status=one_line(response),
                mitigated=response.lower().startswith("mitigated"),
                severity=finding.text("severity") or None,
                mitigation=finding.text("mitigations"),
                tagged=tagged,
                tag_field=tag_field,
                where=finding.where,
            )
        )
    notes = []
    if filled:
        notes.append(
            f"{filled} overridden findings had no description: filled from pytm's threat library"
        )
    return ImportedSource(
        format="pytm",
        path=path,
        sha256=sha256_of(data),
        system=root.text("name") or path.stem,
        version=None,
        threats=tuple(threats),
        notes=tuple(notes),
    )
