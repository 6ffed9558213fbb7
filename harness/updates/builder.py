"""Building the valid signed image every UPDATE check starts from."""

from __future__ import annotations

import hashlib

from harness.evidence import load_signing_key
from harness.profile import Profile
from harness.updates import medsec_v1

SYNTHETIC_SIZE = 64 * 1024


def synthetic_payload(version: str) -> bytes:
    """Deterministic stand-in firmware: the same version always gives the same bytes."""
    seed = f"medsec-harness synthetic firmware {version}".encode()
    blocks = (
        hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        for counter in range(SYNTHETIC_SIZE // 32)
    )
    return seed + b"\n" + b"".join(blocks)


def valid_image(profile: Profile, version: str) -> bytes:
    """A correctly signed image of `version` for the profiled device."""
    update = profile.update
    if update is None:
        raise LookupError("the profile has no update section")
    hardware = update.hardware or profile.device.hardware
    if hardware is None:
        raise LookupError("set update.hardware (or device.hardware) to build images")
    payload = update.payload.read_bytes() if update.payload else synthetic_payload(version)
    key = load_signing_key(update.signing_key)
    return medsec_v1.build(
        payload, version=version, model=profile.device.model, hardware=hardware, key=key
    )
