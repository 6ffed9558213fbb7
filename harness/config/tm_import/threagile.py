"""Threagile: the model YAML and, when given, the `risks.json` Threagile generated from it.

Without `risks.json` only the risks the model states itself are known: the
`individual_risk_categories` (a mapping by title, as in Threagile's example model and
schema) or `custom_risk_categories` (a list, as newer versions read it) with their
`risks_identified`, each given the synthetic id Threagile gives it (category id, then the
most relevant technical asset, communication link, trust boundary, shared runtime and data
asset, joined by `@`). With `risks.json` every risk it lists is read, joined to the model
on that synthetic id. `risk_tracking` entries (their `*` matching one `@`-separated part)
give the status; a built-in category's STRIDE and CWE come from tables/threagile.json.
Check ids can be tagged in a tracking entry's `justification`, an individual category's
`check` text, or as a tag `medsec:auth-001` on the risk's technical asset (Threagile
lower-cases tags, so ids are matched in any case).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.config.threatmodel import Stride
from harness.config.tm_import.source import (
    ImportedSource,
    Node,
    SourceThreat,
    inline_checks,
    load_json,
    load_yaml,
    one_line,
    read_bounded,
    sha256_of,
    stride_of,
)
from harness.config.tm_import.tables import table

_ID_PARTS = (
    "most_relevant_technical_asset",
    "most_relevant_communication_link",
    "most_relevant_trust_boundary",
    "most_relevant_shared_runtime",
    "most_relevant_data_asset",
)


def looks_like(document: object) -> bool:
    return isinstance(document, dict) and (
        "technical_assets" in document or "threagile_version" in document
    )


@dataclass(frozen=True)
class _Category:
    id: str
    title: str
    stride: Stride | None
    cwe: str | None
    description: str
    mitigation: str
    check: str


@dataclass(frozen=True)
class _Tracking:
    pattern: re.Pattern[str]
    status: str
    justification: str
    where: str


def read(path: Path, risks: Path | None = None) -> ImportedSource:
    """The model's risks (and risks.json's), in the model's order, then risks.json's."""
    document = load_yaml(path)
    root = Node(document.data, path, (), document)
    categories = _categories(root)
    tracking = _tracking(root)
    asset_tags = {
        node.text("id") or name: node.strings("tags")
        for name, node in root.entries("technical_assets")
    }
    found: dict[str, tuple[Node, str, dict[str, str]]] = {}  # synthetic id -> risk
    for category_id, title, risk in _identified(root):
        parts = {key: risk.text(key) for key in (*_ID_PARTS, "severity")}
        synthetic = "@".join([category_id, *(parts[p] for p in _ID_PARTS if parts[p])])
        found[synthetic] = (risk, title, {**parts, "category": category_id})
    sha = document.sha256
    notes: list[str] = []
    if risks is not None:
        data = read_bounded(risks)
        listed = Node(load_json(risks, data), risks)
        if not isinstance(listed.value, list):
            listed.fail("must be the list of risks Threagile writes (risks.json)")
        for index, item in enumerate(listed.value):
            risk = listed.child(index, item)
            synthetic = risk.text("synthetic_id", required=True)
            parts = {key: risk.text(key) for key in (*_ID_PARTS, "severity", "category")}
            parts["risk_status"] = risk.text("risk_status")
            found[synthetic] = (risk, risk.text("title"), parts)
        notes.append(f"joined with {risks.name} (SHA-256 {sha256_of(data)})")
    threats = [
        _threat(synthetic, node, title, parts, categories, tracking, asset_tags)
        for synthetic, (node, title, parts) in found.items()
    ]
    return ImportedSource(
        format="threagile",
        path=path,
        sha256=sha,
        system=root.text("title") or path.stem,
        version=root.text("date") or None,
        threats=tuple(threats),
        notes=tuple(notes),
    )


def _categories(root: Node) -> dict[str, _Category]:
    builtin: dict[str, dict[str, str | None]] = table("threagile")["categories"]
    found = {
        key: _Category(key, str(v["title"]), stride_of(str(v["stride"])), v["cwe"], "", "", "")
        for key, v in builtin.items()
    }
    for title, node in _individual(root):
        category_id = node.text("id", required=True)
        cwe = node.text("cwe")
        found[category_id] = _Category(
            id=category_id,
            title=title,
            stride=stride_of(node.text("stride")),
            cwe=f"CWE-{cwe}" if cwe.isdigit() and cwe != "0" else None,
            description=node.text("description"),
            mitigation=node.text("mitigation"),
            check=node.text("check"),
        )
    return found


def _individual(root: Node) -> list[tuple[str, Node]]:
    """Individual risk categories, by title: the mapping form and the list form."""
    mapped = list(root.entries("individual_risk_categories"))
    listed = [
        (node.text("title") or node.text("id"), node)
        for node in root.items("custom_risk_categories")
    ]
    return mapped + listed


def _identified(root: Node) -> list[tuple[str, str, Node]]:
    return [
        (category.text("id", required=True), title, risk)
        for _, category in _individual(root)
        for title, risk in category.entries("risks_identified")
    ]


def _tracking(root: Node) -> list[_Tracking]:
    found = []
    for key, node in root.entries("risk_tracking"):
        parts = [re.escape(part) if part != "*" else "[^@]+" for part in key.strip().split("@")]
        found.append(
            _Tracking(
                pattern=re.compile("@".join(parts)),
                status=node.text("status"),
                justification=node.text("justification"),
                where=node.where,
            )
        )
    # An exact entry wins over a wildcard one, as in Threagile.
    found.sort(key=lambda t: "[^@]+" in t.pattern.pattern)
    return found


def _threat(
    synthetic: str,
    node: Node,
    title: str,
    parts: dict[str, str],
    categories: dict[str, _Category],
    tracking: list[_Tracking],
    asset_tags: dict[str, tuple[str, ...]],
) -> SourceThreat:
    category_id = parts["category"] or synthetic.split("@", 1)[0]
    category = categories.get(category_id)
    tracked = next((t for t in tracking if t.pattern.fullmatch(synthetic)), None)
    status = parts.get("risk_status") or (tracked.status if tracked else "") or "unchecked"
    asset = parts["most_relevant_technical_asset"]
    fields = [
        ("risk_tracking.justification", tracked.justification if tracked else ""),
        ("check", category.check if category else ""),
        (f"technical_assets.{asset}.tags", " ".join(asset_tags.get(asset, ()))),
    ]
    tagged: tuple[str, ...] = ()
    tag_field = ""
    for name, text in fields:  # the most specific place that has a tag wins
        tagged, tag_field = inline_checks((name, text))
        if tagged:
            break
    plain_title = re.sub(r"<[^>]*>", "", title)  # Threagile's titles carry <b> markup
    return SourceThreat(
        key=synthetic,
        title=one_line(plain_title) or (category.title if category else category_id),
        description=category.description if category else "",
        stride=category.stride if category else None,
        cwe=(category.cwe,) if category and category.cwe else (),
        asset=asset or None,
        status=status,
        mitigated=status == "mitigated",
        severity=parts["severity"] or None,
        mitigation=category.mitigation if category else "",
        tagged=tagged,
        tag_field=tag_field,
        where=node.where,
    )
