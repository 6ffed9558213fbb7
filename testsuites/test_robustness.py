"""ROBUST: the device survives malformed and oversized input, floods and slow clients.

Every check confirms the device answers before its first case and after each case (every
profiled service completes its handshake, the console shows a prompt); a device that
stops answering fails the check, which names the case, saves its bytes as a reproducer
and says how long the device took to come back, or that it did not.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial

import pytest

from harness.config.profile import Profile, Service
from harness.core.errors import inconclusive, not_applicable
from harness.probes import console as console_probe
from harness.probes.auth.http_auth import HttpApi
from harness.probes.console import ConsolePrompts
from harness.probes.robust import (
    flood,
    http_input,
    oversized,
    serial_input,
    slow,
    ssh_input,
    tls_input,
)
from harness.probes.robust.cases import Case, Reply, plan
from harness.transports.serial import Console
from harness.transports.ssh import SshTarget
from testsuites._robust_steps import RobustSteps

GARBAGE_SEED = 20240611  # the random console bytes are the same in every run


@pytest.mark.check("ROBUST-001")
def test_malformed_tls_hellos_survived(tls_service: Service, robust: RobustSteps) -> None:
    assert robust.profile.network is not None
    send = partial(
        tls_input.send, robust.scope, robust.profile.network.host, tls_service.port,
        timeout=robust.timeout, transcript=robust.transcript,
    )  # fmt: skip
    trial = robust.run(plan(tls_input.malformed_hellos(tls_service.name), send, tls_input.problem))
    robust.judge(
        trial,
        f"{tls_service.name} refused each of {len(trial.results)} malformed hellos (an alert "
        "or a close; a cut-off one was waited on) and every interface answered after each",
    )


@pytest.mark.check("ROBUST-002")
def test_malformed_ssh_input_survived(ssh_target: SshTarget, robust: RobustSteps) -> None:
    robust.watching("ssh", ssh_target.host, ssh_target.port, "ssh")
    send = partial(
        ssh_input.send, robust.scope, ssh_target.host, ssh_target.port,
        timeout=robust.timeout, transcript=robust.transcript,
    )  # fmt: skip
    trial = robust.run(plan(ssh_input.malformed_input("ssh"), send, ssh_input.problem))
    robust.judge(
        trial,
        f"the SSH server closed the connection after each of {len(trial.results)} malformed "
        "inputs and every interface answered after each",
    )


@pytest.mark.check("ROBUST-003")
def test_malformed_http_requests_survived(http_api: HttpApi, robust: RobustSteps) -> None:
    robust.watching_http(http_api.http)
    send = partial(
        http_input.send, robust.scope, http_api.http,
        server_name=robust.profile.tls.server_name, timeout=robust.timeout,
        transcript=robust.transcript,
    )  # fmt: skip
    cases = http_input.malformed_requests(http_api.http)
    trial = robust.run(plan(cases, send, http_input.problem))
    robust.judge(
        trial,
        f"the API answered each of {len(trial.results)} malformed requests with a 4xx or a "
        "close, never a hang, and every interface answered after each",
    )


@pytest.mark.check("ROBUST-004")
def test_oversized_fields_survived(profile: Profile, robust: RobustSteps) -> None:
    if profile.ssh is not None:
        robust.watching("ssh", profile.ssh_host, profile.ssh.port, "ssh")
    if profile.http is not None:
        robust.watching_http(profile.http)
    planned = oversized.every_field(profile, robust.scope, robust.transcript)
    trial = robust.run(planned)
    targets = ", ".join(dict.fromkeys(p.case.target for p in planned))
    robust.judge(
        trial,
        f"{len(trial.results)} over-long fields ({targets}) were refused or answered cleanly, "
        "and every interface answered after each",
    )


@pytest.mark.check("ROBUST-005")
def test_connection_flood_survived(profile: Profile, robust: RobustSteps) -> None:
    network = profile.network
    assert network is not None
    if not network.expected_tcp:
        not_applicable("network.expected_tcp names no port to flood")
    for port in network.expected_tcp:
        robust.watching(f"tcp-{port}", network.host, port, "other")
    policy = profile.policy
    rule = flood.FloodPlan(
        policy.flood_connections, policy.flood_rate, policy.flood_hold_s, policy.connect_timeout_s
    )
    done = robust.flood_each(network.expected_tcp, rule)
    failures = [f for f in (d.failure() for d in done) if f]
    assert not failures, "; ".join(failures)
    cut = [d.flood.port for d in done if d.flood.attempted < rule.connections]
    if cut:
        inconclusive(network.host, f"the check's time budget ran out while flooding {cut}")
    robust.evidence.reason = (
        f"after {rule.connections} connections to each of ports {list(network.expected_tcp)} "
        f"were held {rule.hold_s:g}s and released, every service answered within "
        f"{policy.liveness_timeout_s:g}s"
    )


@pytest.mark.check("ROBUST-006")
def test_serial_garbage_survived(
    profile: Profile, console_prompts: ConsolePrompts, robust: RobustSteps
) -> None:
    serial = profile.serial
    assert serial is not None
    reboot = console_probe.boot_marks(serial)
    transcript = robust.evidence.new_transcript("console", f"serial console {serial.console_url}")

    def typed(case: Case) -> serial_input.ConsoleReply:
        with Console(
            robust.scope, serial.console_url, baudrate=serial.baudrate, timeout=robust.timeout,
            transcript=transcript,
        ) as console:  # fmt: skip
            return serial_input.type_case(
                console, console_prompts, case, reboot=reboot, timeout=robust.timeout,
                wait_s=robust.timeout + profile.policy.liveness_timeout_s,
                deadline=robust.deadline,
            )  # fmt: skip

    def send(case: Case) -> Reply:
        reply = typed(case)
        if not reply.rebooted:
            return reply
        return serial_input.attributed(reply, typed(serial_input.CONTROL), typed(case))

    cases = serial_input.garbage(GARBAGE_SEED)
    trial = robust.run(plan(cases, send, serial_input.problem))
    robust.judge(
        trial,
        f"after each of {len(trial.results)} kinds of garbage the first Enter brought a prompt, "
        "with no boot log, and every interface answered",
        undecided=[
            f"{r.case.name}: {r.reply.unattributed}"
            for r in trial.results
            if isinstance(r.reply, serial_input.ConsoleReply) and r.reply.unattributed
        ],
    )


@pytest.mark.check("ROBUST-008")
def test_slow_requests_resisted(http_api: HttpApi, robust: RobustSteps) -> None:
    robust.watching_http(http_api.http)
    policy = robust.policy
    rule = slow.SlowPlan(policy.slow_connections, policy.slow_interval_s, policy.slow_hold_s)
    robust.baseline()
    run = slow.slow_requests(
        robust.scope, http_api.http.url("/"), rule, timeout=robust.timeout,
        transcript=robust.transcript,
        other_transcript=robust.evidence.new_transcript("other-client", "the other client"),
        deadline=robust.deadline,
    )  # fmt: skip
    after = robust.alive()
    robust.evidence.json("slow.json", {"run": asdict(run), "after": asdict(after)}, "slow requests")
    robust.evidence.note(run.summary())
    for other in run.others:
        robust.evidence.note(f"other client at +{other.at_s:.1f}s: {other.detail}")
    robust.evidence.note(f"after: {after.summary()}")
    failures = [
        f"while {run.opened} slow connections were held, a normal GET at +{o.at_s:.1f}s got "
        f"no answer ({o.detail})"
        for o in run.starved
    ]
    failures += [f"after the slow connections: {a.shown(after.waited_s)}" for a in after.dead]
    assert not failures, "; ".join(failures)
    if not run.opened:
        inconclusive(
            http_api.http.base_url, f"no slow connection could be opened: {run.first_failure}"
        )
    robust.evidence.reason = (
        f"the API answered another client while {run.opened} connections sent a header byte "
        f"every {rule.interval_s:g}s for {rule.hold_s:g}s, and every interface answered after"
    )
