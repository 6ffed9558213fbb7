"""Payload files and text templates: what goes inside an image besides its metadata.

A payload file whose name ends in `.in` is a UTF-8 text template: `{version}` and
`{hardware}` are filled in and it enters the image without the `.in`. A description
template (SWUpdate's libconfig `sw-description`) may also name `{sha256:NAME}`, the digest
of the payload file NAME. Nothing else is replaced, so the template's own braces stay.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TEMPLATE_SUFFIX = ".in"
SYNTHETIC_SIZE = 64 * 1024
_FIELD = re.compile(r"\{(version|hardware|sha256:([^{}\s]+))\}")


@dataclass(frozen=True)
class PayloadFile:
    """One file as it enters the image."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def render(
    text: str, *, version: str, hardware: str, digests: Mapping[str, str] | None = None
) -> str:
    """Fill `{version}`, `{hardware}` and (with `digests`) `{sha256:NAME}`; nothing else."""

    def fill(match: re.Match[str]) -> str:
        field, name = match.group(1), match.group(2)
        if field == "version":
            return version
        if field == "hardware":
            return hardware
        if digests is None:
            raise ValueError(f"{{sha256:{name}}} is only allowed in a description template")
        if name not in digests:
            known = ", ".join(sorted(digests)) or "none"
            raise ValueError(f"{{sha256:{name}}} names no payload file of the image ({known})")
        return digests[name]

    return _FIELD.sub(fill, text)


def load(paths: Sequence[Path], *, version: str, hardware: str) -> list[PayloadFile]:
    """The payload files for one image; templates are rendered for this version."""
    files = []
    for path in paths:
        if path.name.endswith(TEMPLATE_SUFFIX):
            text = render(path.read_text(encoding="utf-8"), version=version, hardware=hardware)
            files.append(PayloadFile(path.name[: -len(TEMPLATE_SUFFIX)], text.encode()))
        else:
            files.append(PayloadFile(path.name, path.read_bytes()))
    names = [f.name for f in files]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"payload file names must be unique in an image: {', '.join(duplicates)}")
    return files


def synthetic(version: str, hardware: str = "") -> bytes:
    """Deterministic stand-in firmware: the same version always gives the same bytes."""
    seed = f"medsec-harness synthetic firmware {version}".encode()
    if hardware:
        seed += f" for hardware {hardware}".encode()
    blocks = (
        hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        for counter in range(SYNTHETIC_SIZE // 32)
    )
    return seed + b"\n" + b"".join(blocks)
