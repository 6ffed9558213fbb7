"""Keeping secrets out of evidence: redacted forms and text scrubbing."""

from __future__ import annotations

from collections.abc import Iterable

MIN_SCRUB_LEN = 4  # shorter values would blank out ordinary words


def shown(secret: str) -> str:
    """A secret as reports show it: `admin` -> `ad***`, empty -> `(empty)`."""
    if not secret:
        return "(empty)"
    return secret[:2] + "***" if len(secret) > 3 else "***"


class Redactor:
    """Replaces every known secret value in text with its redacted form."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets |= {s for s in secrets if len(s) >= MIN_SCRUB_LEN}

    def text(self, value: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, shown(secret))
        return value
