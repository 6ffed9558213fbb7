"""AUTH: authentication and authorization on every interface the profile names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest

from harness.deadline import Deadline
from harness.evidence import EvidenceRecorder
from harness.fixtures import SshEndpoint
from harness.plugin import not_applicable
from harness.probes import credentials
from harness.probes.console import ConsolePrompts
from harness.profile import Policy
from harness.scope import Scope
from harness.transports.serial import Console


def _pairs(policy: Policy, profiled: list[credentials.Pair]) -> list[credentials.Pair]:
    per_account = policy.lockout_after_failures - 1
    if per_account < 1:
        not_applicable("lockout_after_failures is 1: any wrong attempt would lock the account")
    return credentials.candidate_pairs(profiled, per_account)


def _judge(evidence: EvidenceRecorder, trial: credentials.Trial, where: str) -> None:
    """Record every attempt; fail on an accepted pair, error if the trial was cut short."""
    _record(evidence, trial)
    accepted = [a.username + " / " + a.password_shown for a in trial.accepted]
    assert not accepted, f"{where} accepted default credentials: {', '.join(accepted)}"
    if trial.error is not None:
        raise trial.error
    evidence.reason = f"all {len(trial.attempts)} default pairs refused by {where}"


def _record(evidence: EvidenceRecorder, trial: credentials.Trial) -> None:
    evidence.json("attempts.json", [asdict(a) for a in trial.attempts], "every attempt", show=True)
    for a in trial.attempts:
        verdict = "ACCEPTED" if a.accepted else "refused"
        evidence.note(
            f"{a.interface:6} {a.username} / {a.password_shown:9} {verdict:8} "
            f"{a.latency_s:6.3f}s  {a.detail} [{a.source}]"
        )


@pytest.mark.check("AUTH-001")
def test_default_credentials_refused_over_ssh(
    ssh_endpoint: SshEndpoint,
    scope: Scope,
    policy: Policy,
    default_pairs: list[credentials.Pair],
    evidence: EvidenceRecorder,
    observe: Callable[[str, Any], None],
) -> None:
    pairs = _pairs(policy, default_pairs)
    users = {p.username for p in pairs}
    transcript = evidence.new_transcript("ssh", f"SSH password attempts on {ssh_endpoint}")
    trial = credentials.try_ssh(
        scope,
        ssh_endpoint.host,
        ssh_endpoint.port,
        pairs,
        timeout=policy.timeout_s,
        deadline=Deadline(policy.timeout_s * (len(pairs) + len(users))),
        transcript=transcript,
    )
    if trial.server_banner:
        observe("ssh_identification", trial.server_banner)
    _judge(evidence, trial, "SSH")


@pytest.mark.check("AUTH-002")
def test_default_credentials_refused_on_serial_console(
    console: Console,
    console_prompts: ConsolePrompts,
    policy: Policy,
    default_pairs: list[credentials.Pair],
    evidence: EvidenceRecorder,
) -> None:
    pairs = _pairs(policy, default_pairs)
    trial = credentials.try_console(
        console, console_prompts, pairs, deadline=Deadline(policy.timeout_s * (len(pairs) + 2))
    )
    _judge(evidence, trial, "the serial console")
