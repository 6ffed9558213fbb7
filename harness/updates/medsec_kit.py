"""The `medsec-v1` image kit: the emulator's format (see medsec_v1.py and the README)."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.updates import medsec_v1, payloads
from harness.updates.attacks import Attack, UpdateImage, flip_byte
from harness.updates.keys import load_ed25519_key
from harness.updates.kit import ImageKit, derives
from harness.updates.registry import register_kit
from harness.updates.versions import bump_patch


@register_kit(medsec_v1.FORMAT)
class MedsecV1Kit(ImageKit):
    """Header (JSON) + payload + Ed25519 signature over the header."""

    def _payload(self, version: str) -> bytes:
        if self.spec.payload:
            (path,) = self.spec.payload[:1]
            return payloads.load([path], version=version, hardware=self.spec.hardware)[0].data
        return payloads.synthetic(version)

    def build(
        self,
        version: str,
        *,
        hardware: str | None = None,
        model: str | None = None,
        key: Ed25519PrivateKey | None = None,
        embed_public_key: bool = False,
    ) -> UpdateImage:
        data = medsec_v1.build(
            self._payload(version),
            version=version,
            model=model or self.spec.model,
            hardware=hardware or self.spec.hardware,
            key=key or load_ed25519_key(self.spec.signing_key),
            embed_public_key=embed_public_key,
        )
        return UpdateImage(
            Attack.VALID.value, data, f"correctly signed image {version}", version=version
        )

    def regions(self, image: UpdateImage) -> dict[str, tuple[int, int]]:
        parsed = medsec_v1.parse(image.data)
        return {
            "header": (0, parsed.payload_offset),
            "payload": (parsed.payload_offset, parsed.payload_offset + len(parsed.payload)),
            "signature": (parsed.signature_offset, len(image.data)),
        }

    @derives(Attack.UNSIGNED)
    def _unsigned(self, valid: UpdateImage) -> UpdateImage:
        parsed = medsec_v1.parse(valid.data)
        data = medsec_v1.assemble(parsed.signed_region, parsed.payload, b"")
        return valid.derived(
            Attack.UNSIGNED,
            data,
            f"signature block removed (sig_len 0, {len(parsed.signature)} signature bytes dropped)",
        )

    @derives(Attack.MALFORMED_SIGNATURE)
    def _malformed_signature(self, valid: UpdateImage) -> UpdateImage:
        parsed = medsec_v1.parse(valid.data)
        noise = os.urandom(len(parsed.signature))
        data = medsec_v1.assemble(parsed.signed_region, parsed.payload, noise)
        return valid.derived(
            Attack.MALFORMED_SIGNATURE,
            data,
            f"signature replaced by {len(noise)} random bytes ({noise[:8].hex()}...)",
        )

    @derives(Attack.MIXED_SIGNATURE)
    def _mixed_signature(self, valid: UpdateImage) -> UpdateImage:
        parsed = medsec_v1.parse(valid.data)
        other_version = bump_patch(valid.version)
        other = medsec_v1.parse(self.build(other_version).data)
        data = medsec_v1.assemble(parsed.signed_region, parsed.payload, other.signature)
        return valid.derived(
            Attack.MIXED_SIGNATURE,
            data,
            f"signature taken from the validly signed image of {other_version} "
            "(trusted key, another header)",
        )

    @derives(Attack.ALTERED_PAYLOAD)
    def _altered_payload(self, valid: UpdateImage) -> UpdateImage:
        parsed = medsec_v1.parse(valid.data)
        offset = parsed.payload_offset + len(parsed.payload) // 2
        data, note = flip_byte(valid.data, offset)
        return valid.derived(
            Attack.ALTERED_PAYLOAD,
            data,
            f"{note} (payload offset {offset - parsed.payload_offset}) after signing",
        )

    @derives(Attack.ALTERED_METADATA)
    def _altered_metadata(self, valid: UpdateImage) -> UpdateImage:
        parsed = medsec_v1.parse(valid.data)
        claimed = bump_patch(valid.version)
        header = medsec_v1.ImageHeader(
            model=parsed.header.model,
            hardware=parsed.header.hardware,
            version=claimed,
            payload_size=parsed.header.payload_size,
            payload_sha256=parsed.header.payload_sha256,
        ).to_bytes()
        data = medsec_v1.assemble(medsec_v1.signed_region(header), parsed.payload, parsed.signature)
        return valid.derived(
            Attack.ALTERED_METADATA,
            data,
            f"header version {valid.version} -> {claimed} after signing (signature kept)",
            version=claimed,
        )

    @derives(Attack.UNTRUSTED_KEY)
    def _untrusted_key(self, valid: UpdateImage) -> UpdateImage:
        image = self.build(valid.version, key=Ed25519PrivateKey.generate())
        return valid.derived(
            Attack.UNTRUSTED_KEY,
            image.data,
            "signed correctly by a freshly generated Ed25519 key the device has never seen",
        )

    @derives(Attack.EMBEDDED_KEY)
    def _embedded_key(self, valid: UpdateImage) -> UpdateImage:
        key = Ed25519PrivateKey.generate()
        image = self.build(valid.version, key=key, embed_public_key=True)
        shown = medsec_v1.parse(image.data).header.signer_public_key
        return valid.derived(
            Attack.EMBEDDED_KEY,
            image.data,
            "signed by a fresh Ed25519 key whose public half the package carries in its "
            f"header (signer_public_key {shown})",
        )

    @derives(Attack.LENGTH_MISMATCH)
    def _length_mismatch(self, valid: UpdateImage) -> UpdateImage:
        parsed = medsec_v1.parse(valid.data)
        data = medsec_v1.assemble(parsed.signed_region, parsed.payload, parsed.signature, 0xFFFF)
        return valid.derived(
            Attack.LENGTH_MISMATCH,
            data,
            f"signature length field 65535 for the {len(parsed.signature)} signature bytes sent",
        )
