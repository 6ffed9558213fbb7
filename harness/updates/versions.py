"""Dotted firmware versions ("2.4.1") compared as numbers, never as strings."""

from __future__ import annotations

import re

_VERSION = re.compile(r"^\d+(\.\d+)*$")


def parse_version(text: str) -> tuple[int, ...]:
    """`"2.10.0"` -> `(2, 10, 0)`; ValueError for anything that is not dotted digits."""
    if not _VERSION.match(text):
        raise ValueError(f"not a dotted numeric version: {text!r}")
    return tuple(int(part) for part in text.split("."))


def bump_patch(text: str) -> str:
    """The next patch version: `"2.4.1"` -> `"2.4.2"`."""
    parts = list(parse_version(text))
    parts[-1] += 1
    return ".".join(str(part) for part in parts)


def newer_than(current: str, wanted: str | None) -> str:
    """`wanted` if it is newer than `current`, else the next patch version after `current`.

    Negative update checks send images a correct device would otherwise install, so
    the only reason left to refuse them is the defect under test.
    """
    if wanted is not None and parse_version(wanted) > parse_version(current):
        return wanted
    return bump_patch(current)


def older_than(current: str, wanted: str | None) -> str:
    """`wanted` if it is older than `current`, else a version just below `current`.

    The rollback image must be older than what runs now, whatever ran before it.
    """
    if wanted is not None and parse_version(wanted) < parse_version(current):
        return wanted
    parts = list(parse_version(current))
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] > 0:
            parts[index] -= 1
            return ".".join(str(part) for part in parts)
    raise ValueError(f"no version is older than {current}")
