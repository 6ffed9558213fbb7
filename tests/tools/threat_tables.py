"""Regenerate the small tables `medsec import-tm` vendors from the tools it reads.

    python -m tests.tools.threat_tables pytm PYTM_THREATS_JSON
    python -m tests.tools.threat_tables threat-dragon THREAT_DRAGON_I18N_FOLDER
    python -m tests.tools.threat_tables threagile THREAGILE_BUILTIN_RULES_FOLDER

Each writes one JSON file under harness/config/tm_import/tables/ from the upstream file
named (never from the network):
- pytm: `pytm/threatlib/threats.json` of an installed pytm (`.pytm/lib/python3.*/site-packages`;
  MIT License): each threat id's description and the CAPEC/CWE ids of its references,
  which pytm leaves empty in a finding the user overrode.
- threat-dragon: `td.vue/src/i18n/*.json` of OWASP/threat-dragon (Apache-2.0): the STRIDE
  category names in every language of the UI, since a threat's `type` is stored translated.
- threagile: `pkg/risks/builtin/*_rule.go` of Threagile/threagile (MIT License): each
  built-in risk category's STRIDE category and CWE, which `risks.json` does not repeat.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from harness.config.tm_import.source import capec_cwe

TABLES = Path(__file__).resolve().parents[2] / "harness" / "config" / "tm_import" / "tables"
_STRIDE_KEYS = {
    "spoofing": "Spoofing",
    "tampering": "Tampering",
    "repudiation": "Repudiation",
    "informationDisclosure": "Information disclosure",
    "denialOfService": "Denial of service",
    "elevationOfPrivilege": "Elevation of privilege",
}
_GO_STRIDE = {
    "Spoofing": "Spoofing",
    "Tampering": "Tampering",
    "Repudiation": "Repudiation",
    "InformationDisclosure": "Information disclosure",
    "DenialOfService": "Denial of service",
    "ElevationOfPrivilege": "Elevation of privilege",
}


def pytm_table(threats_json: Path) -> dict[str, Any]:
    """threat id -> {description, capec, cwe}, deprecated threats left out."""
    table: dict[str, Any] = {}
    for threat in json.loads(threats_json.read_text(encoding="utf-8")):
        if "DEPRECATED" in threat:
            continue
        capec, cwe = capec_cwe(str(threat.get("references", "")))
        table[threat["SID"]] = {
            "description": threat.get("description", ""),
            "capec": list(capec),
            "cwe": list(cwe),
        }
    return {
        "source": "pytm/threatlib/threats.json (OWASP pytm, MIT License)",
        "threats": dict(sorted(table.items())),
    }


def threat_dragon_table(i18n: Path) -> dict[str, Any]:
    """Each language's STRIDE word -> our category."""
    words: dict[str, str] = {}
    for language in sorted(i18n.glob("*.json")):
        stride = json.loads(language.read_text(encoding="utf-8"))["threats"]["model"]["stride"]
        for key, category in _STRIDE_KEYS.items():
            words.setdefault(stride[key], category)
    return {
        "source": "td.vue/src/i18n/*.json threats.model.stride (OWASP Threat Dragon, Apache-2.0)",
        "stride": dict(sorted(words.items())),
    }


def threagile_table(rules: Path) -> dict[str, Any]:
    """Built-in risk category id -> {title, stride, cwe}."""
    categories: dict[str, Any] = {}
    for rule in sorted(rules.glob("*_rule.go")):
        text = rule.read_text(encoding="utf-8")
        found_id = re.search(r'\bID:\s*"([a-z0-9-]+)"', text)
        title = re.search(r'\bTitle:\s*"([^"]+)"', text)
        stride = re.search(r"\bSTRIDE:\s*types\.(\w+)", text)
        cwe = re.search(r"\bCWE:\s*(\d+)", text)
        if not (found_id and stride):
            continue
        categories[found_id.group(1)] = {
            "title": title.group(1) if title else found_id.group(1),
            "stride": _GO_STRIDE[stride.group(1)],
            "cwe": f"CWE-{cwe.group(1)}" if cwe else None,
        }
    return {
        "source": "pkg/risks/builtin/*_rule.go (Threagile, MIT License)",
        "categories": dict(sorted(categories.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", choices=("pytm", "threat-dragon", "threagile"))
    parser.add_argument("upstream", type=Path, help="the upstream file or folder to read")
    args = parser.parse_args()
    build = {"pytm": pytm_table, "threat-dragon": threat_dragon_table, "threagile": threagile_table}
    table = build[args.table](args.upstream)
    target = TABLES / f"{args.table}.json"
    target.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
