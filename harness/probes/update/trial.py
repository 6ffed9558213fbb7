"""Sending one image, and deciding from the device's verdict and its version what happened.

The device's verdict (its reply, its progress messages, the install command's status)
and the version it runs afterwards are kept apart, so a device that reboots during an
update, one that never answers again, and one that says yes but keeps its version are
each told apart:

- `refused`: the device said no and still runs the version it ran before;
- `installed`: the running version changed;
- `claimed`: the device said yes, yet the version did not change;
- `no verdict`: the device gave no verdict (no answer, connection closed), version unchanged;
- `gone`: the device did not answer its version within `update.reboot_timeout_s`.

`went_away` records that the version could not be read right after the delivery (a
reboot, or a crash it recovered from), with how long the device took to come back.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.core.errors import DeviceError, NotConnected, inconclusive
from harness.core.transcript import Transcript
from harness.probes.update.delivery import AuthMode, DeliveryReply, UpdateChannel
from harness.probes.update.version_readers import VersionReader
from harness.updates.attacks import UpdateImage

POLL_S = 1.0


class UpdateOutcome(str, enum.Enum):
    REFUSED = "refused"
    INSTALLED = "installed"
    CLAIMED = "claimed"
    NO_VERDICT = "no verdict"
    GONE = "gone"


@dataclass(frozen=True)
class VersionAfter:
    """The version read after a delivery, and whether the device was away first."""

    version: str | None  # None: it never answered within the wait
    went_away: bool
    back_after_s: float | None
    error: str = ""


@dataclass(frozen=True)
class UpdateTrial:
    """One image delivered, with the device's own words and versions around it."""

    image_name: str
    image_sha256: str
    image_description: str
    image_size: int
    image_version: str
    credentials: str
    version_before: str
    version_after: str | None
    reply: DeliveryReply
    outcome: UpdateOutcome
    went_away: bool
    back_after_s: float | None

    @property
    def refused_cleanly(self) -> bool:
        """Refused, old version still running, and the device never went away."""
        return self.outcome is UpdateOutcome.REFUSED and not self.went_away

    def summary(self) -> str:
        away = ""
        if self.went_away:
            away = (
                f"; the device went away and came back after {self.back_after_s:.1f}s"
                if self.back_after_s is not None
                else "; the device went away and did not come back"
            )
        return (
            f"{self.image_name} ({self.image_size} bytes, {self.credentials}): "
            f"{self.reply.summary()}; version {self.version_before} -> "
            f"{self.version_after or '(no answer)'}: {self.outcome.value}{away}"
        )

    def problem(self) -> str:
        """Why this trial is not a clean refusal, in one line ("" if it is)."""
        if self.refused_cleanly:
            return ""
        said = self.reply.summary()
        if self.outcome is UpdateOutcome.GONE:
            return f"{self.image_name}: the device stopped answering after the delivery ({said})"
        if self.outcome is UpdateOutcome.INSTALLED:
            return (
                f"{self.image_name}: installed, version {self.version_before} -> "
                f"{self.version_after}"
            )
        if self.outcome is UpdateOutcome.CLAIMED:
            return f"{self.image_name}: the device accepted it ({said}), version unchanged"
        if self.outcome is UpdateOutcome.NO_VERDICT:
            return f"{self.image_name}: no verdict from the device ({said}), version unchanged"
        return (
            f"{self.image_name}: refused, but the device went away and came back after "
            f"{self.back_after_s:.1f}s"
        )


@dataclass
class UpdateLedger:
    """What the update checks of one run saw: the first version, and every change."""

    initial: str | None = None
    last_seen: str | None = None
    installed_by_positive_control: str | None = None
    changes: list[str] = field(default_factory=list)
    on_version: Callable[[str, str], None] | None = None  # told every version read, and by whom

    def saw(self, version: str | None, by: str) -> None:
        if version is None:
            return
        if self.on_version is not None:
            self.on_version(version, by)
        if self.initial is None:
            self.initial = version
        if self.last_seen is not None and version != self.last_seen:
            self.changes.append(f"{by}: {self.last_seen} -> {version}")
        self.last_seen = version


def read_after(reader: VersionReader, transcript: Transcript, wait_s: float) -> VersionAfter:
    """The version right after a delivery, waiting up to `wait_s` for a device that went away."""
    try:
        return VersionAfter(reader.read(transcript), False, None)
    except DeviceError as exc:
        transcript.event(
            f"version not readable after the delivery ({exc}); waiting up to {wait_s:.0f}s"
        )
        first_error = str(exc)
    started = time.monotonic()
    while time.monotonic() - started < wait_s:
        time.sleep(min(POLL_S, max(0.0, wait_s - (time.monotonic() - started))))
        try:
            version = reader.read(transcript)
        except DeviceError:
            continue
        return VersionAfter(version, True, time.monotonic() - started)
    return VersionAfter(None, True, None, first_error)


def classify(reply: DeliveryReply, before: str, after: str | None) -> UpdateOutcome:
    """The outcome of one delivery from the verdict and the versions."""
    if after is None:
        return UpdateOutcome.GONE
    if after != before:
        return UpdateOutcome.INSTALLED
    if reply.accepted is True:
        return UpdateOutcome.CLAIMED
    if reply.accepted is False:
        return UpdateOutcome.REFUSED
    return UpdateOutcome.NO_VERDICT


def send_image(
    channel: UpdateChannel,
    reader: VersionReader,
    image: UpdateImage,
    before: str,
    transcript: Transcript,
    *,
    reboot_timeout_s: float,
    auth: AuthMode = AuthMode.PROFILE,
    cut_at: int | None = None,
) -> UpdateTrial:
    """Deliver `image` to a device running `before`, then read the version again."""
    transcript.event(
        f"--- image {image.name} ({image.size} bytes, sha256 {image.sha256}), {auth.value}"
    )
    try:
        reply = channel.deliver(image, transcript, auth=auth, cut_at=cut_at)
    except NotConnected as exc:
        reply = DeliveryReply(None, None, "", lost=f"not delivered: {exc}", delivered=False)
    except DeviceError as exc:
        reply = DeliveryReply(None, None, "", lost=f"delivery failed: {exc}")
    if auth is AuthMode.PROFILE and reply.login_refused:
        # Every image would be "refused" by a device that refuses the login itself.
        inconclusive(
            channel.description,
            f"the profiled credentials were refused ({reply.summary()}): "
            f"what the device did with {image.name} proves nothing",
        )
    after = read_after(reader, transcript, reboot_timeout_s)
    return UpdateTrial(
        image_name=image.name,
        image_sha256=image.sha256,
        image_description=image.description,
        image_size=image.size,
        image_version=image.version,
        credentials=auth.value,
        version_before=before,
        version_after=after.version,
        reply=reply,
        outcome=classify(reply, before, after.version),
        went_away=after.went_away,
        back_after_s=after.back_after_s,
    )


def wait_for_version(
    reader: VersionReader, wanted: str, budget_s: float, transcript: Transcript
) -> tuple[str | None, float]:
    """Poll until the device reports `wanted` or `budget_s` passes: (last seen, seconds)."""
    started = time.monotonic()
    seen: str | None = None
    while True:
        try:
            seen = reader.read(transcript)
        except DeviceError as exc:
            transcript.event(f"version not readable: {exc}")
            seen = None
        waited = time.monotonic() - started
        if seen == wanted or waited >= budget_s:
            return seen, waited
        time.sleep(min(POLL_S, max(0.0, budget_s - waited)))
