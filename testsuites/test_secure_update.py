"""UPDATE: the update channel refuses what it must and accepts what it should.

Negative checks run first and the positive control (UPDATE-001) after them, so a device
is attacked at the version it was profiled with. Every negative image is a newer build
of the same firmware that differs from a valid one in exactly the defect under test.
Every check that delivers an image ends with the liveness confirmation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.config.profile import Profile
from harness.core.errors import inconclusive, not_applicable
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.probes.update import cleartext
from harness.probes.update.delivery import AuthMode
from harness.probes.update.target import UpdateTarget
from harness.probes.update.trial import UpdateLedger, UpdateOutcome, UpdateTrial, wait_for_version
from harness.updates.attacks import Attack
from harness.updates.kit import ImageKit
from harness.updates.versions import newer_than, older_than
from testsuites._update_steps import UpdateSteps, dead_services

CONCLUSIVE = "conclusive where UPDATE-001 (positive control) passes in the same run"


@pytest.fixture
def steps(
    update_target: UpdateTarget,
    update_kit: ImageKit,
    profile: Profile,
    scope: Scope,
    evidence: EvidenceRecorder,
    update_ledger: UpdateLedger,
    observe: Callable[[str, Any], None],
) -> UpdateSteps:
    transcript = evidence.new_transcript(
        "update", f"update channel: {update_target.channel.description}"
    )
    return UpdateSteps(
        update_target,
        update_kit,
        profile,
        scope,
        evidence,
        update_ledger,
        observe,
        transcript,
        evidence.check_id,
    )


def _next(steps: UpdateSteps, running: str) -> str:
    assert steps.profile.update is not None
    return newer_than(running, steps.profile.update.next_version)


def _assert_refused(steps: UpdateSteps, trials: list[UpdateTrial], what: str) -> None:
    problems = [t.problem() for t in trials if t.problem()]
    alive = steps.liveness()
    assert not problems, f"{what} not refused: " + "; ".join(problems)
    assert alive.alive, f"{what} refused, but the device did not survive: {dead_services(alive)}"
    versions = {t.version_after for t in trials}
    steps.evidence.reason = (
        f"{len(trials)} image(s) refused ({', '.join(t.image_name for t in trials)}); "
        "version stayed "
        f"{', '.join(sorted(v for v in versions if v))}; every service answered ({CONCLUSIVE})"
    )


def _refusal_check(steps: UpdateSteps, attacks: tuple[Attack, ...], what: str) -> None:
    running = steps.running()
    images = steps.images(attacks, _next(steps, running))
    _assert_refused(steps, steps.send_all(images, running), what)


@pytest.mark.check("UPDATE-002")
def test_altered_image_refused(steps: UpdateSteps) -> None:
    _refusal_check(
        steps, (Attack.ALTERED_PAYLOAD, Attack.ALTERED_METADATA), "image altered after signing"
    )


@pytest.mark.check("UPDATE-003")
def test_missing_or_malformed_signature_refused(steps: UpdateSteps) -> None:
    attacks = (Attack.UNSIGNED, Attack.MALFORMED_SIGNATURE, Attack.MIXED_SIGNATURE)
    _refusal_check(steps, attacks, "image without a valid signature of its own")


@pytest.mark.check("UPDATE-004")
def test_untrusted_signing_key_refused(steps: UpdateSteps) -> None:
    _refusal_check(
        steps, (Attack.UNTRUSTED_KEY, Attack.EMBEDDED_KEY), "image signed by an untrusted key"
    )


@pytest.mark.check("UPDATE-005")
def test_rollback_refused(steps: UpdateSteps, profile: Profile) -> None:
    assert profile.update is not None
    running = steps.running()
    older = older_than(running, profile.update.rollback_version)
    (rollback,) = steps.images((Attack.ROLLBACK,), older)
    trials = [steps.send(rollback, running)]
    (reinstall,) = steps.images((Attack.REINSTALL,), trials[0].version_after or running)
    same = steps.send(reinstall, trials[0].version_after or running)
    allowed = profile.policy.allow_reinstall
    reinstall_ok = same.refused_cleanly or (
        allowed
        and same.outcome in (UpdateOutcome.CLAIMED, UpdateOutcome.INSTALLED)
        and not same.went_away
    )
    steps.evidence.note(
        f"reinstall of the running version: {same.outcome.value}; "
        f"policy.allow_reinstall is {allowed}"
    )
    problems = [p for p in (trials[0].problem(), "" if reinstall_ok else same.problem()) if p]
    alive = steps.liveness()
    assert not problems, "rollback protection missing: " + "; ".join(problems)
    assert alive.alive, f"rollback refused, but the device did not survive: {dead_services(alive)}"
    steps.evidence.reason = (
        f"version {older} refused while running {running}; reinstall of the running version "
        f"{same.outcome.value} (allowed: {allowed}) ({CONCLUSIVE})"
    )


@pytest.mark.check("UPDATE-007")
def test_image_for_other_hardware_refused(steps: UpdateSteps) -> None:
    _refusal_check(steps, (Attack.WRONG_HARDWARE, Attack.WRONG_MODEL), "image for another device")


@pytest.mark.check("UPDATE-008")
def test_update_channel_requires_authentication(steps: UpdateSteps) -> None:
    running = steps.running()
    (image,) = steps.images((Attack.REINSTALL,), running)
    trials = [steps.send(image, running, auth=mode) for mode in (AuthMode.NONE, AuthMode.WRONG)]
    alive = steps.liveness()
    # No answer at all (no connection, closed unanswered) and nothing installed: whether
    # the channel would have asked for credentials is unknown.
    unanswered = [
        t for t in trials if t.reply.status is None and t.outcome is UpdateOutcome.NO_VERDICT
    ]
    let_in = [
        f"{t.credentials}: {t.reply.summary()}"
        for t in trials
        if not t.reply.auth_refused and t not in unanswered
    ]
    changed = [t.problem() for t in trials if t.outcome is UpdateOutcome.INSTALLED]
    assert not let_in, (
        "the update channel took an image without valid credentials (it was not refused before "
        "the image was stored): " + "; ".join(let_in)
    )
    assert not changed, "; ".join(changed)
    assert alive.alive, f"the device did not survive: {dead_services(alive)}"
    if unanswered:
        inconclusive(
            steps.target.channel.description,
            "no answer to the upload, so no telling whether it needs credentials: "
            + "; ".join(f"{t.credentials}: {t.reply.summary()}" for t in unanswered),
        )
    steps.evidence.reason = (
        "uploads without and with wrong credentials refused before the image was taken"
    )


@pytest.mark.check("UPDATE-009")
def test_update_channel_encrypted(steps: UpdateSteps, profile: Profile, scope: Scope) -> None:
    update = profile.update
    assert update is not None
    if update.channel == "serial":
        not_applicable("a serial update channel has no network encryption to judge")
    if update.channel == "ssh":
        steps.evidence.reason = (
            "images travel over SSH (SFTP); its algorithms are CRYPTO-008's to judge"
        )
        return
    assert update.url is not None
    found = cleartext.channel_encryption(
        scope,
        update.url,
        update.channel,
        timeout=profile.policy.timeout_s,
        transcript=steps.transcript,
    )
    for endpoint in found.endpoints:
        steps.evidence.note(endpoint.note)
    assert found.https, f"update.url {update.url} is not https"
    assert not found.cleartext, "a cleartext endpoint answers update uploads: " + "; ".join(
        endpoint.note for endpoint in found.cleartext
    )
    steps.evidence.reason = (
        f"{update.url} is https; no cleartext HTTP endpoint answered on its port or port 80"
    )


@pytest.mark.check("UPDATE-006")
def test_truncated_or_oversized_image_refused(steps: UpdateSteps) -> None:
    attacks = (
        Attack.TRUNCATED_HEADER,
        Attack.TRUNCATED_PAYLOAD,
        Attack.TRUNCATED_SIGNATURE,
        Attack.LENGTH_MISMATCH,
        Attack.OVERSIZED,
    )
    _refusal_check(steps, attacks, "truncated or oversized image")


@pytest.mark.check("UPDATE-001")
def test_valid_signed_image_accepted(
    steps: UpdateSteps, profile: Profile, update_ledger: UpdateLedger
) -> None:
    running = steps.running()
    version = _next(steps, running)
    (image,) = steps.images((Attack.VALID,), version)
    trial = steps.send(image, running)
    assert trial.outcome is not UpdateOutcome.GONE, trial.problem()
    assert trial.reply.accepted is not False, (
        f"the valid image was refused: {trial.reply.summary()}"
    )
    seen, waited = wait_for_version(
        steps.target.reader, version, profile.policy.update_timeout_s, steps.transcript
    )
    steps.ledger.saw(seen, "UPDATE-001")
    alive = steps.liveness()
    assert seen == version, (
        f"the device reports {seen or '(nothing)'} {waited:.0f}s after accepting the image "
        f"of {version}"
        + (" (it answered yes but did not change version)" if trial.reply.accepted else "")
    )
    assert alive.alive, (
        f"the update installed, but the device did not survive: {dead_services(alive)}"
    )
    update_ledger.installed_by_positive_control = version
    steps.evidence.reason = (
        f"version {running} -> {version} in {trial.reply.elapsed_s + waited:.1f}s"
    )


@pytest.mark.check("UPDATE-010")
def test_device_reports_its_version(
    steps: UpdateSteps, profile: Profile, update_ledger: UpdateLedger
) -> None:
    readers = steps.target.readers
    found: dict[str, str] = {}
    for name, reader in readers.items():
        found[name] = reader.read(steps.transcript)
        steps.evidence.note(f"{name}: {found[name]} ({reader.description})")
    steps.evidence.json("versions.json", found, "version per interface", show=True)
    initial = update_ledger.initial or next(iter(found.values()))
    expected = update_ledger.last_seen or initial
    assert initial == profile.device.firmware, (
        f"the device first reported {initial}, the profile says firmware {profile.device.firmware}"
    )
    wrong = {n: v for n, v in found.items() if v != expected}
    assert not wrong, f"interfaces disagree with the expected {expected}: {wrong}"
    steps.evidence.reason = (
        f"before: {initial} = device.firmware; now {expected} on {', '.join(found)}"
        + (
            f" (UPDATE-001 installed {update_ledger.installed_by_positive_control})"
            if update_ledger.installed_by_positive_control
            else ""
        )
    )


@pytest.mark.check("UPDATE-011")
def test_interrupted_update_leaves_a_working_device(steps: UpdateSteps, profile: Profile) -> None:
    running = steps.running()
    version = _next(steps, running)
    (image,) = steps.images((Attack.VALID,), version)
    cut = steps.send(image, running, cut_at=image.size // 2)
    alive = steps.liveness()
    assert cut.outcome is not UpdateOutcome.GONE, cut.problem()
    assert cut.version_after == running, (
        f"after a transfer cut at {image.size // 2} of {image.size} bytes the device reports "
        f"{cut.version_after}, not {running}"
    )
    assert alive.alive, f"after the cut transfer the device did not survive: {dead_services(alive)}"
    retry = steps.send(image, running)
    seen, _ = wait_for_version(
        steps.target.reader, version, profile.policy.update_timeout_s, steps.transcript
    )
    steps.ledger.saw(seen, "UPDATE-011")
    assert seen == version, (
        f"the complete retry was not installed: {retry.reply.summary()}, version {seen}"
    )
    steps.evidence.reason = (
        f"cut at {image.size // 2} of {image.size} bytes: still {running}, every service answered; "
        f"the complete retry installed {version}"
    )
