"""OWASP Threat Dragon v2 models (the JSON file the desktop and web apps save).

The app keeps a cell's threats in `detail.diagrams[].cells[].data.threats[]`; the
published schema (td.vue/src/assets/schema/threat-dragon-v2.schema.json) puts them in
`cells[].threats[]` with the id as `threatId`: both are read. A threat's `type` is the
STRIDE word in the language the UI was set to when it was written ("Usurpation
d'identité"), so it is looked up in every language the app ships (tables/threat-dragon.json);
`status` is stored in English (`Open`, `Mitigated`, ...). Inline tags are read from the
fields the user types: `description` and `mitigation`.
"""

from __future__ import annotations

from pathlib import Path

from harness.config.threatmodel import Stride
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
    stride_of,
)
from harness.config.tm_import.tables import table

MITIGATED = frozenset({"mitigated", "eliminated"})  # a control is claimed to be in place


def looks_like(document: object) -> bool:
    return (
        isinstance(document, dict)
        and isinstance(document.get("detail"), dict)
        and "diagrams" in document["detail"]
    )


def _stride(word: str, model_type: str) -> Stride | None:
    if model_type and model_type.upper() != "STRIDE":
        return None
    words: dict[str, Stride] = table("threat-dragon")["stride"]
    return words.get(word) or stride_of(word)


def read(path: Path) -> ImportedSource:
    """Every threat of every cell of every diagram, in the file's order."""
    data = read_bounded(path)
    root = Node(load_json(path, data), path)
    summary = root.get("summary")
    threats: list[SourceThreat] = []
    seen: set[str] = set()
    for diagram in root.need("detail").items("diagrams"):
        for cell in diagram.items("cells"):
            cell_data = cell.get("data")
            name = one_line(cell_data.text("name")) if cell_data is not None else ""
            lists = [cell.items("threats")]
            if cell_data is not None:
                lists.append(cell_data.items("threats"))
            for threat in (t for found in lists for t in found):
                item = _threat(threat, name)
                if item.key in seen:
                    threat.fail(f"threat id {item.key} appears twice")
                seen.add(item.key)
                threats.append(item)
    return ImportedSource(
        format="threat-dragon",
        path=path,
        sha256=sha256_of(data),
        system=(summary.text("title") if summary else "") or path.stem,
        version=str(root.text("version")) or None,
        threats=tuple(threats),
    )


def _threat(threat: Node, element: str) -> SourceThreat:
    key = threat.text("id") or threat.text("threatId")
    if not key:
        threat.child("id", None).fail("missing (required): the threat's id (or threatId)")
    title = one_line(threat.text("title")) or key
    description = threat.text("description")
    mitigation = threat.text("mitigation")
    status = threat.text("status")
    tagged, tag_field = inline_checks(("description", description), ("mitigation", mitigation))
    capec, cwe = capec_cwe(f"{description}\n{mitigation}")
    return SourceThreat(
        key=key,
        title=title,
        description=description,
        stride=_stride(threat.text("type"), threat.text("modelType")),
        capec=capec,
        cwe=cwe,
        asset=element or None,
        status=status,
        mitigated=status.lower() in MITIGATED,
        severity=threat.text("severity") or None,
        mitigation=mitigation,
        tagged=tagged,
        tag_field=tag_field,
        where=threat.where,
    )
