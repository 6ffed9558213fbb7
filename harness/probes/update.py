"""Sending one image and deciding, from the reply and the version read back, what happened."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from harness.transcript import Transcript
from harness.updates.attacks import AttackImage
from harness.updates.delivery import DeliveryReply


class UpdateChannel(Protocol):
    def deliver(self, image: bytes, transcript: Transcript) -> DeliveryReply: ...

    def read_version(self, transcript: Transcript) -> str: ...


class UpdateVerdict(str, enum.Enum):
    REFUSED = "refused"  # error reply and the version did not change
    INSTALLED = "installed"  # the running version changed
    CLAIMED = "claimed"  # success reply, yet the version did not change


@dataclass(frozen=True)
class UpdateTrial:
    """One image delivered, with the device's own words and versions around it."""

    image_name: str
    image_sha256: str
    image_description: str
    image_size: int
    version_before: str
    version_after: str
    reply: DeliveryReply
    verdict: UpdateVerdict

    def summary(self) -> str:
        return (
            f"{self.image_name} ({self.image_size} bytes): HTTP {self.reply.status}, "
            f"version {self.version_before} -> {self.version_after}: {self.verdict.value}"
        )


def send_image(
    channel: UpdateChannel, image: AttackImage, before: str, transcript: Transcript
) -> UpdateTrial:
    """Deliver `image` to a device running version `before`, then read the version again."""
    reply = channel.deliver(image.data, transcript)
    after = channel.read_version(transcript)
    if after != before:
        verdict = UpdateVerdict.INSTALLED
    elif reply.claims_accepted:
        verdict = UpdateVerdict.CLAIMED
    else:
        verdict = UpdateVerdict.REFUSED
    return UpdateTrial(
        image_name=image.name,
        image_sha256=image.sha256,
        image_description=image.description,
        image_size=len(image.data),
        version_before=before,
        version_after=after,
        reply=reply,
        verdict=verdict,
    )
