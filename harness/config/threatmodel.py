"""Threat-model files: threats -> controls -> check ids, and the coverage the harness gives.

A threat model is YAML (`schema: medsec/threat-model/v1`) written by the device's security
team. Controls are listed once and referenced by threats, so a control shared by several
threats is traced once. Every check id must exist in the catalogue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.config import catalogue, yamlfile
from harness.core.errors import ProfileError

SCHEMA_ID = "medsec/threat-model/v1"
Stride = Literal[
    "Spoofing",
    "Tampering",
    "Repudiation",
    "Information disclosure",
    "Denial of service",
    "Elevation of privilege",
]


class _Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Control(_Item):
    """A security control and the checks that give evidence for it."""

    id: str = Field(pattern=r"^[A-Z]+-\d+$")
    title: str
    checks: tuple[str, ...] = Field(
        default=(), description="empty: the control cannot be shown from outside the device"
    )
    rationale: str | None = None

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if c not in catalogue.CATALOGUE]
        if unknown:
            raise ValueError(f"not check ids of the catalogue: {', '.join(unknown)}")
        return value


SourceFormat = Literal["pytm", "threat-dragon", "threagile", "otm", "tm7"]


class Provenance(_Item):
    """Where an imported threat came from (`medsec import-tm`), so a reviewer can find it."""

    format: SourceFormat
    source_id: str = Field(description="the source tool's stable id of the threat")
    status: str = Field(default="", description="the threat's status as the source states it")
    mitigated: bool = Field(
        default=False,
        description="the source marks the threat mitigated (its status, in our words)",
    )
    severity: str | None = None
    file: str = Field(description="the source file's name")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the source file imported")
    mapping: Literal["map", "inline", "none"] = Field(
        default="none", description="where the checks came from: a mapping file, a tag, none"
    )


class Threat(_Item):
    """One threat: what could go wrong, and the controls that answer it."""

    id: str = Field(pattern=r"^[A-Z]+-\d+$")
    title: str
    stride: Stride | None = Field(
        default=None, description="omitted: the source does not classify the threat"
    )
    capec: tuple[str, ...] = Field(default=(), description="CAPEC-n ids")
    asset: str | None = None
    description: str | None = None
    controls: tuple[str, ...] = Field(min_length=1)
    provenance: Provenance | None = None

    @field_validator("capec")
    @classmethod
    def _capec_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in value if not c.startswith("CAPEC-") or not c[6:].isdigit()]
        if bad:
            raise ValueError(f"not CAPEC ids: {', '.join(bad)}")
        return value


class ThreatModel(_Item):
    """The whole file."""

    schema_: Literal["medsec/threat-model/v1"] = Field(alias="schema")
    system: str
    version: str | None = None
    controls: tuple[Control, ...]
    threats: tuple[Threat, ...]

    @model_validator(mode="after")
    def _references_resolve(self) -> ThreatModel:
        control_ids = [c.id for c in self.controls]
        threat_ids = [t.id for t in self.threats]
        for kind, ids in (("control", control_ids), ("threat", threat_ids)):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind} ids: {', '.join(duplicates)}")
        for threat in self.threats:
            missing = [c for c in threat.controls if c not in control_ids]
            if missing:
                raise ValueError(f"threat {threat.id} names unknown controls: {', '.join(missing)}")
        return self

    def control(self, control_id: str) -> Control:
        return next(c for c in self.controls if c.id == control_id)

    def threats_for_check(self, check_id: str) -> tuple[str, ...]:
        """Ids of the threats whose controls name `check_id`."""
        return tuple(
            t.id
            for t in self.threats
            if any(check_id in self.control(c).checks for c in t.controls)
        )

    def controls_for_check(self, check_id: str) -> tuple[str, ...]:
        return tuple(c.id for c in self.controls if check_id in c.checks)


def load_threat_model(path: str | Path) -> ThreatModel:
    """Load and validate a threat model; raises ProfileError naming file, line and field."""
    document = yamlfile.load(Path(path))
    try:
        return ThreatModel.model_validate(document.data)
    except ValidationError as exc:
        raise yamlfile.raise_validation(exc, document) from None


__all__ = [
    "SCHEMA_ID",
    "Control",
    "ProfileError",
    "Provenance",
    "Threat",
    "ThreatModel",
    "load_threat_model",
]
