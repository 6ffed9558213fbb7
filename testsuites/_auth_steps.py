"""Steps the AUTH checks share: credential attempts as evidence and their verdict, HTTP logins
with a profiled account, the login attempts of the lockout trial.

Kept out of the check module so each check reads: ask the probe and the ledger, record, assert.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict

import pytest

from harness.config.profile import Credential, HttpAccount
from harness.core.deadline import Deadline
from harness.core.errors import inconclusive
from harness.core.transcript import Transcript
from harness.evidence.recorder import EvidenceRecorder
from harness.evidence.reveal import SecretReveal
from harness.probes.auth import console_access, credentials, http_auth, lockout, ssh_auth
from harness.probes.auth.password_change import ChangeTrial
from harness.probes.console import ConsolePrompts
from harness.transports.serial import Console
from harness.transports.ssh import SshTarget
from testsuites._connections import per_connection


def note_chain(evidence: EvidenceRecorder, api: http_auth.HttpApi) -> None:
    """Say so when the API's certificate chain did not verify (CRYPTO-005 judges it)."""
    for target, reason in api.trust.failures().items():
        evidence.note(
            f"TLS: the chain of {target} does not verify against {api.trust.anchors} "
            f"({reason}); the requests went on without verification (CRYPTO-005 judges the "
            "chain; http.verify_tls: true would require it)"
        )


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
    # dict.fromkeys: a shell without a login "accepts" every pair alike; say so once
    accepted = list(dict.fromkeys(a.username + " / " + a.password_shown for a in trial.accepted))
    if accepted and reveal is not None:
        written = reveal.pairs(evidence.check_id, where, trial.hits)
        if written is not None:
            evidence.note(f"full pairs written to {written} (--reveal-secrets; not in this run)")
    assert not accepted, f"{where} accepted default credentials: {', '.join(accepted)}"
    if trial.error is not None:
        raise trial.error
    undecided = [f"{a.username} / {a.password_shown}: {a.detail}" for a in trial.undecided]
    if undecided:
        inconclusive(where, f"answers that are neither refusals nor sessions: {undecided}")
    evidence.reason = f"all {len(trial.attempts)} default pairs refused by {where}"


def http_login(
    api: http_auth.HttpApi,
    account: Credential | HttpAccount,
    transcript: Transcript,
    evidence: EvidenceRecorder,
) -> http_auth.LoginResult:
    """Log a profiled account in; the session it gets is redacted from the evidence."""
    result = http_auth.login(api, account.username, account.password, transcript)
    if result.session is not None:
        evidence.redactor.add([result.session.secret])
    return result


@contextmanager
def lockout_logins(
    interface: str,
    username: str,
    request: pytest.FixtureRequest,
    evidence: EvidenceRecorder,
    deadline: Deadline,
) -> Iterator[lockout.TryLogin]:
    """Login attempts for `username` on `interface` (ssh, http or serial), for AUTH-009."""
    if interface == "ssh":
        target: SshTarget = request.getfixturevalue("ssh_target")
        with ssh_auth.PasswordLogins(target, username, per_connection(evidence, "ssh")) as logins:
            yield logins
    elif interface == "http":
        transcript = evidence.new_transcript("http", "HTTP login attempts")
        api: http_auth.HttpApi = request.getfixturevalue("http_api")
        yield http_auth.password_logins(
            api, username, transcript, lambda secret: evidence.redactor.add([secret])
        )
        note_chain(evidence, api)
    else:
        port: Console = request.getfixturevalue("console")
        prompts: ConsolePrompts = request.getfixturevalue("console_prompts")
        yield console_access.password_logins(port, prompts, username, deadline)


def record_lockout(evidence: EvidenceRecorder, trial: lockout.LockoutTrial, delay_s: float) -> None:
    """The timed attempts as JSON, one line each, and whether the account recovered."""
    # Not `asdict(trial)`: it deep-copies the error, and a DeviceError cannot be rebuilt.
    record = {
        "interface": trial.interface,
        "username": trial.username,
        "failures": trial.failures,
        "delay_s": trial.delay_s,
        "attempts": [asdict(a) for a in trial.attempts],
        "error": None if trial.error is None else str(trial.error),
    }
    evidence.json("attempts.json", record, "every timed attempt", show=True)
    for a in trial.attempts:
        verdict = "ACCEPTED" if a.accepted else "refused"
        evidence.note(
            f"{a.step:10} {a.password_shown:10} {verdict:8} {a.latency_s:7.3f}s  {a.detail}"
        )
    if trial.error is not None:
        evidence.note(f"the trial stopped early: {trial.error}")
    if trial.recovered is not None:
        evidence.note(
            f"after waiting out {delay_s:.1f}s: "
            f"{'the account works again' if trial.recovered else 'still locked'}"
        )


def record_access(evidence: EvidenceRecorder, findings: Iterable[http_auth.AccessFinding]) -> None:
    """Every request to a protected endpoint as JSON, and one line each."""
    findings = list(findings)
    evidence.json("access.json", [asdict(f) for f in findings], "every request", show=True)
    for finding in findings:
        for a in (*finding.attempts, finding.control):
            state = (
                ""
                if a.state_changed is None
                else (" STATE CHANGED" if a.state_changed else ", state unchanged")
            )
            verdict = "refused" if a.refused else ("LET THROUGH" if a.decided else "UNCLEAR")
            if a is finding.control:
                verdict = "positive control"
            evidence.note(f"{a.request} with {a.credential}: HTTP {a.status}{state} ({verdict})")


def record_changes(evidence: EvidenceRecorder, trial: ChangeTrial) -> None:
    """Every requested password change as JSON, one line each, and the old password's fate."""
    evidence.json("changes.json", asdict(trial), "every requested change", show=True)
    for a in trial.attempts:
        verdict = "ACCEPTED" if a.accepted else ("refused" if a.decided else "UNCLEAR")
        restored = "" if a.restored is None else f"; restored: {a.restored}"
        evidence.note(
            f"{a.rule:32} {a.password_shown:8} HTTP {a.status} {verdict}{restored}  {a.detail}"
        )
    evidence.note(f"old password works afterwards: {trial.old_password_works}")
