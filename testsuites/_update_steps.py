"""Steps every UPDATE check shares: read the version, derive images, deliver, record, liveness.

Kept out of the check module so each check reads as: which images, which verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.config.profile import Profile
from harness.core.errors import inconclusive, not_applicable
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.evidence.recorder import EvidenceRecorder
from harness.probes import liveness
from harness.probes.update.delivery import AuthMode
from harness.probes.update.target import UpdateTarget
from harness.probes.update.trial import UpdateLedger, UpdateTrial, send_image
from harness.updates.attacks import Attack, Unsupported, UpdateImage
from harness.updates.kit import ImageKit

IMAGE_EVIDENCE_LIMIT = 4 * 1024 * 1024  # bytes of one image kept as evidence


@dataclass
class UpdateSteps:
    """One UPDATE check's view of the device, its images and its evidence."""

    target: UpdateTarget
    kit: ImageKit
    profile: Profile
    scope: Scope
    evidence: EvidenceRecorder
    ledger: UpdateLedger
    observe: Callable[[str, Any], None]
    transcript: Transcript
    check_id: str
    sent: list[UpdateTrial] = field(default_factory=list)  # this check's trials so far

    def running(self) -> str:
        """The running version, as the profiled reader reports it."""
        version = self.target.reader.read(self.transcript)
        if self.ledger.initial is None:
            self.observe("firmware_version", version)
        self.ledger.saw(version, self.check_id)
        self.evidence.note(f"running version before: {version} ({self.target.reader.description})")
        return version

    def images(self, attacks: Iterable[Attack], version: str) -> list[UpdateImage]:
        """The attack images of `version`; attacks the format cannot express are noted."""
        built = []
        for attack in attacks:
            try:
                built.append(self.kit.derive(attack, version))
            except Unsupported as exc:
                self.evidence.note(f"{attack.value}: not sent, {exc}")
        if not built:
            not_applicable(f"the {self.kit.format} format cannot express these images")
        return built

    def send(
        self,
        image: UpdateImage,
        before: str,
        *,
        auth: AuthMode = AuthMode.PROFILE,
        cut_at: int | None = None,
    ) -> UpdateTrial:
        """Deliver one image, read the version back, record everything."""
        trial = send_image(
            self.target.channel,
            self.target.reader,
            image,
            before,
            self.transcript,
            reboot_timeout_s=self.target.reboot_timeout_s,
            auth=auth,
            cut_at=cut_at,
        )
        self.ledger.saw(trial.version_after, self.check_id)
        self.record(image, trial)
        if not trial.reply.delivered and not any(t.problem() for t in self.sent):
            # Nothing to judge; after an image the device did not survive, the check
            # goes on to fail on that one instead.
            inconclusive(
                self.target.channel.description,
                f"{trial.image_name} was never delivered ({trial.reply.lost}): what the "
                "device would do with it is unknown",
            )
        self.sent.append(trial)
        return trial

    def send_all(self, images: Iterable[UpdateImage], before: str) -> list[UpdateTrial]:
        trials = []
        for image in images:
            trial = self.send(image, before)
            trials.append(trial)
            before = trial.version_after or before
        return trials

    def record(self, image: UpdateImage, trial: UpdateTrial) -> None:
        label = f"{trial.image_name}-{trial.credentials.split()[0]}"
        if image.data and len(image.data) <= IMAGE_EVIDENCE_LIMIT:
            shown = (
                ""
                if not image.filler
                else f" (first {len(image.data)} bytes; {image.filler} filler bytes follow)"
            )
            self.evidence.binary(f"{label}.img", image.data, f"image {image.name}{shown}")
        if image.signature is not None:
            self.evidence.binary(
                f"{label}.sig", image.signature, f"detached signature of {image.name}"
            )
        self.evidence.json(
            f"{label}.json", asdict(trial), f"trial {label}: what was sent and what the device did"
        )
        self.evidence.note(f"image {image.name}: {image.description}")
        self.evidence.note(
            f"  sha256 {image.sha256}"
            + (f" (from valid image {image.base_sha256})" if image.base_sha256 else "")
        )
        self.evidence.note(f"  {trial.summary()}")
        reply = trial.reply
        if reply.body.strip():
            self.evidence.note(f"  device reply: {reply.body.strip()[:300]}")
        for message in reply.verdict_messages:
            self.evidence.note(f"  device message: {message[:300]}")

    def liveness(self) -> liveness.Liveness:
        """Every service and the console, probed after the deliveries; recorded."""
        transcript = self.evidence.new_transcript("liveness", "liveness after the update check")
        alive = liveness.confirm(self.profile, self.scope, transcript)
        self.evidence.json("liveness.json", asdict(alive), "liveness after the deliveries")
        self.evidence.note(alive.summary())
        return alive


def dead_services(alive: liveness.Liveness) -> str:
    return "; ".join(f"{a.name}: {a.detail}" for a in alive.dead)
