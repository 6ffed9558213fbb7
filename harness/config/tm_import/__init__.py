"""`medsec import-tm`: threat models from the tools teams keep them in, as our YAML.

One module per source format (pytm, threat_dragon, threagile, otm, tm7) turns its
file into an `ImportedSource`; `mapping` decides which catalogue checks answer each
threat (a mapping file, then inline tags); `build` writes our threat model with a
provenance block per threat; `suggest` drafts a mapping for a person to confirm.
Nothing in a source file is ever executed, and every file is read within a byte cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config.threatmodel import SourceFormat
from harness.config.tm_import import build, mapping, otm, pytm, suggest, threagile, threat_dragon
from harness.config.tm_import import tm7 as tm7_format
from harness.config.tm_import.source import (
    ImportedSource,
    load_json,
    read_bounded,
    source_error,
)

FORMATS: tuple[SourceFormat, ...] = ("pytm", "threat-dragon", "threagile", "otm", "tm7")


@dataclass(frozen=True)
class Imported:
    """An import's result: the source read, the mapping applied, our YAML text."""

    source: ImportedSource
    mapping: mapping.Mapping
    text: str


def detect(path: Path) -> SourceFormat:
    """The format of `path` from its content (the extension only for YAML and XML)."""
    data = read_bounded(path)
    if path.suffix.lower() == ".tm7" or tm7_format.looks_like(data):
        return "tm7"
    if path.suffix.lower() in (".yaml", ".yml"):
        text = data[:65536].decode("utf-8", "replace")
        return "otm" if "otmVersion" in text else "threagile"
    document = load_json(path, data)
    for name, module in (("pytm", pytm), ("threat-dragon", threat_dragon), ("otm", otm)):
        if module.looks_like(document):
            return name  # type: ignore[return-value]
    raise source_error(
        path,
        "",
        "not a format import-tm knows (pytm JSON, Threat Dragon v2 JSON, Threagile YAML, "
        "OTM JSON/YAML, TMT .tm7): name it with --format",
    )


def read_source(path: Path, fmt: SourceFormat, risks: Path | None = None) -> ImportedSource:
    """Read `path` as `fmt`."""
    if risks is not None and fmt != "threagile":
        raise source_error(risks, "", "--risks is Threagile's risks.json: only with threagile")
    if fmt == "pytm":
        return pytm.read(path)
    if fmt == "threat-dragon":
        return threat_dragon.read(path)
    if fmt == "threagile":
        return threagile.read(path, risks)
    if fmt == "otm":
        return otm.read(path)
    return tm7_format.read(path)


def import_model(
    path: Path,
    fmt: SourceFormat | None = None,
    map_path: Path | None = None,
    risks: Path | None = None,
) -> Imported:
    """Read, map and render; raises ProfileError naming file and field on any problem."""
    chosen = fmt or detect(path)
    source = read_source(path, chosen, risks)
    mapping.check_source(path, source)
    resolved = mapping.resolve(source, map_path)
    text = build.render(build.document(source, resolved), source)
    return Imported(source, resolved, text)


def draft_mapping(imported: Imported) -> str:
    """The --suggest draft for the threats nothing mapped."""
    return suggest.draft(imported.source, imported.mapping)


__all__ = ["FORMATS", "Imported", "detect", "draft_mapping", "import_model", "read_source"]
