"""A profile's relative file references made absolute, for a copy written in another folder.

A profile names files relative to itself (`key_file: keys/service.pem`). When a profile is
rendered from a template into another folder (`medsec fleet`), those references must keep
pointing where the template meant: this walks the raw YAML data along the `Profile` model
and rewrites every value whose field resolves a file, and nothing else.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from harness.config import profile
from harness.config.crypto_policy import BUILT_IN

_FILE = "file"
_POLICY = "policy"
_THREAT_MODEL = "threat model"


def _markers(*aliases: Any) -> set[int]:
    """The validator objects an `Annotated` alias carries, by identity."""
    return {id(m) for alias in aliases for m in alias.__metadata__}


_THREAT_MODEL_MARKERS = _markers(profile.ThreatModelFile)
_POLICY_MARKERS = _markers(profile.PolicyReference)
_FILE_MARKERS = _markers(profile.ProfileFile, profile.SbomFile)


def _kind_of_marker(marker: object) -> str | None:
    if id(marker) in _THREAT_MODEL_MARKERS:
        return _THREAT_MODEL
    if id(marker) in _POLICY_MARKERS:
        return _POLICY
    if id(marker) in _FILE_MARKERS:
        return _FILE
    return None


def _file_kind(annotation: Any, metadata: list[Any]) -> str | None:
    """Whether a field holds a file reference, and which kind (the first marker wins)."""
    pending = [annotation, *metadata]
    for _ in range(64):  # annotations nest a few levels; bounded all the same
        if not pending:
            return None
        item = pending.pop(0)
        kinds = [_kind_of_marker(item)]
        if typing.get_origin(item) is typing.Annotated:
            kinds += [_kind_of_marker(m) for m in item.__metadata__]
        found = [k for k in kinds if k is not None]
        if _THREAT_MODEL in found:
            return _THREAT_MODEL
        if found:
            return found[0]
        pending += typing.get_args(item)
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The section model a field holds (directly, optionally or as a tuple of them)."""
    pending = [annotation]
    for _ in range(64):
        if not pending:
            return None
        item = pending.pop(0)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
        pending += typing.get_args(item)
    return None


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _absolute(value: Any, kind: str, base: Path) -> Any:
    if isinstance(value, list):
        return [_absolute(v, kind, base) for v in value]
    if not isinstance(value, str) or not value or "${" in value or Path(value).is_absolute():
        return value
    if kind == _POLICY and value in BUILT_IN:
        return value
    if kind == _THREAT_MODEL and "/" not in value and not (base / value).is_file():
        return value  # the name of a threat model shipped with the harness
    return str(base / value)


def absolute_paths(
    data: dict[str, Any], base: Path, model: type[BaseModel] = profile.Profile
) -> dict[str, Any]:
    """`data` (a profile's raw mapping) with each relative file reference joined to `base`."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = _field(model, str(key))
        if field is None:
            out[key] = value  # an unknown key: validation names it later
            continue
        kind = _file_kind(field.annotation, list(field.metadata))
        section = _model_of(field.annotation)
        if kind is not None:
            out[key] = _absolute(value, kind, base)
        elif section is not None and isinstance(value, dict):
            out[key] = absolute_paths(value, base, section)
        elif section is not None and isinstance(value, list):
            out[key] = [
                absolute_paths(v, base, section) if isinstance(v, dict) else v for v in value
            ]
        else:
            out[key] = value
    return out
