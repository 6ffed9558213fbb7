"""Secrets in console output: private keys, password and token assignments, profile secrets.

Findings carry only a redacted excerpt; the evidence never repeats the secret it found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from harness.core.redact import MIN_SCRUB_LEN, shown

_VALUE = r"[^\s'\"<>]{4,}"
_NOT_A_VALUE = r"(?!(?:none|null|nil|true|false|unset|disabled|\(null\)|\*+)(?:\s|$))"
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key block", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    (
        "password assignment",
        re.compile(
            r"(?i)(?<![A-Za-z])(?:pass(?:word|wd|phrase)?|pwd|secret|psk)[ \t]*[:=][ \t]*"
            + _NOT_A_VALUE
            + _VALUE
        ),
    ),
    (
        "token or API key assignment",
        re.compile(
            r"(?i)(?<![A-Za-z])(?:api[_-]?key|access[_-]?key|auth[_-]?token|token|bearer)"
            r"[ \t]*[:=][ \t]*" + _NOT_A_VALUE + _VALUE
        ),
    ),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
)


@dataclass(frozen=True)
class SecretFinding:
    """One secret-looking thing in the output: what kind, where, a redacted excerpt."""

    kind: str
    line: int
    excerpt: str


def scan(text: str, known_secrets: Iterable[str] = ()) -> tuple[SecretFinding, ...]:
    """Every pattern match and every profile secret found in `text`, line by line."""
    known = sorted({s for s in known_secrets if len(s) >= MIN_SCRUB_LEN}, key=len, reverse=True)
    found: list[SecretFinding] = []
    for number, line in enumerate(text.splitlines(), 1):
        for kind, pattern in PATTERNS:
            for match in pattern.finditer(line):
                found.append(SecretFinding(kind, number, _redacted(match.group(0), known)))
        for secret in known:
            if secret in line:
                found.append(
                    SecretFinding("a secret from the profile", number, _redacted(secret, known))
                )
    return tuple(found)


def _redacted(matched: str, known: list[str]) -> str:
    if matched.startswith("-----BEGIN"):
        excerpt = matched  # the header names the key type; the key itself is not repeated
    else:
        parts = re.split(r"([:=][ \t]*)", matched, maxsplit=1)
        excerpt = f"{parts[0]}{parts[1]}{shown(parts[2])}" if len(parts) == 3 else shown(matched)
    for secret in known:
        excerpt = excerpt.replace(secret, shown(secret))
    return excerpt[:160]
