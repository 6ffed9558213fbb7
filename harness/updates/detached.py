"""The `detached` image kit: any file plus a raw detached signature, for vendor formats.

The signature is made with the profile's signing key over the whole file: Ed25519 as is,
ECDSA with SHA-256 (DER), RSA with PSS (MGF1-SHA-256, salt as long as the digest). The
file is `update.payload` (a `.in` text template gets `{version}` and `{hardware}`), or a
synthetic stand-in naming the version and hardware revision.
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from harness.updates import payloads
from harness.updates.attacks import Attack, Unsupported, UpdateImage, flip_byte
from harness.updates.keys import PrivateKey, load_private_key
from harness.updates.kit import ImageKit, derives
from harness.updates.registry import register_kit
from harness.updates.versions import bump_patch

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def sign(data: bytes, key: PrivateKey) -> bytes:
    """The raw detached signature of `data` (see the module docstring for the schemes)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, _PSS, hashes.SHA256())


def verify(data: bytes, signature: bytes, key: PublicKey) -> bool:
    """Whether `signature` is a valid detached signature of `data` by `key`."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, data, _PSS, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def fresh_key_like(key: PrivateKey) -> PrivateKey:
    """A new key of the same kind and size."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return ed25519.Ed25519PrivateKey.generate()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ec.generate_private_key(key.curve)
    return rsa.generate_private_key(public_exponent=65537, key_size=key.key_size)


@register_kit("detached")
class DetachedKit(ImageKit):
    """The file is the image; the signature travels beside it."""

    carries_model = False

    def _file(self, version: str, hardware: str) -> bytes:
        if not self.spec.payload:
            return payloads.synthetic(version, hardware)
        path = self.spec.payload[0]
        if not path.name.endswith(payloads.TEMPLATE_SUFFIX):
            raise Unsupported(
                f"update.payload {path.name} is a fixed file: images of other versions or "
                "hardware need a .in template"
            )
        return payloads.load([path], version=version, hardware=hardware)[0].data

    def build(
        self,
        version: str,
        *,
        hardware: str | None = None,
        model: str | None = None,
        key: PrivateKey | None = None,
    ) -> UpdateImage:
        if model is not None:
            raise Unsupported("a detached image does not name the device model")
        data = self._file(version, hardware or self.spec.hardware)
        signature = sign(data, key or load_private_key(self.spec.signing_key))
        return UpdateImage(
            Attack.VALID.value,
            data,
            f"correctly signed file {version}",
            version=version,
            signature=signature,
        )

    def regions(self, image: UpdateImage) -> dict[str, tuple[int, int]]:
        return {"payload": (0, len(image.data))}

    def truncated(self, valid: UpdateImage, attack: Attack) -> UpdateImage:
        if attack is not Attack.TRUNCATED_SIGNATURE:
            return super().truncated(valid, attack)
        signature = valid.signature or b""
        cut = signature[: len(signature) // 2]
        return valid.derived(
            attack,
            valid.data,
            f"signature cut to {len(cut)} of {len(signature)} bytes",
            signature=cut,
        )

    @derives(Attack.UNSIGNED)
    def _unsigned(self, valid: UpdateImage) -> UpdateImage:
        return valid.derived(Attack.UNSIGNED, valid.data, "no signature sent", signature=None)

    @derives(Attack.MALFORMED_SIGNATURE)
    def _malformed_signature(self, valid: UpdateImage) -> UpdateImage:
        noise = os.urandom(len(valid.signature or b""))
        return valid.derived(
            Attack.MALFORMED_SIGNATURE,
            valid.data,
            f"signature replaced by {len(noise)} random bytes ({noise[:8].hex()}...)",
            signature=noise,
        )

    @derives(Attack.MIXED_SIGNATURE)
    def _mixed_signature(self, valid: UpdateImage) -> UpdateImage:
        other_version = bump_patch(valid.version)
        other = self.build(other_version)
        if other.data == valid.data:
            raise Unsupported("the payload does not change with the version")
        return valid.derived(
            Attack.MIXED_SIGNATURE,
            valid.data,
            f"signature of the validly signed file of {other_version}",
            signature=other.signature,
        )

    @derives(Attack.ALTERED_PAYLOAD)
    def _altered_payload(self, valid: UpdateImage) -> UpdateImage:
        data, note = flip_byte(valid.data, len(valid.data) // 2)
        return valid.derived(Attack.ALTERED_PAYLOAD, data, f"{note} after signing")

    @derives(Attack.UNTRUSTED_KEY)
    def _untrusted_key(self, valid: UpdateImage) -> UpdateImage:
        key = fresh_key_like(load_private_key(self.spec.signing_key))
        return valid.derived(
            Attack.UNTRUSTED_KEY,
            valid.data,
            f"signed correctly by a freshly generated {_kind(key)} key the device has never seen",
            signature=sign(valid.data, key),
        )


def _kind(key: Any) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"ECDSA {key.curve.name}"
    return f"RSA-{key.key_size}"
