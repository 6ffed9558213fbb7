"""Attack images derived from a valid one: each changes one thing and says what."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from harness.updates import medsec_v1


@dataclass(frozen=True)
class AttackImage:
    """An image a correct device must refuse, with the record of how it was made."""

    name: str
    data: bytes
    description: str
    base_sha256: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def altered_payload(valid_image: bytes) -> AttackImage:
    """The valid image with one payload byte flipped after signing (UPDATE-002)."""
    image = medsec_v1.parse(valid_image)
    if not image.payload:
        raise ValueError("the image has no payload to alter")
    offset = image.payload_offset + len(image.payload) // 2
    altered = bytearray(valid_image)
    altered[offset] ^= 0xFF
    return AttackImage(
        name="altered-payload",
        data=bytes(altered),
        description=(
            f"byte {offset} (payload offset {offset - image.payload_offset}) XOR 0xFF "
            f"after signing: {valid_image[offset]:#04x} -> {altered[offset]:#04x}"
        ),
        base_sha256=hashlib.sha256(valid_image).hexdigest(),
    )
