"""`medsec import-tm`: a threat model from pytm, Threat Dragon, Threagile, OTM or TMT."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.cli.exit_codes import EXIT_OK, EXIT_USAGE
from harness.config.threatmodel import SourceFormat
from harness.config.tm_import import draft_mapping, import_model
from harness.core.errors import ProfileError
from harness.core.terminal import clean


def _say(text: str) -> None:
    print(clean(text))


def draft_path(output: Path) -> Path:
    """Where --suggest writes its draft: beside the threat model."""
    return output.with_name(f"{output.stem}.map-draft.yaml")


def cmd_import_tm(
    source: Path,
    output: Path,
    fmt: str = "auto",
    map_path: Path | None = None,
    suggest: bool = False,
    risks: Path | None = None,
    force: bool = False,
) -> int:
    """Import `source`, write our threat model to `output` (and a draft mapping)."""
    targets = [output, *([draft_path(output)] if suggest else [])]
    existing = [t for t in targets if t.exists() and not force]
    if existing:
        names = ", ".join(str(t) for t in existing)
        print(f"medsec: {clean(names)} exists: pass --force to replace it", file=sys.stderr)
        return EXIT_USAGE
    chosen: SourceFormat | None = None if fmt == "auto" else fmt  # type: ignore[assignment]
    try:
        imported = import_model(source, chosen, map_path, risks)
    except ProfileError as exc:
        print(
            f"medsec: cannot import {clean(str(source))}\n{clean(str(exc), keep_newlines=True)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    _write(output, imported.text)
    found = imported.source
    origins = [origin for _, origin in imported.mapping.threats.values()]
    mitigated = sum(1 for t in found.threats if t.mitigated)
    _say(
        f"{output}: {len(found.threats)} threats from {found.format} {source.name} "
        f"(SHA-256 {found.sha256[:16]}...), {mitigated} marked mitigated in the source"
    )
    _say(
        f"  checks mapped: {origins.count('map')} by {map_path or 'no mapping file'}, "
        f"{origins.count('inline')} by medsec: tags, {origins.count('none')} unmapped "
        "(flagged as 'no check' in the report)"
    )
    for note in found.notes:
        _say(f"  note: {note}")
    if suggest:
        draft = draft_path(output)
        _write(draft, draft_mapping(imported))
        _say(
            f"{draft}: DRAFT mapping for the {origins.count('none')} unmapped threats; not "
            "applied: review it, delete `draft: true`, then import again with --map"
        )
    return EXIT_OK


def _write(path: Path, text: str) -> None:
    """Write in one step (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
