"""The pump's SBOM (CycloneDX 1.6 JSON), written beside its profile (`sbom:`).

It declares what the pump can show a client: its own firmware (`pumpd`, the version it
runs) and the TLS library W-13's `Server` header names. So SURFACE-007 passes on every
variant, and W-13 stays a single-check weakness (SURFACE-004's).
"""

from __future__ import annotations

import json
from pathlib import Path

TLS_LIBRARY = ("openssl", "1.1.1k")  # what the W-13 header names (the emulator's fiction)


def document(model: str, firmware: str) -> dict[str, object]:
    name, version = TLS_LIBRARY
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "component": {"type": "device", "name": model, "version": firmware},
        },
        "components": [
            {"type": "firmware", "name": "pumpd", "version": firmware},
            {
                "type": "library",
                "name": name,
                "version": version,
                "purl": f"pkg:generic/{name}@{version}",
                "cpe": f"cpe:2.3:a:openssl:openssl:{version}:*:*:*:*:*:*:*",
            },
        ],
    }


def path(folder: Path) -> Path:
    return folder / "sbom.cdx.json"


def write(folder: Path, model: str, firmware: str) -> None:
    path(folder).write_text(json.dumps(document(model, firmware), indent=2) + "\n")
