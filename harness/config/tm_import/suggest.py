"""`--suggest`: a draft mapping file from STRIDE category, CAPEC/CWE ids and keywords.

A guess for a person to confirm, never applied: the file it writes says `draft: true`,
which `--map` refuses until that line is deleted. Each suggestion carries its reasons as
a comment. Scores: a shared CAPEC id 3, a keyword 2, a shared CWE id 2 (1 for the
catch-all CWE-20), the family fitting the STRIDE category 1; at least 3 to be listed,
at most four checks per threat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from harness.config import catalogue
from harness.config.threatmodel import Stride
from harness.config.tm_import.mapping import MAP_SCHEMA, Mapping
from harness.config.tm_import.source import ImportedSource, SourceThreat, one_line

MIN_SCORE = 3
MAX_CHECKS = 4
FAMILIES: dict[Stride, tuple[str, ...]] = {
    "Spoofing": ("AUTH", "CRYPTO"),
    "Tampering": ("UPDATE", "CRYPTO", "AUTH"),
    "Repudiation": (),
    "Information disclosure": ("CRYPTO", "SURFACE"),
    "Denial of service": ("ROBUST",),
    "Elevation of privilege": ("AUTH", "SURFACE"),
}
# keyword (a regex, whole words) -> the checks it points at
KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"default (?:credential|password|account)s?|vendor password|hard-?coded password",
     ("AUTH-001", "AUTH-002", "AUTH-003", "AUTH-004")),
    (r"brute[- ]?force|password guessing|credential stuffing|lockout",
     ("AUTH-009",)),
    (r"weak password|password (?:policy|strength)", ("AUTH-012",)),
    (r"serial|console|uart", ("AUTH-005", "SURFACE-008", "ROBUST-006")),
    (r"boot ?loader|u-boot", ("AUTH-006",)),
    (r"root login|run as root|privilege escalation|elevat\w* privilege", ("AUTH-008", "AUTH-013")),
    (r"unauthori[sz]ed|without authenticat\w*|missing authenticat\w*|authentication bypass|"
     r"authori[sz]ation", ("AUTH-010",)),
    (r"session (?:timeout|expir\w*|fixation|hijack\w*)", ("AUTH-011",)),
    (r"ssh", ("AUTH-007", "CRYPTO-008", "CRYPTO-009")),
    (r"tls|ssl|https|encrypt\w*|in transit|eavesdrop\w*|sniff\w*|intercept\w*|"
     r"man[- ]in[- ]the[- ]middle|mitm", ("CRYPTO-001", "CRYPTO-002", "CRYPTO-010")),
    (r"cleartext|plain ?text|unencrypted", ("CRYPTO-010", "CRYPTO-011")),
    (r"certificate|x\.?509|pki", ("CRYPTO-004", "CRYPTO-005", "CRYPTO-006", "CRYPTO-012")),
    (r"downgrade|renegotiat\w*", ("CRYPTO-001", "CRYPTO-007")),
    (r"forward secrecy", ("CRYPTO-003",)),
    (r"firmware|software update|update package|image", ("UPDATE-002", "UPDATE-003", "UPDATE-004")),
    (r"code signing|signature|signed", ("UPDATE-003", "UPDATE-004")),
    (r"rollback|roll back|older version", ("UPDATE-005",)),
    (r"debug\w*|jtag|gdb|adb|test interface", ("SURFACE-005",)),
    (r"open port|attack surface|unnecessary service|exposed service|port scan",
     ("SURFACE-001", "SURFACE-002")),
    (r"version disclosure|banner|fingerprint\w*|information leak\w*", ("SURFACE-004",)),
    (r"clickjacking|frame|cookie|security header|xss|cross[- ]site", ("SURFACE-006",)),
    (r"sbom|third[- ]party component|outdated component|vulnerable component", ("SURFACE-007",)),
    (r"secret|private key|credential leak\w*|log\w* (?:password|secret)", ("SURFACE-008",)),
    (r"ipv6", ("SURFACE-009",)),
    (r"denial of service|dos|flood\w*|resource exhaustion|exhaust\w*", ("ROBUST-005",)),
    (r"slowloris|slow request", ("ROBUST-008",)),
    (r"overflow|malformed|fuzz\w*|input validation|parser|injection",
     ("ROBUST-003", "ROBUST-004", "ROBUST-007")),
)  # fmt: skip
_KEYWORDS = tuple((re.compile(rf"\b(?:{rx})\b", re.IGNORECASE), ids) for rx, ids in KEYWORDS)


@dataclass(frozen=True)
class Suggestion:
    check: str
    score: int
    reasons: tuple[str, ...]


def suggest(threat: SourceThreat) -> list[Suggestion]:
    """The best-scored checks for one threat, with why."""
    scores: dict[str, int] = {}
    reasons: dict[str, list[str]] = {}

    def add(check: str, points: int, reason: str) -> None:
        scores[check] = scores.get(check, 0) + points
        if reason not in reasons.setdefault(check, []):
            reasons[check].append(reason)

    for spec in catalogue.CATALOGUE.values():
        for capec in set(spec.capec) & set(threat.capec):
            add(spec.id, 3, capec)
        for cwe in set(spec.cwe) & set(threat.cwe):
            add(spec.id, 1 if cwe == "CWE-20" else 2, cwe)
    text = f"{threat.title}\n{threat.description}\n{threat.mitigation}"
    for pattern, ids in _KEYWORDS:
        match = pattern.search(text)
        if match:
            for check in ids:
                add(check, 2, f'"{match.group(0).lower()}"')
    fitting = FAMILIES.get(threat.stride, ()) if threat.stride else ()
    for check in list(scores):
        if check.split("-")[0] in fitting:
            add(check, 1, f"STRIDE {threat.stride}")
    ranked = sorted(scores, key=lambda c: (-scores[c], c))
    return [Suggestion(c, scores[c], tuple(reasons[c])) for c in ranked if scores[c] >= MIN_SCORE][
        :MAX_CHECKS
    ]


def draft(source: ImportedSource, mapping: Mapping) -> str:
    """The draft mapping file: every threat the source and tags left unmapped."""
    lines = [
        "# DRAFT mapping written by `medsec import-tm --suggest` from STRIDE categories, CAPEC",
        "# and CWE ids and keywords. It is a guess: check every line against what each",
        "# catalogue check shows (docs/CATALOGUE.md), correct it, then delete `draft: true`",
        "# and pass the file with --map. Threats already mapped (by --map or a `medsec:` tag)",
        "# are not listed.",
        f"schema: {MAP_SCHEMA}",
        "draft: true",
        "source:",
        f"  format: {source.format}",
        f"  file: {_scalar(source.path.name)}",
        f"  sha256: {source.sha256}",
        "threats:",
    ]
    listed = 0
    for threat in source.threats:
        if mapping.threats[threat.key][1] != "none":
            continue
        found = suggest(threat)
        lines.append(f"  # {_comment(threat.title)}")
        for item in found:
            lines.append(f"  #   {item.check} ({item.score}): {_comment(', '.join(item.reasons))}")
        if not found:
            lines.append("  #   nothing scored: map by hand, or [] if no check applies")
        lines.append(f"  {_scalar(threat.key)}: [{', '.join(i.check for i in found)}]")
        listed += 1
    if not listed:
        lines[-1] = "threats: {}"
    return "\n".join(lines) + "\n"


def _scalar(text: str) -> str:
    """`text` as one YAML scalar on one line."""
    dumped = yaml.safe_dump(text, default_flow_style=True, width=10_000, allow_unicode=True)
    return dumped.removesuffix("\n...\n").strip()


def _comment(text: str) -> str:
    return one_line(text, 160)
