"""Which catalogue checks answer each imported threat, in a fixed order of authority.

1. An explicit mapping file (`--map MAP.yaml`): its entry for a threat decides, even an
   empty list.
2. An inline tag `medsec: AUTH-001, CRYPTO-002` in the field the tool lets its user edit.
3. Nothing: the threat's control names no check, which the report flags. `--suggest`
   writes a draft mapping file for a person to confirm; a draft is never applied.

Every id must be a check of the catalogue; an unknown one is an error naming the file,
the threat and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.config import catalogue, yamlfile
from harness.config.tm_import.source import ImportedSource, source_error
from harness.core.errors import ProfileError, ProfileIssue

MAP_SCHEMA = "medsec/tm-map/v1"
Origin = Literal["map", "inline", "none"]


class MapFile(BaseModel):
    """`--map` files: source ids of threats (and OTM mitigations) -> check ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_: Literal["medsec/tm-map/v1"] = Field(alias="schema")
    draft: bool = Field(
        default=False, description="written by --suggest: refused until a person confirms it"
    )
    source: dict[str, str] | None = None
    threats: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    mitigations: dict[str, tuple[str, ...]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Mapping:
    """Check ids per threat key and per mitigation key, and where each came from."""

    threats: dict[str, tuple[tuple[str, ...], Origin]]
    mitigations: dict[str, tuple[tuple[str, ...], Origin]]


def load_map(path: Path) -> tuple[MapFile, yamlfile.LocatedDocument]:
    """A mapping file, validated; a draft is refused with what to do about it."""
    document = yamlfile.load(path)
    try:
        found = MapFile.model_validate(document.data)
    except ValidationError as exc:
        raise yamlfile.raise_validation(exc, document) from None
    if found.draft:
        raise ProfileError(
            [
                document.issue(
                    ("draft",),
                    "a draft written by --suggest is never applied: confirm or correct each "
                    "entry, then delete the `draft: true` line",
                )
            ]
        )
    return found, document


def resolve(source: ImportedSource, map_path: Path | None) -> Mapping:
    """Each threat's checks by the order of authority above; every id checked."""
    issues: list[ProfileIssue] = []
    explicit: MapFile | None = None
    document: yamlfile.LocatedDocument | None = None
    if map_path is not None:
        explicit, document = load_map(map_path)
        issues += _unknown_keys(explicit, document, source)
    threats: dict[str, tuple[tuple[str, ...], Origin]] = {}
    for threat in source.threats:
        if explicit is not None and document is not None and threat.key in explicit.threats:
            checks = explicit.threats[threat.key]
            issues += _bad_ids(checks, document, ("threats", threat.key), threat.key)
            threats[threat.key] = (checks, "map")
        elif threat.tagged:
            field = f"{threat.where}.{threat.tag_field}".strip(".")
            issues += [
                ProfileIssue(
                    str(source.path),
                    None,
                    field,
                    f"threat {threat.key}: medsec tag names {check}, not a check id of the "
                    "catalogue",
                )
                for check in threat.tagged
                if check not in catalogue.CATALOGUE
            ]
            threats[threat.key] = (threat.tagged, "inline")
        else:
            threats[threat.key] = ((), "none")
    mitigations: dict[str, tuple[tuple[str, ...], Origin]] = {}
    for mitigation in source.mitigations:
        origin: Origin = "none"
        if explicit is not None and document is not None and mitigation.key in explicit.mitigations:
            checks = explicit.mitigations[mitigation.key]
            issues += _bad_ids(checks, document, ("mitigations", mitigation.key), mitigation.key)
            origin = "map"
        else:
            checks = mitigation.tagged
            origin = "inline" if checks else "none"
            issues += [
                ProfileIssue(
                    str(source.path),
                    None,
                    mitigation.tag_field,
                    f"mitigation {mitigation.key}: medsec tag names {check}, not a check id "
                    "of the catalogue",
                )
                for check in checks
                if check not in catalogue.CATALOGUE
            ]
        mitigations[mitigation.key] = (checks, origin)
    for threat in source.threats:  # OTM: a threat mapped only through its mitigations
        origins = [mitigations[k][1] for k in threat.mitigations if mitigations[k][0]]
        if threats[threat.key][1] == "none" and origins:
            threats[threat.key] = ((), "map" if "map" in origins else "inline")
    if issues:
        raise ProfileError(issues)
    return Mapping(threats, mitigations)


def _bad_ids(
    checks: tuple[str, ...], document: yamlfile.LocatedDocument, loc: yamlfile.Loc, key: str
) -> list[ProfileIssue]:
    return [
        document.issue(loc, f"threat {key}: {check} is not a check id of the catalogue")
        for check in checks
        if check not in catalogue.CATALOGUE
    ]


def _unknown_keys(
    explicit: MapFile, document: yamlfile.LocatedDocument, source: ImportedSource
) -> list[ProfileIssue]:
    """A map entry for a threat the source does not have is a typo or a stale map."""
    threats = {t.key for t in source.threats}
    mitigations = {m.key for m in source.mitigations}
    missing = [("threats", k) for k in explicit.threats if k not in threats]
    missing += [("mitigations", k) for k in explicit.mitigations if k not in mitigations]
    return [
        document.issue(loc, f"no {loc[0][:-1]} with this id in {source.path.name}")
        for loc in missing
    ]


def check_source(path: Path, source: ImportedSource) -> None:
    """An import with no threat at all is almost certainly the wrong file."""
    if not source.threats:
        raise source_error(path, "", f"no threats found in this {source.format} file")
