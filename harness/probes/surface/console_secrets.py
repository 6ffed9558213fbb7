"""Secrets in console output: private keys, password and token assignments, profile secrets.

A profile secret that could be an ordinary word (letters or digits only, or short: `root`)
counts only as a token where a secret is expected (`password: root`), not in the kernel's
`root=/dev/mmcblk0p2`; any other profile secret counts wherever it appears. Findings carry
only a redacted excerpt; the evidence never repeats the secret it found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from harness.core.redact import MIN_SCRUB_LEN, shown

_VALUE = r"[^\s'\"<>]{4,}"
_PASSWORD_KEY = r"(?:pass(?:word|wd|phrase)?|pwd|secret|psk)"  # noqa: S105 - key names
_TOKEN_KEY = r"(?:api[_-]?key|access[_-]?key|auth[_-]?token|token|bearer)"  # noqa: S105 - key names
# A secret-like key, then `:`/`=` or a space (and an optional "is"), then an optional quote.
_SECRET_CONTEXT = (
    rf"(?i:(?<![A-Za-z])(?:{_PASSWORD_KEY}|{_TOKEN_KEY})[A-Za-z_-]*)"
    r"(?:[ \t]*[:=][ \t]*|[ \t]+(?:is[ \t]+)?)['\"]?"
)
WORD_LIKE_BELOW = 8  # shorter secrets, and letters- or digits-only ones, need the context
# Not a value: a placeholder, or a key word again (busybox: "passwd: password for root changed").
_NOT_A_VALUE = (
    r"(?!(?:none|null|nil|true|false|unset|disabled|\(null\)|\*+|pass(?:word|wd|phrase))(?:\s|$))"
)
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key block", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    (
        "password assignment",
        re.compile(rf"(?i)(?<![A-Za-z]){_PASSWORD_KEY}[ \t]*[:=][ \t]*" + _NOT_A_VALUE + _VALUE),
    ),
    (
        "token or API key assignment",
        re.compile(rf"(?i)(?<![A-Za-z]){_TOKEN_KEY}[ \t]*[:=][ \t]*" + _NOT_A_VALUE + _VALUE),
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
    known_patterns = [(secret, _profile_secret(secret)) for secret in known]
    found: list[SecretFinding] = []
    for number, line in enumerate(text.splitlines(), 1):
        for kind, pattern in PATTERNS:
            for match in pattern.finditer(line):
                found.append(SecretFinding(kind, number, _redacted(match.group(0), known)))
        for secret, pattern in known_patterns:
            if pattern.search(line):
                found.append(
                    SecretFinding("a secret from the profile", number, _redacted(secret, known))
                )
    return tuple(found)


def reads_as_word(secret: str) -> bool:
    """Could `secret` appear in ordinary console text by chance (`root`, `admin`, `1234`)?"""
    return len(secret) < WORD_LIKE_BELOW or secret.isalpha() or secret.isdigit()


def _profile_secret(secret: str) -> re.Pattern[str]:
    if not reads_as_word(secret):
        return re.compile(re.escape(secret))
    return re.compile(_SECRET_CONTEXT + rf"{re.escape(secret)}(?![A-Za-z0-9])")


def _redacted(matched: str, known: list[str]) -> str:
    if matched.startswith("-----BEGIN"):
        excerpt = matched  # the header names the key type; the key itself is not repeated
    else:
        parts = re.split(r"([:=][ \t]*)", matched, maxsplit=1)
        excerpt = f"{parts[0]}{parts[1]}{shown(parts[2])}" if len(parts) == 3 else shown(matched)
    for secret in known:
        excerpt = excerpt.replace(secret, shown(secret))
    return excerpt[:160]
