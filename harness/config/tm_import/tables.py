"""The vendored lookup tables (tables/*.json, written by tests/tools/threat_tables.py)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

_FOLDER = Path(__file__).resolve().parent / "tables"


@functools.cache
def table(name: str) -> dict[str, Any]:
    """`tables/NAME.json`, read once."""
    loaded: dict[str, Any] = json.loads((_FOLDER / f"{name}.json").read_text(encoding="utf-8"))
    return loaded
