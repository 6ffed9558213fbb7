"""ROBUST-007: bounded protocol fuzzing of each TLS, SSH, HTTP and MQTT service (destructive).

The run's seed (`--fuzz-seed N`, else a fresh one) is recorded in every service's
evidence; the same seed against the same device sends the same cases again.
"""

from __future__ import annotations

import pytest

from harness.config.profile import Profile, Service
from harness.core.errors import inconclusive
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.probes import liveness
from harness.probes.robust import fuzz_plan
from harness.probes.robust.fuzz_corpus import exchanges_for
from harness.probes.robust.fuzz_engine import FuzzLimits
from harness.probes.robust.fuzz_session import FuzzReport, fuzz
from harness.probes.robust.fuzz_wire import FuzzTarget

FUZZ_BUDGET_S = 540.0  # one service's campaign, below the plugin's 600 s watchdog


@pytest.fixture(scope="session")
def fuzz_seed(pytestconfig: pytest.Config) -> int:
    chosen = pytestconfig.getoption("fuzz_seed", None)
    return int(chosen) if chosen is not None else fuzz_plan.new_seed()


@pytest.mark.check("ROBUST-007")
def test_fuzzing_leaves_the_device_alive(
    fuzz_service: Service,
    profile: Profile,
    scope: Scope,
    evidence: EvidenceRecorder,
    fuzz_seed: int,
) -> None:
    assert profile.network is not None
    policy = profile.policy
    target = FuzzTarget(
        scope,
        profile.network.host,
        fuzz_service.port,
        server_name=profile.tls.server_name if profile.tls else None,
        io_timeout_s=policy.timeout_s,
        answer_s=policy.fuzz_answer_s,
    )
    sent = evidence.new_transcript("cases", f"fuzz cases to {fuzz_service.name}")
    checked = evidence.new_transcript("liveness", "liveness during and after the fuzzing")
    evidence.note(f"seed {fuzz_seed}: --fuzz-seed {fuzz_seed} replays these cases")
    report = fuzz(
        target,
        fuzz_service.name,
        exchanges_for(fuzz_service.protocol),
        seed=fuzz_seed,
        limits=FuzzLimits(policy.fuzz_cases, policy.fuzz_rate, FUZZ_BUDGET_S, policy.timeout_s),
        alive=lambda: liveness.confirm(profile, scope, checked),
        transcript=sent,
    )
    evidence.json("fuzz-report.json", report.record(), "seed, controls, every case, liveness")
    _judge(report, evidence)


def _judge(report: FuzzReport, evidence: EvidenceRecorder) -> None:
    for control in report.controls:
        evidence.note(f"control {control.exchange}: {control.delivery.describe()}")
    campaign = report.campaign
    if campaign is None:
        inconclusive(report.service, "no recorded exchange reached the service (see controls)")
    evidence.note(
        f"{len(campaign.deliveries)} of {campaign.planned} cases in {campaign.duration_s:.1f}s "
        f"({campaign.cases_per_s:.1f}/s), {len(campaign.liveness)} liveness checks"
    )
    crash = campaign.crash
    if crash is not None:
        suspects = report.suspects()
        for case in suspects:
            name = f"crash-case-{case.index:05d}"
            evidence.binary(f"{name}.bin", case.message, f"case {case.index}: the mutated message")
            evidence.json(f"{name}.json", report.reproducer(case), f"case {case.index}: replay")
        likely = (
            f"; most recent case {suspects[0].index}: " + "; ".join(suspects[0].mutations)
            if suspects
            else ""
        )
        pytest.fail(
            f"{report.service} stopped answering after case {crash.after_case} of "
            f"{campaign.planned} (seed {report.seed}): {crash.liveness}; {crash.aftermath()}"
            + likely
        )
    if not campaign.complete:
        first = campaign.undelivered[0].describe() if campaign.undelivered else "none"
        inconclusive(
            report.service,
            f"{len(campaign.deliveries)} of {campaign.planned} cases sent "
            f"({len(campaign.undelivered)} not delivered, first: {first}; out of time: "
            f"{campaign.out_of_time}); lower policy.fuzz_rate or policy.fuzz_cases",
        )
    evidence.reason = (
        f"{campaign.planned} cases (seed {report.seed}) at {campaign.cases_per_s:.1f}/s; "
        f"the device answered all {len(campaign.liveness)} liveness checks"
    )
