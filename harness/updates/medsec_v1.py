"""The `medsec-v1` signed firmware image: the emulator's format, documented in the README.

Layout, integers big-endian::

    magic      4 bytes   b"MSV1"
    hdr_len    4 bytes   length of the header
    header     hdr_len   UTF-8 JSON, sorted keys: format, model, hardware, version,
                         payload_size, payload_sha256, and optionally signer_public_key
    payload    payload_size bytes
    sig_len    2 bytes
    signature  sig_len   Ed25519 over magic || hdr_len || header

The signature covers the header, and the header pins the payload by size and SHA-256,
so a verifier must check both the signature and the digest (W-09 skips the digest).

`signer_public_key` (optional, base64 of the raw 32-byte Ed25519 key) names the key the
package says it was signed with. A verifier must ignore it and use the key it trusts;
W-10 verifies with it instead. Readers that predate it see one more JSON key; images
without it are byte-for-byte what they were.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FORMAT = "medsec-v1"
MAGIC = b"MSV1"
_PREFIX = struct.Struct(">4sI")
_SIG_LEN = struct.Struct(">H")
MAX_HEADER = 4096


class ImageFormatError(ValueError):
    """The bytes are not a well-formed medsec-v1 image; the message says where."""


@dataclass(frozen=True)
class ImageHeader:
    """The signed metadata of an image."""

    model: str
    hardware: str
    version: str
    payload_size: int
    payload_sha256: str
    format: str = FORMAT
    signer_public_key: str | None = None

    def to_bytes(self) -> bytes:
        fields: dict[str, object] = {
            "format": self.format,
            "hardware": self.hardware,
            "model": self.model,
            "payload_sha256": self.payload_sha256,
            "payload_size": self.payload_size,
            "version": self.version,
        }
        if self.signer_public_key is not None:
            fields["signer_public_key"] = self.signer_public_key
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Image:
    """A parsed image; offsets let attack builders change exactly one region."""

    header: ImageHeader
    signed_region: bytes
    payload: bytes
    signature: bytes
    payload_offset: int
    signature_offset: int

    def payload_digest_matches(self) -> bool:
        return hashlib.sha256(self.payload).hexdigest() == self.header.payload_sha256

    def embedded_key(self) -> Ed25519PublicKey | None:
        """The public key the package carries (None without one or if unreadable)."""
        if self.header.signer_public_key is None:
            return None
        try:
            raw = base64.b64decode(self.header.signer_public_key, validate=True)
            return Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError):
            return None

    def signature_valid(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(self.signature, self.signed_region)
        except InvalidSignature:
            return False
        return True


def build(
    payload: bytes,
    *,
    version: str,
    model: str,
    hardware: str,
    key: Ed25519PrivateKey,
    embed_public_key: bool = False,
) -> bytes:
    """A correctly signed image of `payload` (carrying the signer's key if asked)."""
    embedded = None
    if embed_public_key:
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        embedded = base64.b64encode(raw).decode()
    header = ImageHeader(
        model=model,
        hardware=hardware,
        version=version,
        payload_size=len(payload),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        signer_public_key=embedded,
    ).to_bytes()
    region = signed_region(header)
    return assemble(region, payload, key.sign(region))


def signed_region(header: bytes) -> bytes:
    """`magic || hdr_len || header`: what the signature covers."""
    return _PREFIX.pack(MAGIC, len(header)) + header


def assemble(region: bytes, payload: bytes, signature: bytes, sig_len: int | None = None) -> bytes:
    """Join the parts; `sig_len` overrides the signature length field (to contradict it)."""
    length = len(signature) if sig_len is None else sig_len
    return region + payload + _SIG_LEN.pack(length) + signature


def parse(data: bytes) -> Image:
    """Split an image into its parts, checking every length against the data."""
    if len(data) < _PREFIX.size:
        raise ImageFormatError(f"image of {len(data)} bytes is shorter than its prefix")
    magic, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise ImageFormatError(f"bad magic {magic!r}")
    if header_len > MAX_HEADER or _PREFIX.size + header_len > len(data):
        raise ImageFormatError(f"header length {header_len} overruns the image")
    header_end = _PREFIX.size + header_len
    header = _parse_header(data[_PREFIX.size : header_end])
    signature_len_at = header_end + header.payload_size
    if signature_len_at + _SIG_LEN.size > len(data):
        raise ImageFormatError(
            f"payload size {header.payload_size} overruns the image of {len(data)} bytes"
        )
    (signature_len,) = _SIG_LEN.unpack_from(data, signature_len_at)
    signature_offset = signature_len_at + _SIG_LEN.size
    if signature_offset + signature_len != len(data):
        raise ImageFormatError(
            f"signature length {signature_len} disagrees with the {len(data)} image bytes"
        )
    return Image(
        header=header,
        signed_region=data[:header_end],
        payload=data[header_end:signature_len_at],
        signature=data[signature_offset:],
        payload_offset=header_end,
        signature_offset=signature_offset,
    )


def _parse_header(raw: bytes) -> ImageHeader:
    try:
        fields = json.loads(raw)
        header = ImageHeader(
            model=str(fields["model"]),
            hardware=str(fields["hardware"]),
            version=str(fields["version"]),
            payload_size=int(fields["payload_size"]),
            payload_sha256=str(fields["payload_sha256"]),
            format=str(fields["format"]),
            signer_public_key=_optional_text(fields.get("signer_public_key")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ImageFormatError(f"unreadable header: {exc}") from None
    if header.format != FORMAT:
        raise ImageFormatError(f"header names format {header.format!r}, not {FORMAT!r}")
    if header.payload_size < 0:
        raise ImageFormatError("negative payload size")
    return header


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)
