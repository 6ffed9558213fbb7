"""Fleet files: the devices `medsec fleet` runs, as profiles or as one template with values.

```yaml
schema: medsec/fleet/v1
name: Ward 3 infusion pumps            # optional, shown on fleet.html
devices:                               # profiles, relative to this file
  - profile: pumps/bed-1.yaml
    name: bed-1                        # optional: the device's folder (default: its serial)
template:                              # optional: one profile, per-device values
  profile: pump-template.yaml          # ${NAME} of a value is replaced; other ${VAR}s
  devices:                             # stay for the environment (secrets)
    - name: bed-2
      values: {PUMP_HOST: 192.0.2.12, PUMP_SERIAL: SN-0002}
```

`load_fleet` validates the file and every profile it names (each error: file, line, field);
`render_template` writes one device's profile from the template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.config import yamlfile
from harness.config.profile import Profile, load_profile
from harness.config.profile_paths import absolute_paths
from harness.core.errors import ProfileError, ProfileIssue

SCHEMA_ID = "medsec/fleet/v1"
MAX_DEVICES = 1000
DeviceName = Annotated[
    str,
    Field(
        # Ends in a letter, digit or -: a trailing . or _ would not survive as a folder name.
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9-])?$",
        description="the device's folder under the fleet folder: letters, digits, . _ -",
    ),
]
ValueName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_VALUE_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ListedDevice(_Section):
    """A device given by its own profile."""

    profile: Path = Field(description="the device's profile, relative to the fleet file")
    name: DeviceName | None = None


class TemplateDevice(_Section):
    """A device of the template: its name and the values its ${NAME}s take."""

    name: DeviceName
    values: dict[ValueName, str | int | float | bool] = Field(
        default={}, description="${NAME} in the template becomes this value"
    )


class Template(_Section):
    """One profile with `${NAME}` placeholders, and a set of values per device."""

    profile: Path = Field(description="the template profile, relative to the fleet file")
    devices: tuple[TemplateDevice, ...] = Field(min_length=1, max_length=MAX_DEVICES)


class FleetFile(_Section):
    """The whole fleet file."""

    schema_: Literal["medsec/fleet/v1"] = Field(alias="schema")
    name: str | None = Field(default=None, description="the fleet's name on fleet.html")
    devices: tuple[ListedDevice, ...] = Field(default=(), max_length=MAX_DEVICES)
    template: Template | None = None

    @model_validator(mode="after")
    def _some_devices(self) -> FleetFile:
        if not self.devices and self.template is None:
            raise ValueError("a fleet needs devices (profiles), a template, or both")
        names = [d.name for d in self.devices if d.name]
        if self.template is not None:
            names += [d.name for d in self.template.devices]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"device names must be unique: {', '.join(duplicates)}")
        return self


@dataclass(frozen=True)
class FleetDevice:
    """One device to run: where its profile is (or will be rendered) and what it says."""

    name: str | None  # as the fleet file names it; None: derived from the profile
    profile_path: Path  # listed: the profile; template: the template
    values: Mapping[str, str | int | float | bool] | None  # template devices only
    where: str  # `fleet.yaml:12: template.devices[3]`, for messages
    device: Profile | None = None  # listed devices, as loaded to validate them


@dataclass(frozen=True)
class Fleet:
    """A validated fleet file."""

    path: Path
    sha256: str
    name: str
    devices: tuple[FleetDevice, ...]


def load_fleet(path: Path) -> Fleet:
    """Validate the fleet file and each listed profile; ProfileError (file:line: field)."""
    document = yamlfile.load(path)
    if document.data.get("schema") != SCHEMA_ID:
        raise ProfileError(
            [
                document.issue(
                    ("schema",), f"must be {SCHEMA_ID} (found {document.data.get('schema')!r})"
                )
            ]
        )
    try:
        model = FleetFile.model_validate(document.data)
    except ValidationError as exc:
        raise yamlfile.raise_validation(exc, document) from None
    base = path.resolve().parent
    devices: list[FleetDevice] = []
    issues: list[ProfileIssue] = []
    for index, listed in enumerate(model.devices):
        loc = ("devices", index, "profile")
        where = _where(document, loc)
        profile_path = base / listed.profile
        try:
            loaded = load_profile(profile_path)
        except ProfileError as exc:
            issues += [document.issue(loc, f"{profile_path}: invalid profile"), *exc.issues]
            continue
        devices.append(FleetDevice(listed.name, profile_path, None, where, loaded))
    if model.template is not None:
        template = base / model.template.profile
        if not template.is_file():
            issues.append(document.issue(("template", "profile"), f"file not found: {template}"))
        for index, entry in enumerate(model.template.devices):
            where = _where(document, ("template", "devices", index))
            devices.append(FleetDevice(entry.name, template, entry.values, where))
    if issues:
        raise ProfileError(issues)
    return Fleet(path, document.sha256, model.name or path.stem, tuple(devices))


def fleet_yaml(name: str, devices: list[tuple[str, Path]], comment: str = "") -> str:
    """A fleet file listing `(name, profile)` pairs, validated before it is written."""
    data: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "name": name,
        "devices": [{"profile": str(p), "name": n} for n, p in devices],
    }
    FleetFile.model_validate(data)
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _where(document: yamlfile.LocatedDocument, loc: yamlfile.Loc) -> str:
    """`fleet.yaml:12: template.devices[3]`."""
    return f"{document.path}:{document.line_of(loc)}: {yamlfile.dotted(loc)}"


def _substitute(value: Any, values: Mapping[str, Any]) -> Any:
    """`${NAME}` of a value replaced; a whole-string reference keeps the value's type."""
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if not isinstance(value, str):
        return value
    whole = _VALUE_REF.fullmatch(value)
    if whole is not None and whole.group(1) in values:
        return values[whole.group(1)]

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(values[name]) if name in values else match.group(0)

    return _VALUE_REF.sub(replace, value)


def render_template(device: FleetDevice, out: Path) -> Profile:
    """Write `device`'s profile from its template to `out` (relative file references made
    absolute, `${VAR}`s without a value left for the environment), then load it."""
    if device.values is None:
        raise ValueError(f"{device.where}: not a template device")
    template = yamlfile.load(device.profile_path)
    data = absolute_paths(
        _substitute(template.data, device.values), device.profile_path.resolve().parent
    )
    header = (
        f"# Rendered by medsec fleet from {device.profile_path} for {device.where}.\n"
        "# Only the template's values are filled in; ${VAR}s come from the environment.\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    out.chmod(0o600)  # the template may hold secrets as written
    try:
        return load_profile(out)
    except ProfileError as exc:
        note = ProfileIssue(
            str(out), None, "", f"rendered from {device.profile_path} for {device.where}"
        )
        raise ProfileError([note, *exc.issues]) from None
