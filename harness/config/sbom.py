"""The device's CycloneDX SBOM (profile key `sbom`), read with cyclonedx-python-lib.

Only what SURFACE-007 compares is kept: each component's name, version, package URL and
CPE, from the top-level components, their nested components and the described component
(`metadata.component`). JSON and XML documents are both read.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_SBOM_BYTES = 32 * 1024 * 1024
_EPOCH = re.compile(r"^\d+:")


@dataclass(frozen=True)
class Cpe:
    """The parts of a CPE (2.3 formatted string or 2.2 URI) a component is matched by."""

    vendor: str
    product: str
    version: str  # `version` and a `update` such as `p1` joined: 9.2p1; "" when any

    @classmethod
    def parse(cls, text: str) -> Cpe | None:
        if text.startswith("cpe:2.3:"):
            parts = text.split(":")[3:7]
        elif text.startswith("cpe:/"):
            parts = text[5:].split(":")[1:5]
        else:
            return None
        vendor, product, version, update = [*parts, "", "", "", ""][:4]
        if not product:
            return None
        version = "" if version in ("*", "-") else version
        update = "" if update in ("*", "-") else update
        return cls(vendor.lower(), product.lower(), (version + update).lower())


@dataclass(frozen=True)
class DeclaredComponent:
    """One component as the SBOM declares it."""

    name: str
    version: str
    purl_name: str = ""
    purl_version: str = ""
    cpe: Cpe | None = None

    @property
    def names(self) -> frozenset[str]:
        """Every name the component goes by, lower case: its own, its purl's, its CPE product."""
        found = {self.name.lower(), self.purl_name.lower()}
        if self.cpe is not None:
            found.add(self.cpe.product)
        return frozenset(found - {""})

    @property
    def versions(self) -> frozenset[str]:
        """Every version it declares (its own, its purl's, its CPE's), lower case."""
        found = {self.version, self.purl_version, self.cpe.version if self.cpe else ""}
        return frozenset(v.lower() for v in found if v)

    def describe(self) -> str:
        return f"{self.name} {self.version}".strip()


@dataclass(frozen=True)
class Sbom:
    """What the SBOM at `path` declares."""

    path: Path
    components: tuple[DeclaredComponent, ...]

    def named(self, names: frozenset[str]) -> tuple[DeclaredComponent, ...]:
        """The components going by any of `names` (lower case)."""
        return tuple(c for c in self.components if c.names & names)


def split_version(version: str) -> tuple[str, str]:
    """(upstream, packaging revision) of a version: `1:9.2p1-2+deb12u3` -> (9.2p1, 2+deb12u3).

    The epoch goes; the revision is what follows the last `-` when the upstream part
    ends in a digit or letter and the rest starts with a digit (Debian's, Alpine's `-r1`
    and RPM's releases look like that). A leading `v` goes too.
    """
    text = _EPOCH.sub("", version.strip().lower())
    text = text[1:] if text[:1] == "v" and text[1:2].isdigit() else text
    upstream, dash, revision = text.rpartition("-")
    if dash and upstream and (revision[:1].isdigit() or re.fullmatch(r"r\d+", revision)):
        return upstream, revision
    return text, ""


def load(path: Path) -> Sbom:
    """Read a CycloneDX JSON or XML file (XML through defusedxml); ValueError for anything else."""
    from cyclonedx.model.bom import Bom  # a light import, but only runs that name an SBOM pay it

    if path.stat().st_size > MAX_SBOM_BYTES:
        raise ValueError(f"larger than {MAX_SBOM_BYTES // (1024 * 1024)} MiB")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the library warns about incomplete graphs
            if text.lstrip().startswith("<"):
                bom = Bom.from_xml(io.StringIO(text))  # type: ignore[attr-defined]
            else:
                document = json.loads(text)
                if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
                    raise ValueError("not a CycloneDX document (bomFormat is not CycloneDX)")
                bom = Bom.from_json(document)  # type: ignore[attr-defined]
    except ValueError:
        raise
    except Exception as exc:  # the library raises many kinds on malformed input
        raise ValueError(f"not a readable CycloneDX SBOM: {type(exc).__name__}: {exc}") from None
    found = [_declared(c) for c in _walk(list(bom.components))]
    if bom.metadata.component is not None:
        found.append(_declared(bom.metadata.component))
    return Sbom(path, tuple(found))


def _walk(components: list[Any]) -> list[Any]:
    every: list[Any] = []
    for component in components:
        every.append(component)
        every += _walk(list(component.components))
    return every


def _declared(component: Any) -> DeclaredComponent:
    purl = component.purl
    return DeclaredComponent(
        name=str(component.name),
        version=str(component.version or ""),
        purl_name=str(purl.name) if purl is not None else "",
        purl_version=str(purl.version or "") if purl is not None else "",
        cpe=Cpe.parse(str(component.cpe)) if component.cpe else None,
    )
