"""Update images as the harness sends them, and the attack kinds the UPDATE checks derive.

An `UpdateImage` is what goes over the wire: its bytes, an optional detached signature,
and, for the endless-data image, a count of filler bytes streamed after the bytes (so a
64 MiB attack never sits in memory). Each image says how it was made, for the evidence.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from harness.core.errors import NotSupported

FILLER_BLOCK = bytes(range(256)) * 256  # 64 KiB of filler, streamed as often as needed


class Attack(str, enum.Enum):
    """Every image the UPDATE checks derive from a valid one."""

    VALID = "valid"
    UNSIGNED = "unsigned"
    MALFORMED_SIGNATURE = "malformed-signature"
    MIXED_SIGNATURE = "mixed-signature"
    ALTERED_PAYLOAD = "altered-payload"
    ALTERED_METADATA = "altered-metadata"
    UNTRUSTED_KEY = "untrusted-key"
    EMBEDDED_KEY = "embedded-key"
    ROLLBACK = "rollback"
    REINSTALL = "reinstall"
    WRONG_HARDWARE = "wrong-hardware"
    WRONG_MODEL = "wrong-model"
    TRUNCATED_HEADER = "truncated-header"
    TRUNCATED_PAYLOAD = "truncated-payload"
    TRUNCATED_SIGNATURE = "truncated-signature"
    LENGTH_MISMATCH = "length-mismatch"
    OVERSIZED = "oversized"


class Unsupported(NotSupported):
    """The image format has no way to express this attack (the reason says why)."""


@dataclass(frozen=True)
class UpdateImage:
    """One image to deliver, with the record of how it was made."""

    name: str
    data: bytes
    description: str
    base_sha256: str = ""  # the valid image it was derived from ("" for a valid image)
    version: str = ""  # the version the image claims
    signature: bytes | None = None  # detached formats: sent beside the data
    filler: int = 0  # endless-data images: this many filler bytes follow `data`

    @property
    def size(self) -> int:
        return len(self.data) + self.filler

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        """The bytes to send, in pieces: `data`, then the filler."""
        for start in range(0, len(self.data), size):
            yield self.data[start : start + size]
        left = self.filler
        while left > 0:
            block = FILLER_BLOCK[: min(left, len(FILLER_BLOCK))]
            left -= len(block)
            yield block

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks(len(FILLER_BLOCK)):
            digest.update(chunk)
        return digest.hexdigest()

    def derived(
        self, attack: Attack, data: bytes, description: str, **changes: object
    ) -> UpdateImage:
        """An attack image made from this (valid) image."""
        fields: dict[str, object] = {
            "name": attack.value,
            "data": data,
            "description": description,
            "base_sha256": self.sha256,
            "version": self.version,
            "signature": self.signature,
            "filler": 0,
        }
        fields.update(changes)
        return UpdateImage(**fields)  # type: ignore[arg-type]


def flip_byte(data: bytes, offset: int) -> tuple[bytes, str]:
    """`data` with the byte at `offset` XOR 0xFF, and a note saying so."""
    changed = bytearray(data)
    changed[offset] ^= 0xFF
    return bytes(changed), f"byte {offset} XOR 0xFF: {data[offset]:#04x} -> {changed[offset]:#04x}"
