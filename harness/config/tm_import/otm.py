"""Open Threat Model (OTM, iriusrisk/OpenThreatModel otm_schema.json), JSON or YAML.

OTM lists threats and mitigations once, at the top, and components and dataflows name
them with a state of their own (`threats: [{threat, state, mitigations: [{mitigation,
state}]}]`): a threat becomes one of ours, a mitigation one of our controls. The states
are free text in OTM; a threat counts as marked mitigated when every place that names it
says `mitigated` (any case). Check ids can be tagged
in a threat's `tags` or `description` and in a mitigation's `description`.
"""

from __future__ import annotations

from pathlib import Path

from harness.config.tm_import.source import (
    ImportedSource,
    Node,
    SourceMitigation,
    SourceThreat,
    capec_cwe,
    inline_checks,
    load_json,
    load_yaml,
    one_line,
    read_bounded,
    sha256_of,
    stride_of,
)


def looks_like(document: object) -> bool:
    return isinstance(document, dict) and "otmVersion" in document


def read(path: Path) -> ImportedSource:
    """OTM threats in the file's order, with the mitigations they name."""
    if path.suffix.lower() in (".yaml", ".yml"):
        document = load_yaml(path)
        root, sha = Node(document.data, path, (), document), document.sha256
    else:
        data = read_bounded(path)
        root, sha = Node(load_json(path, data), path), sha256_of(data)
    root.mapping()
    project = root.need("project")
    mitigations = [_mitigation(node) for node in root.items("mitigations")]
    known = {m.key for m in mitigations}
    instances: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {}  # threat -> states
    assets: dict[str, list[str]] = {}
    for kind in ("components", "dataflows"):
        for element in root.items(kind):
            name = element.text("name") or element.text("id")
            for use in element.items("threats"):
                threat_id = use.text("threat", required=True)
                applied = []
                for applied_node in use.items("mitigations"):
                    mitigation_id = applied_node.text("mitigation", required=True)
                    if mitigation_id not in known:
                        applied_node.fail(f"names mitigation {mitigation_id}, which is not listed")
                    applied.append((mitigation_id, applied_node.text("state").lower()))
                instances.setdefault(threat_id, []).append((use.text("state").lower(), applied))
                assets.setdefault(threat_id, []).append(one_line(name))
    threats = [_threat(node, instances, assets) for node in root.items("threats")]
    listed = {t.key for t in threats}
    for threat_id in instances:
        if threat_id not in listed:
            root.child("threats", None).fail(f"threat {threat_id} is named but not listed")
    return ImportedSource(
        format="otm",
        path=path,
        sha256=sha,
        system=project.text("name", required=True),
        version=root.text("otmVersion") or None,
        threats=tuple(threats),
        mitigations=tuple(mitigations),
    )


def _mitigation(node: Node) -> SourceMitigation:
    description = node.text("description")
    tagged, tag_field = inline_checks(("description", description))
    return SourceMitigation(
        key=node.text("id", required=True),
        title=one_line(node.text("name", required=True)),
        description=description,
        tagged=tagged,
        tag_field=f"{node.where}.{tag_field}" if tag_field else "",
    )


def _threat(
    node: Node,
    instances: dict[str, list[tuple[str, list[tuple[str, str]]]]],
    assets: dict[str, list[str]],
) -> SourceThreat:
    key = node.text("id", required=True)
    description = node.text("description")
    tags = node.strings("tags")
    categories = node.strings("categories")
    uses = instances.get(key, [])
    states = sorted({state for state, _ in uses if state})
    mitigated = bool(uses) and all(state == "mitigated" for state, _ in uses)
    named = tuple(dict.fromkeys(m for _, applied in uses for m, _ in applied))
    capec, _ = capec_cwe(" ".join((*tags, description)))
    cwe = tuple(c.upper() for c in node.strings("cwes") if c.upper().startswith("CWE-"))
    tagged, tag_field = inline_checks(("tags", " ".join(tags)), ("description", description))
    stride = next((s for s in (stride_of(c) for c in categories) if s), None)
    return SourceThreat(
        key=key,
        title=one_line(node.text("name", required=True)),
        description=description,
        stride=stride,
        capec=capec,
        cwe=cwe,
        asset=", ".join(dict.fromkeys(assets.get(key, []))) or None,
        status=", ".join(states),
        mitigated=mitigated,
        severity=None,
        mitigations=named,
        tagged=tagged,
        tag_field=tag_field,
        where=node.where,
    )
