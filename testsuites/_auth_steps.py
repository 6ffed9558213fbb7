"""Steps the AUTH checks share: credential attempts as evidence, and their verdict.

Kept out of the check module so each check reads: ask the probe and the ledger, record, assert.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from harness.evidence.recorder import EvidenceRecorder
from harness.evidence.reveal import SecretReveal
from harness.probes.auth import credentials


def record_attempts(evidence: EvidenceRecorder, trial: credentials.Trial) -> None:
    """Every attempt as JSON, and one summary line each."""
    evidence.json("attempts.json", [asdict(a) for a in trial.attempts], "every attempt", show=True)
    for a in trial.attempts:
        verdict = "ACCEPTED" if a.accepted else ("refused" if a.decided else "UNCLEAR")
        evidence.note(
            f"{a.interface:6} {a.username} / {a.password_shown:9} {verdict:8} "
            f"{a.latency_s:6.3f}s  {a.detail} [{a.source}]"
        )


def judge(
    evidence: EvidenceRecorder,
    trial: credentials.Trial,
    where: str,
    reveal: SecretReveal | None = None,
) -> None:
    """Record every attempt; fail on an accepted pair, error if the trial was cut short."""
    record_attempts(evidence, trial)
    accepted = [a.username + " / " + a.password_shown for a in trial.accepted]
    if accepted and reveal is not None:
        written = reveal.pairs(evidence.check_id, where, trial.hits)
        if written is not None:
            evidence.note(f"full pairs written to {written} (--reveal-secrets; not in this run)")
    assert not accepted, f"{where} accepted default credentials: {', '.join(accepted)}"
    if trial.error is not None:
        raise trial.error
    undecided = [f"{a.username} / {a.password_shown}: {a.detail}" for a in trial.undecided]
    if undecided:
        pytest.fail(f"{where} gave answers that are neither refusals nor sessions: {undecided}")
    evidence.reason = f"all {len(trial.attempts)} default pairs refused by {where}"
