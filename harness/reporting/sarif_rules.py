"""SARIF rules: one `reportingDescriptor` per catalogue check, and the CWE taxonomy they cite.

Severity mapping (documented in the README): GitHub code scanning reads
`properties.security-severity` as a CVSS-like score (above 9.0 critical, 7.0-8.9 high,
4.0-6.9 medium, below 4.0 low), so each catalogue severity gets the middle of its band;
`defaultConfiguration.level` is what plain SARIF viewers sort by.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from typing import Any

from harness.config import catalogue, references
from harness.config.catalogue import CheckSpec, Family, Severity


@dataclass(frozen=True)
class SeverityMapping:
    """How one catalogue severity is written into SARIF."""

    score: float  # properties.security-severity
    level: str  # defaultConfiguration.level, and the level of a failed result


SEVERITY: dict[Severity, SeverityMapping] = {
    Severity.CRITICAL: SeverityMapping(9.5, "error"),
    Severity.HIGH: SeverityMapping(8.0, "error"),
    Severity.MEDIUM: SeverityMapping(5.5, "warning"),
    Severity.LOW: SeverityMapping(3.0, "note"),
}

CWE_TAXONOMY = "CWE"
# Where docs/CATALOGUE.md lives when the installed package names no repository URL
# (`[project.urls] Repository` in pyproject.toml); `.invalid` can never resolve to
# someone else's page.
FALLBACK_HOME = "https://medsec-harness.invalid"
# The GitHub anchors of docs/CATALOGUE.md's family sections (a unit test reads the headings).
FAMILY_ANCHORS: dict[Family, str] = {
    Family.AUTH: "auth--authentication-and-authorization",
    Family.CRYPTO: "crypto--communication-security",
    Family.UPDATE: "update--software-and-firmware-updates",
    Family.SURFACE: "surface--exposed-attack-surface",
    Family.ROBUST: "robust--robustness-against-malformed-input-and-load",
}


def project_home() -> str:
    """The project's repository URL from the installed package's metadata, or the fallback."""
    try:
        found = importlib.metadata.metadata("medsec-harness").get_all("Project-URL")
        urls: list[str] = list(found or [])
    except importlib.metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("repository", "source", "homepage") and url.strip():
            return url.strip().rstrip("/")
    return FALLBACK_HOME


def catalogue_uri(spec: CheckSpec, home: str) -> str:
    """The catalogue section that lists `spec`."""
    return f"{home}/blob/HEAD/docs/CATALOGUE.md#{FAMILY_ANCHORS[spec.family]}"


def rule_name(title: str) -> str:
    """A PascalCase identifier from a title, as SARIF's `name` convention asks (acronyms
    too: `SshHostKeyStrength`)."""
    words = re.findall(r"[A-Za-z0-9]+", title.replace("(optional)", ""))
    return "".join(w[:1].upper() + w[1:].lower() for w in words)


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


def _reference_lines(spec: CheckSpec) -> list[str]:
    lines = []
    for code in spec.references:
        link = references.url(code)
        meaning = references.explain(code)
        lines.append(f"- [{code}]({link}): {meaning}" if link else f"- {code}: {meaning}")
    return lines


def _description(spec: CheckSpec) -> str:
    interfaces = ", ".join(spec.interfaces)
    destructive = (
        " Destructive: it runs only with --allow-destructive and scope.destructive: true."
        if spec.destructive
        else ""
    )
    return (
        f"{spec.title} ({spec.id}, {spec.family.value} family, interface: {interfaces}). "
        f"A failure is {spec.severity.value} for a connected medical device.{destructive} "
        f"Gives evidence for: {', '.join(spec.references) or 'no standard clause'}."
    )


def rule(spec: CheckSpec, home: str, taxa: dict[str, int]) -> dict[str, Any]:
    """The reportingDescriptor of one check; `taxa` indexes the CWE taxonomy's entries."""
    mapping = SEVERITY[spec.severity]
    help_markdown = "\n".join(
        [
            f"**Pass criterion:** {spec.criterion}",
            "",
            _description(spec),
            "",
            "References:",
            *_reference_lines(spec),
        ]
    )
    tags = [
        "security",
        spec.family.value.lower(),
        *spec.interfaces,
        *(["destructive"] if spec.destructive else []),
        *(f"external/cwe/{cwe.lower()}" for cwe in spec.cwe),
    ]
    return {
        "id": spec.id,
        "name": rule_name(spec.title),
        "shortDescription": {"text": spec.title},
        "fullDescription": {"text": _description(spec)},
        "help": {"text": _plain(f"Pass criterion: {spec.criterion}"), "markdown": help_markdown},
        "helpUri": catalogue_uri(spec, home),
        "defaultConfiguration": {"level": mapping.level},
        "relationships": [
            {
                "target": {
                    "id": cwe,
                    "index": taxa[cwe],
                    "toolComponent": {"name": CWE_TAXONOMY, "index": 0},
                },
                "kinds": ["relevant"],
            }
            for cwe in spec.cwe
        ],
        "properties": {
            "tags": list(dict.fromkeys(tags)),
            "security-severity": f"{mapping.score:.1f}",
            "severity": spec.severity.value,
            "standards": list(spec.standards),
            "capec": list(spec.capec),
        },
    }


def cwe_ids() -> list[str]:
    """Every CWE the catalogue cites, in numeric order."""
    found = {cwe for spec in catalogue.CATALOGUE.values() for cwe in spec.cwe}
    return sorted(found, key=lambda cwe: int(cwe.removeprefix("CWE-")))


def cwe_taxonomy() -> dict[str, Any]:
    """The `toolComponent` describing the CWE entries the rules point at."""
    return {
        "name": CWE_TAXONOMY,
        "organization": "MITRE",
        "informationUri": "https://cwe.mitre.org/",
        "shortDescription": {"text": "The MITRE Common Weakness Enumeration"},
        "isComprehensive": False,
        "taxa": [
            {
                "id": cwe,
                "name": rule_name(references.CWE[cwe]),
                "shortDescription": {"text": references.CWE[cwe]},
                "helpUri": references.url(cwe),
            }
            for cwe in cwe_ids()
        ],
    }


def rules(home: str) -> list[dict[str, Any]]:
    """Every catalogue check as a rule, in catalogue order."""
    taxa = {cwe: index for index, cwe in enumerate(cwe_ids())}
    return [rule(spec, home, taxa) for spec in catalogue.CATALOGUE.values()]
