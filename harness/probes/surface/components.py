"""Observed components against the device's SBOM (SURFACE-007), and the observed BOM.

A component matches an SBOM entry that goes by one of its rule's names (the entry's own
name, its purl's name or its CPE product). The versions agree when the upstream parts
are equal (epochs and a leading `v` ignored) and, where both the banner and the entry
carry a distribution's package revision, the revisions too: Debian's OpenSSH banner
shows the revision, so `1:9.2p1-2+deb12u3` in the SBOM does not match a server that says
`Debian-2+deb12u10`.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from harness.config.sbom import DeclaredComponent, Sbom, split_version
from harness.probes.surface.fingerprints import Identification, Observed


class Verdict(str, enum.Enum):
    DECLARED = "declared with this version"
    NAME_ONLY = "declared (the banner shows no version to compare)"
    UNDECLARED = "not in the SBOM"
    MISMATCH = "in the SBOM with another version"

    @property
    def ok(self) -> bool:
        return self in (Verdict.DECLARED, Verdict.NAME_ONLY)


@dataclass(frozen=True)
class Comparison:
    """One observed component, the SBOM entries of its name, and the verdict."""

    observed: Observed
    declared: tuple[DeclaredComponent, ...]
    verdict: Verdict

    def describe(self) -> str:
        line = f"{self.observed.shown} (from {self.observed.banner.where}): {self.verdict.value}"
        if self.verdict is Verdict.MISMATCH:
            line += f" ({', '.join(d.describe() for d in self.declared)})"
        return line


def version_matches(observed: Observed, declared: DeclaredComponent) -> bool:
    """Whether any version `declared` gives is the one the banner shows."""
    for version in declared.versions:
        upstream, revision = split_version(version)
        if upstream != observed.version.lower():
            continue
        if not (revision and observed.revision) or revision == observed.revision.lower():
            return True
    return False


def compare(observed: Observed, sbom: Sbom) -> Comparison:
    """Where `observed` stands in the SBOM."""
    declared = sbom.named(observed.rule.names | {observed.rule.cpe.split(":")[1]})
    if not declared:
        verdict = Verdict.UNDECLARED
    elif not observed.version:
        verdict = Verdict.NAME_ONLY
    elif any(version_matches(observed, d) for d in declared):
        verdict = Verdict.DECLARED
    else:
        verdict = Verdict.MISMATCH
    return Comparison(observed, declared, verdict)


def problems(comparisons: Iterable[Comparison]) -> list[str]:
    """Every observed component the SBOM does not declare with the version shown."""
    return [c.describe() for c in comparisons if not c.verdict.ok]


def observed_bom(found: Identification, *, device: str, firmware: str) -> str:
    """A CycloneDX 1.6 JSON document of what the banners named; the device is its subject.

    Unidentified tokens are listed too, marked `medsec:identified=false`.
    """
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion

    def component(name: str, version: str, where: str, cpe: str = "", **more: str) -> Component:
        properties = [Property(name="medsec:banner", value=where)]
        properties += [Property(name=f"medsec:{k}", value=v) for k, v in more.items() if v]
        return Component(
            name=name,
            version=version or None,
            type=ComponentType.APPLICATION,
            properties=properties,
            cpe=cpe or None,
        )

    bom = Bom()
    subject = Component(name=device, version=firmware, type=ComponentType.DEVICE)
    bom.metadata.component = subject
    for item in found.observed:
        vendor, product = item.rule.cpe.split(":")
        cpe = f"cpe:2.3:a:{vendor}:{product}:{item.version or '*'}:*:*:*:*:*:*:*"
        where = item.banner.where
        bom.components.add(
            component(item.rule.product, item.version, where, cpe, revision=item.revision)
        )
    for banner, token in found.unidentified:
        product, _, version = token.partition(" ")
        bom.components.add(component(product, version, banner.where, identified="false"))
    bom.register_dependency(subject, list(bom.components))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6).output_as_string(indent=2)
