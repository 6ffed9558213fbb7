"""The `swupdate` image kit: `.swu` files for devices running SWUpdate.

A `.swu` is a CPIO newc archive: `sw-description` first (the libconfig text rendered from
`update.description_template`), `sw-description.sig` second (a detached CMS signature
made with `update.signing_key` and `update.signing_cert`), then the payload files it
names with their SHA-256. SWUpdate checks the signature over `sw-description` and each
payload against the digest the description gives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property

from harness.updates import cms, cpio, payloads
from harness.updates.attacks import Attack, Unsupported, UpdateImage, flip_byte
from harness.updates.kit import ImageKit, KitSpec, derives
from harness.updates.registry import register_kit
from harness.updates.versions import bump_patch

DESCRIPTION = "sw-description"
SIGNATURE = "sw-description.sig"


@register_kit("swupdate")
class SwupdateKit(ImageKit):
    """sw-description + CMS signature + payload files, in a CPIO archive."""

    carries_model = False  # the template names the board; the harness fills only {hardware}

    def __init__(self, spec: KitSpec) -> None:
        super().__init__(spec)
        if spec.signing_cert is None or spec.description_template is None or not spec.payload:
            raise Unsupported(
                "the swupdate format needs update.signing_cert, update.description_template "
                "and update.payload"
            )
        self._template = spec.description_template.read_text(encoding="utf-8")

    @cached_property
    def signer(self) -> cms.Signer:
        assert self.spec.signing_cert is not None
        return cms.load_signer(self.spec.signing_key, self.spec.signing_cert)

    def parts(
        self, version: str, hardware: str | None = None
    ) -> tuple[bytes, list[payloads.PayloadFile]]:
        """The rendered sw-description and the payload files of one version."""
        hardware = hardware or self.spec.hardware
        files = payloads.load(self.spec.payload, version=version, hardware=hardware)
        digests = {f.name: f.sha256 for f in files}
        description = payloads.render(
            self._template, version=version, hardware=hardware, digests=digests
        )
        return description.encode(), files

    def build(
        self,
        version: str,
        *,
        hardware: str | None = None,
        model: str | None = None,
        signer: cms.Signer | None = None,
    ) -> UpdateImage:
        if model is not None:
            raise Unsupported("a swupdate image does not name the device model")
        description, files = self.parts(version, hardware)
        signature = cms.sign(description, signer or self.signer)
        data = _archive(description, signature, files)
        return UpdateImage(
            Attack.VALID.value, data, f"correctly signed image {version}", version=version
        )

    def regions(self, image: UpdateImage) -> dict[str, tuple[int, int]]:
        entries = {e.name: e for e in cpio.parse(image.data)}
        payload = next(e for name, e in entries.items() if name not in (DESCRIPTION, SIGNATURE))
        return {
            "header": (entries[DESCRIPTION].data_offset, entries[DESCRIPTION].end),
            "signature": (entries[SIGNATURE].data_offset, entries[SIGNATURE].end),
            "payload": (payload.data_offset, payload.end),
        }

    @derives(Attack.UNSIGNED)
    def _unsigned(self, valid: UpdateImage) -> UpdateImage:
        description, files = self.parts(valid.version)
        data = cpio.write([cpio.Entry(DESCRIPTION, description), *_entries(files)])
        return valid.derived(Attack.UNSIGNED, data, f"{SIGNATURE} left out of the archive")

    @derives(Attack.MALFORMED_SIGNATURE)
    def _malformed_signature(self, valid: UpdateImage) -> UpdateImage:
        description, files = self.parts(valid.version)
        size = len(cms.sign(description, self.signer))
        noise = os.urandom(size)
        return valid.derived(
            Attack.MALFORMED_SIGNATURE,
            _archive(description, noise, files),
            f"{SIGNATURE} replaced by {size} random bytes ({noise[:8].hex()}...)",
        )

    @derives(Attack.MIXED_SIGNATURE)
    def _mixed_signature(self, valid: UpdateImage) -> UpdateImage:
        description, files = self.parts(valid.version)
        other_version = bump_patch(valid.version)
        other, _ = self.parts(other_version)
        return valid.derived(
            Attack.MIXED_SIGNATURE,
            _archive(description, cms.sign(other, self.signer), files),
            f"{SIGNATURE} taken from the validly signed sw-description of {other_version}",
        )

    @derives(Attack.ALTERED_PAYLOAD)
    def _altered_payload(self, valid: UpdateImage) -> UpdateImage:
        start, end = self.regions(valid)["payload"]
        offset = start + (end - start) // 2
        data, note = flip_byte(valid.data, offset)
        name = next(e.name for e in cpio.parse(valid.data) if e.data_offset == start)
        return valid.derived(
            Attack.ALTERED_PAYLOAD, data, f"{note} (in payload file {name}) after signing"
        )

    @derives(Attack.ALTERED_METADATA)
    def _altered_metadata(self, valid: UpdateImage) -> UpdateImage:
        description, files = self.parts(valid.version)
        claimed = bump_patch(valid.version)
        quoted = f'"{valid.version}"'.encode()
        if quoted not in description:
            raise Unsupported("the sw-description does not quote its version")
        altered = description.replace(quoted, f'"{claimed}"'.encode(), 1)
        return valid.derived(
            Attack.ALTERED_METADATA,
            _archive(altered, cms.sign(description, self.signer), files),
            f'sw-description version "{valid.version}" -> "{claimed}" after signing '
            "(signature kept)",
            version=claimed,
        )

    @derives(Attack.UNTRUSTED_KEY)
    def _untrusted_key(self, valid: UpdateImage) -> UpdateImage:
        signer = cms.self_signed_lookalike(self.signer.certificate)
        image = self.build(valid.version, signer=signer)
        return valid.derived(
            Attack.UNTRUSTED_KEY,
            image.data,
            f"signed correctly by a fresh EC key with a self-signed certificate for "
            f"{signer.subject!r} (the trusted signer's name), shipped in the CMS",
        )

    @derives(Attack.EMBEDDED_KEY)
    def _embedded_chain(self, valid: UpdateImage) -> UpdateImage:
        signer = cms.chain_lookalike(self.signer.certificate)
        image = self.build(valid.version, signer=signer)
        return valid.derived(
            Attack.EMBEDDED_KEY,
            image.data,
            f"signed by a fresh key certified by a fresh CA named like the trusted issuer "
            f"({signer.certificate.issuer.rfc4514_string()!r}); both certificates are "
            "carried inside the package's CMS",
        )

    @derives(Attack.LENGTH_MISMATCH)
    def _length_mismatch(self, valid: UpdateImage) -> UpdateImage:
        located = cpio.parse(valid.data)
        victim = next(e for e in located if e.name not in (DESCRIPTION, SIGNATURE))
        size_field = victim.header_offset + 6 + 8 * 6
        claimed = victim.size + 4096
        data = valid.data[:size_field] + b"%08X" % claimed + valid.data[size_field + 8 :]
        return valid.derived(
            Attack.LENGTH_MISMATCH,
            data,
            f"cpio size field of {victim.name} says {claimed} bytes; {victim.size} follow",
        )

    def oversized(self, valid: UpdateImage) -> UpdateImage:
        """The first payload file stretched with endless filler, last in the archive."""
        description, files = self.parts(valid.version)
        victim, others = files[0], files[1:]
        signature = cms.sign(description, self.signer)
        leading = [cpio.Entry(DESCRIPTION, description), cpio.Entry(SIGNATURE, signature)]
        prefix = b"".join(
            cpio.entry(e.name, e.data, index)
            for index, e in enumerate([*leading, *_entries(others)], 1)
        )
        header_size = len(cpio.header(victim.name, 0, len(files) + 2))
        filler = max(0, self.spec.oversize - len(prefix) - header_size)
        prefix += cpio.header(victim.name, filler, len(files) + 2)
        return valid.derived(
            Attack.OVERSIZED,
            prefix,
            f"payload file {victim.name} ({len(victim.data)} bytes, digest signed) sent as "
            f"{filler} filler bytes, last in the archive: {len(prefix) + filler} bytes in all, "
            f"beyond update.max_size {self.spec.max_size}",
            filler=filler,
        )


def _entries(files: Sequence[payloads.PayloadFile]) -> list[cpio.Entry]:
    return [cpio.Entry(f.name, f.data) for f in files]


def _archive(description: bytes, signature: bytes, files: Sequence[payloads.PayloadFile]) -> bytes:
    return cpio.write(
        [cpio.Entry(DESCRIPTION, description), cpio.Entry(SIGNATURE, signature), *_entries(files)]
    )
