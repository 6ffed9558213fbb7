"""UPDATE: the update channel refuses what it must and accepts what it should."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest

from harness.errors import DeviceTimeout
from harness.evidence import EvidenceRecorder
from harness.probes.update import UpdateVerdict, send_image
from harness.profile import Profile
from harness.updates import attacks, builder
from harness.updates.attacks import AttackImage
from harness.updates.delivery import HttpsChannel
from harness.updates.versions import newer_than

CONCLUSIVE = "conclusive where UPDATE-001 (positive control) passes in the same run"


def _record_trial(evidence: EvidenceRecorder, image: AttackImage, trial: Any) -> None:
    evidence.binary(f"{image.name}.img", image.data, f"image sent ({image.sha256})")
    evidence.json("trial.json", asdict(trial), "what was sent and what the device did", show=True)
    evidence.note(f"image {image.name}: {image.description}")
    evidence.note(f"sha256 {image.sha256} (derived from valid image {image.base_sha256})")
    evidence.note(trial.summary())
    evidence.note(f"device reply: {trial.reply.body.strip()[:300]}")


@pytest.mark.check("UPDATE-002")
def test_altered_payload_refused(
    update_channel: HttpsChannel,
    profile: Profile,
    evidence: EvidenceRecorder,
    observe: Callable[[str, Any], None],
) -> None:
    assert profile.update is not None
    transcript = evidence.new_transcript("update", f"update channel {profile.update.url}")
    running = update_channel.read_version(transcript)
    observe("firmware_version", running)
    valid = builder.valid_image(profile, newer_than(running, profile.update.next_version))
    image = attacks.altered_payload(valid)
    trial = send_image(update_channel, image, running, transcript)
    _record_trial(evidence, image, trial)
    assert trial.verdict is UpdateVerdict.REFUSED, (
        f"image with its payload altered after signing was {trial.verdict.value}: "
        f"HTTP {trial.reply.status}, version {trial.version_before} -> {trial.version_after}"
    )
    evidence.reason = (
        f"refused with HTTP {trial.reply.status}; version stayed {trial.version_after}"
        f" ({CONCLUSIVE})"
    )


@pytest.mark.check("UPDATE-001")
def test_valid_signed_image_accepted(
    update_channel: HttpsChannel, profile: Profile, evidence: EvidenceRecorder
) -> None:
    assert profile.update is not None
    transcript = evidence.new_transcript("update", f"update channel {profile.update.url}")
    running = update_channel.read_version(transcript)
    version = newer_than(running, profile.update.next_version)
    data = builder.valid_image(profile, version)
    image = AttackImage("valid", data, f"correctly signed image of version {version}", "")
    evidence.binary("valid.img", data, f"valid image ({image.sha256})")
    reply = update_channel.deliver(data, transcript)
    evidence.note(f"image of version {version}: HTTP {reply.status}: {reply.body.strip()[:300]}")
    assert reply.claims_accepted, f"the valid image was refused: HTTP {reply.status}"
    waited = _wait_for_version(update_channel, version, profile.policy.update_timeout_s, transcript)
    evidence.note(f"device reports {version} after {waited:.1f}s")
    evidence.reason = f"version {running} -> {version} in {waited:.1f}s"


def _wait_for_version(
    channel: HttpsChannel, wanted: str, budget_s: float, transcript: Any
) -> float:
    started = time.monotonic()
    seen = ""
    while time.monotonic() - started < budget_s:
        try:
            seen = channel.read_version(transcript)
        except DeviceTimeout:
            seen = "(no answer)"
        if seen == wanted:
            return time.monotonic() - started
        time.sleep(min(2.0, budget_s / 10))
    raise AssertionError(f"the device still reports {seen} after {budget_s:.0f}s, not {wanted}")
