"""AUTH: authentication and authorization on every interface the profile names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest

from harness.config.profile import Policy, Profile
from harness.core.deadline import Deadline
from harness.core.errors import inconclusive, not_applicable
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.evidence.reveal import SecretReveal
from harness.probes.auth import (
    bootloader,
    console_access,
    credentials,
    http_auth,
    idle,
    lockout,
    mqtt,
    password_change,
    ssh_auth,
    telnet,
)
from harness.probes.auth.bootloader import BootOutcome
from harness.probes.auth.credentials import LoginLedger
from harness.probes.auth.http_auth import HttpApi
from harness.probes.console import ConsolePrompts, DeviceReset, boot_marks
from harness.transports.serial import Console
from harness.transports.ssh import SshTarget
from testsuites._auth_steps import (
    http_login,
    judge,
    lockout_logins,
    note_chain,
    record_access,
    record_attempts,
    record_changes,
    record_lockout,
)
from testsuites._connections import per_connection


@pytest.mark.check("AUTH-001")
def test_default_credentials_refused_over_ssh(
    ssh_target: SshTarget,
    scope: Scope,
    policy: Policy,
    default_pairs: list[credentials.Pair],
    login_ledger: LoginLedger,
    reveal: SecretReveal,
    evidence: EvidenceRecorder,
    observe: Callable[[str, Any], None],
) -> None:
    pairs = login_ledger.candidates("ssh", default_pairs, policy.lockout_after_failures)
    connections = len(credentials.by_user(pairs))
    trial = credentials.try_ssh(
        scope,
        ssh_target.host,
        ssh_target.port,
        pairs,
        timeout=policy.timeout_s,
        deadline=Deadline(policy.timeout_s * (len(pairs) + connections)),
        new_transcript=per_connection(evidence, "ssh"),
    )
    login_ledger.record("ssh", "AUTH-001", trial.attempts)
    if trial.server_banner:
        observe("ssh_identification", trial.server_banner)
    judge(evidence, trial, "SSH", reveal)


@pytest.mark.check("AUTH-002")
def test_default_credentials_refused_on_serial_console(
    console: Console,
    console_prompts: ConsolePrompts,
    policy: Policy,
    default_pairs: list[credentials.Pair],
    login_ledger: LoginLedger,
    reveal: SecretReveal,
    evidence: EvidenceRecorder,
) -> None:
    pairs = login_ledger.candidates("serial", default_pairs, policy.lockout_after_failures)
    trial = credentials.try_console(
        console, console_prompts, pairs, deadline=Deadline(policy.timeout_s * (len(pairs) + 2))
    )
    login_ledger.record("serial", "AUTH-002", trial.attempts)
    judge(evidence, trial, "the serial console", reveal)


@pytest.mark.check("AUTH-003")
def test_default_credentials_refused_by_http_api(
    http_api: HttpApi,
    policy: Policy,
    default_pairs: list[credentials.Pair],
    login_ledger: LoginLedger,
    reveal: SecretReveal,
    evidence: EvidenceRecorder,
) -> None:
    login = http_api.http.login
    transcript = evidence.new_transcript("http", f"logins at {http_api.http.url(login.path)}")
    account = http_api.http.account
    if account is not None:
        # Positive control: the endpoint logs the profiled account in, so refusals mean something.
        control = http_login(http_api, account, transcript, evidence)
        evidence.note(f"positive control {account.username}: {control.detail}")
        if control.verdict is not http_auth.LoginVerdict.ACCEPTED:
            inconclusive(
                http_api.http.base_url,
                f"the login endpoint refused the profiled account too ({control.detail}); "
                "its refusals of default pairs prove nothing",
            )
    pairs = login_ledger.candidates("http", default_pairs, policy.lockout_after_failures)
    trial, seen = http_auth.try_pairs(
        http_api,
        pairs,
        deadline=Deadline(policy.timeout_s * (len(pairs) + 1)),
        transcript=transcript,
    )
    evidence.redactor.add(seen)
    login_ledger.record("http", "AUTH-003", trial.attempts)
    note_chain(evidence, http_api)
    judge(evidence, trial, f"the HTTP API ({login.style} login at {login.path})", reveal)


@pytest.mark.check("AUTH-004")
def test_default_credentials_refused_over_telnet(
    profile: Profile,
    scope: Scope,
    policy: Policy,
    default_pairs: list[credentials.Pair],
    login_ledger: LoginLedger,
    reveal: SecretReveal,
    evidence: EvidenceRecorder,
) -> None:
    network = profile.network
    assert network is not None
    survey = telnet.survey(
        scope,
        network,
        timeout=policy.connect_timeout_s,
        new_transcript=per_connection(evidence, "telnet-survey"),
    )
    for looked in survey.looked:
        kind = "telnet" if looked.telnet else "not telnet"
        evidence.note(f"port {looked.port}: {kind} ({looked.evidence})")
    if not survey.telnet_ports:
        looked_at = list(survey.candidates) or "no candidate port"
        not_applicable(f"no port speaks telnet (looked at {looked_at})")
    trial = telnet.try_ports(
        scope,
        network.host,
        survey.telnet_ports,
        login_ledger,
        default_pairs,
        check_id="AUTH-004",
        lockout_after_failures=policy.lockout_after_failures,
        timeout=policy.timeout_s,
        new_transcript=per_connection(evidence, "telnet"),
    )
    judge(evidence, trial, f"telnet on port(s) {survey.telnet_ports}", reveal)


@pytest.mark.check("AUTH-005")
def test_serial_console_requires_login(
    console: Console, console_prompts: ConsolePrompts, policy: Policy, evidence: EvidenceRecorder
) -> None:
    outcomes = console_access.escape_keys(console, console_prompts, Deadline(policy.timeout_s * 12))
    evidence.json("keys.json", [asdict(o) for o in outcomes], "what each key brought up")
    for o in outcomes:
        after = " (after typing a test command)" if o.test_command else ""
        evidence.note(f"{o.key:7} at the {o.where.value:15} -> {o.shown.value}{after}")
    let_in = [f"{o.key} at the {o.where.value} ({o.shown.value})" for o in outcomes if o.shell]
    assert not let_in, f"the console gave a shell without a login: {', '.join(let_in)}"
    evidence.reason = f"{len(outcomes)} key presses; only login and password prompts were shown"


@pytest.mark.check("AUTH-006")
def test_bootloader_interrupt_refused(
    console: Console,
    console_prompts: ConsolePrompts,
    device_reset: DeviceReset,
    profile: Profile,
    policy: Policy,
    evidence: EvidenceRecorder,
) -> None:
    serial = profile.serial
    assert serial is not None
    if serial.bootloader is None:
        not_applicable("the profile names no serial.bootloader")
    if not device_reset.possible:
        not_applicable(
            "no way to reset the device: serial.reset_command with serial.username and "
            "serial.password, or a labgrid place with a power port"
        )
    traits = serial.bootloader.traits
    evidence.note(f"reset: {device_reset.described}")
    finding = bootloader.boot_interrupt(
        console,
        console_prompts,
        traits,
        device_reset,
        Deadline(serial.bootloader.boot_timeout_s + policy.timeout_s * 6),
        serial.bootloader.boot_timeout_s,
    )
    evidence.text("boot.txt", finding.output, "console output from the reset on")
    evidence.json("keys.json", [asdict(k) for k in finding.keys], "each key, seconds after reset")
    for line in finding.summary():
        evidence.note(line)
    if finding.outcome is BootOutcome.NOT_RESET:
        inconclusive(
            console.target, f"the reset ({device_reset.described}) did not restart the device"
        )
    assert not finding.interrupted, (
        f"{traits.name} stopped at its prompt {finding.prompt!r} without a password "
        f"({finding.pressed})"
    )
    if not finding.keys:
        inconclusive(
            console.target,
            "the kernel started before anything showed as the bootloader's banner "
            "(serial.bootloader.banner): no key was pressed in its window",
        )
    if not finding.booted_after:
        inconclusive(console.target, "the device did not boot to its login prompt after the reset")
    if finding.outcome is BootOutcome.LOCKED:
        evidence.reason = f"{traits.name} asked for a password; the device booted"
    else:
        evidence.reason = f"no key stopped {traits.name} ({finding.pressed})"


@pytest.mark.check("AUTH-007")
def test_ssh_authentication_methods_match_policy(
    ssh_target: SshTarget, policy: Policy, evidence: EvidenceRecorder
) -> None:
    transcript = evidence.new_transcript("ssh", f"SSH authentication methods on {ssh_target.host}")
    finding = ssh_auth.auth_methods(ssh_target, transcript)
    expected = policy.expected_ssh_auth_methods
    evidence.json("methods.json", asdict(finding), "what the server offers", show=True)
    evidence.note(f"user {ssh_target.username!r}: server offers {list(finding.offered)}")
    evidence.note(f"policy ({policy.ssh_policy}): exactly {sorted(expected)}")
    assert not finding.none_accepted, f"the server let {ssh_target.username!r} in with method none"
    if finding.untrusted_key_tried:
        evidence.note(
            f"a freshly generated key ({finding.untrusted_key}): "
            f"{'ACCEPTED' if finding.untrusted_key_accepted else 'refused'}"
        )
    problems = finding.problems(expected)
    assert not problems, "; ".join(problems)
    evidence.reason = f"none refused; offers exactly {sorted(expected)}; an unknown key refused"


@pytest.mark.check("AUTH-008")
def test_root_login_over_ssh_refused(
    ssh_target: SshTarget,
    policy: Policy,
    default_pairs: list[credentials.Pair],
    login_ledger: LoginLedger,
    reveal: SecretReveal,
    evidence: EvidenceRecorder,
) -> None:
    budget = login_ledger.remaining(
        "ssh",
        "root",
        default_pairs,
        policy.lockout_after_failures,
        profiled_password=bool(ssh_target.password),
    )
    found = ssh_auth.try_root(
        ssh_target,
        budget.pairs,
        deadline=Deadline(policy.timeout_s * (len(budget.pairs) + 4)),
        new_transcript=per_connection(evidence, "ssh"),
    )
    login_ledger.record("ssh", "AUTH-008", found.trial.attempts)
    if budget.spent:
        evidence.note(
            f"{budget.spent} root password(s) already refused earlier in this run (not repeated)"
        )
    record_attempts(evidence, found.trial)
    if found.uid:
        evidence.note(f"id -u in the root session: {found.uid}")
    got_in = [f"{a.username} / {a.password_shown} [{a.source}]" for a in found.trial.accepted]
    got_in += [f"{e} (earlier check)" for e in budget.earlier_accepted]
    if found.trial.hits:
        reveal.pairs("AUTH-008", "SSH root", found.trial.hits)
    assert not got_in, f"SSH opened a session as root: {', '.join(got_in)}"
    if found.trial.error is not None:
        raise found.trial.error
    evidence.reason = f"root refused for all {len(found.trial.attempts)} attempts in this check"


@pytest.mark.check("AUTH-009")
@pytest.mark.parametrize("interface", ["ssh", "http", "serial"])
def test_lockout_or_rate_limit_after_failures(
    interface: str,
    profile: Profile,
    policy: Policy,
    request: pytest.FixtureRequest,
    evidence: EvidenceRecorder,
) -> None:
    account = getattr(profile.auth.lockout_account, interface)
    if account is None:
        not_applicable(f"the profile names no auth.lockout_account.{interface}")
    if getattr(profile, interface) is None:
        not_applicable(f"the profile has no {interface} section")
    failures = policy.lockout_after_failures
    deadline = Deadline(policy.timeout_s * (failures + 6) + policy.lockout_delay_s * 3)
    with lockout_logins(interface, account.username, request, evidence, deadline) as try_login:
        trial = lockout.measure(
            interface,
            account.username,
            account.password,
            try_login,
            failures=failures,
            delay_s=policy.lockout_delay_s,
            deadline=deadline,
        )
    record_lockout(evidence, trial, policy.lockout_delay_s)
    if not trial.control_ok:
        if trial.error is not None:
            raise trial.error
        inconclusive(interface, f"the lockout account {account.username!r} cannot log in first")
    if trial.error is not None and trial.right_after_failures is None:
        raise trial.error
    right = trial.right_after_failures
    assert right is not None
    assert trial.locked or trial.delayed, (
        f"{interface}: after {failures + 1} wrong passwords the right one was accepted in "
        f"{right.latency_s:.3f}s (slowest reply {trial.slowest_after_threshold_s:.3f}s, "
        f"policy: lockout or a delay of {policy.lockout_delay_s:g}s)"
    )
    how = (
        "locked (the right password refused)"
        if trial.locked
        else (f"delayed {trial.slowest_after_threshold_s:.1f}s")
    )
    evidence.reason = f"{interface}: after {failures} failures {how}; curve {trial.curve()}"


@pytest.mark.check("AUTH-010")
@pytest.mark.parametrize("interface", ["http"])  # the target: AUTH-010 also judges MQTT
def test_state_changing_api_needs_authentication(
    interface: str, http_api: HttpApi, evidence: EvidenceRecorder
) -> None:
    http = http_api.http
    if not http.protected:
        not_applicable("the profile lists no http.protected endpoint")
    if http.account is None:
        not_applicable("the positive control needs http.account")
    transcript = evidence.new_transcript("http", f"protected endpoints of {http.base_url}")
    control = http_login(http_api, http.account, transcript, evidence)
    note_chain(evidence, http_api)
    if control.session is None:
        inconclusive(
            http.base_url, f"the profiled account cannot log in ({control.detail}): no control"
        )
    kinds = http_auth.forged_credentials(control.session, http.expired_token)
    low = http.low_privilege_account
    if low is not None:
        result = http_login(http_api, low, transcript, evidence)
        if result.session is None:
            inconclusive(
                http.base_url,
                f"the low-privilege account {low.username!r} cannot log in ({result.detail})",
            )
        kinds.append((f"low-privilege account {low.username}", result.session))
    findings = [
        http_auth.probe_endpoint(http_api, endpoint, kinds, control.session, transcript)
        for endpoint in http.protected
    ]
    record_access(evidence, findings)
    problems = [
        f"{a.request} with {a.credential}: HTTP {a.status}"
        + (" and the state changed" if a.state_changed else "")
        for finding in findings
        for a in finding.let_through
    ]
    assert not problems, f"protected endpoints let through: {'; '.join(problems)}"
    dead = [f"{f.control.request}: HTTP {f.control.status}" for f in findings if f.control_failed]
    if dead:
        inconclusive(
            http.base_url,
            f"the positive control failed, so the refusals prove nothing: {'; '.join(dead)}",
        )
    unread = [
        f"{a.request} with {a.credential}: HTTP {a.status}" for f in findings for a in f.undecided
    ]
    if unread:
        inconclusive(
            http.base_url,
            f"a 4xx other than 401/403 refuses only with the state read back unchanged, and "
            f"these endpoints name no state_path: {'; '.join(unread)}",
        )
    evidence.reason = (
        f"{len(findings)} endpoint(s) refused {len(kinds)} credential kinds with a 4xx, "
        "state unchanged; the profiled account succeeded"
    )


@pytest.mark.check("AUTH-010")
@pytest.mark.parametrize("interface", ["mqtt"])  # the target: brokers on plain MQTT ports
def test_mqtt_broker_needs_authentication(
    interface: str, profile: Profile, scope: Scope, policy: Policy, evidence: EvidenceRecorder
) -> None:
    network = profile.network
    if network is None:
        not_applicable("the profile has no network section")
    ports = mqtt.plain_ports(network, (s.port for s in profile.tls_services))
    found = mqtt.anonymous_connects(
        scope,
        network.host,
        ports,
        timeout=policy.connect_timeout_s,  # like the telnet survey: most candidates are closed
        transcript_for=lambda port: evidence.new_transcript(
            f"mqtt-{port}", f"MQTT CONNECT without credentials to {network.host}:{port}"
        ),
    )
    for access in found:
        evidence.note(access.summary())
    brokers = [a for a in found if a.broker]
    if not brokers:
        not_applicable(f"no port speaks plain MQTT (looked at {ports or 'no candidate port'})")
    anonymous = [str(a.port) for a in brokers if a.anonymous]
    assert not anonymous, (
        f"the MQTT broker on port(s) {', '.join(anonymous)} accepts a CONNECT without "
        "credentials: anyone on the network may publish and subscribe"
    )
    unclear = [a.summary() for a in brokers if not a.refused]
    if unclear:
        inconclusive(network.host, f"CONNACKs that are not a refusal for credentials: {unclear}")
    evidence.reason = (
        f"CONNECT without credentials refused on port(s) {', '.join(str(a.port) for a in brokers)}"
    )


@pytest.mark.check("AUTH-011")
@pytest.mark.parametrize("interface", ["ssh", "serial"])
def test_idle_session_timeout(
    interface: str,
    profile: Profile,
    policy: Policy,
    request: pytest.FixtureRequest,
    evidence: EvidenceRecorder,
) -> None:
    idle_s = policy.session_idle_timeout_s * 1.1
    if interface == "ssh":
        target: SshTarget = request.getfixturevalue("ssh_target")
        transcript = evidence.new_transcript("ssh", f"idle shell on {target.host}")
        finding = idle.idle_ssh(target, idle_s, transcript)
    else:
        serial = profile.serial
        if serial is None:
            not_applicable("the profile has no serial section")
        if serial.username is None or serial.password is None:
            not_applicable("an idle console session needs serial.username and serial.password")
        port: Console = request.getfixturevalue("console")
        prompts: ConsolePrompts = request.getfixturevalue("console_prompts")
        finding = idle.idle_console(
            port,
            prompts,
            (serial.username, serial.password),
            idle_s,
            Deadline(idle_s + policy.timeout_s * 8),
            reboot=boot_marks(serial),
        )
    evidence.note(f"{interface}: idle {idle_s:.1f}s, then `id`: {finding.answer.strip()[-200:]!r}")
    assert finding.closed, (
        f"the {interface} session still ran a command after {idle_s:.0f}s idle "
        f"(policy.session_idle_timeout_s {policy.session_idle_timeout_s:.0f}s)"
    )
    evidence.reason = f"{interface}: session ended within {idle_s:.0f}s of idle"


@pytest.mark.check("AUTH-012")
@pytest.mark.parametrize("interface", ["http"])  # the target: changes go through the API
def test_weak_new_passwords_rejected(
    interface: str,
    http_api: HttpApi,
    profile: Profile,
    policy: Policy,
    default_pairs: list[credentials.Pair],
    evidence: EvidenceRecorder,
) -> None:
    spec = profile.auth.password_change
    if spec is None:
        not_applicable("the profile has no auth.password_change")
    username = spec.account.username
    candidates = password_change.weak_candidates(
        username,
        policy.password_min_length,
        credentials.default_password(username, default_pairs),
    )
    transcript = evidence.new_transcript("http", f"password changes at {spec.path}")
    trial = password_change.try_weak_passwords(http_api, spec, candidates, transcript)
    evidence.redactor.add(trial.session_secrets)
    note_chain(evidence, http_api)
    record_changes(evidence, trial)
    accepted = [a.rule for a in trial.accepted]
    assert not accepted, f"weak new passwords accepted for {username!r}: {', '.join(accepted)}"
    undecided = [f"{a.rule}: HTTP {a.status}" for a in trial.undecided]
    if undecided:
        inconclusive(
            spec.path, f"answers that are neither acceptance nor a policy refusal: {undecided}"
        )
    if not trial.old_password_works:
        inconclusive(spec.path, f"the old password of {username!r} no longer works afterwards")
    evidence.reason = f"{len(trial.attempts)} weak passwords refused; the old password still works"


@pytest.mark.check("AUTH-013")
def test_privileged_commands_need_elevation(
    ssh_target: SshTarget, profile: Profile, evidence: EvidenceRecorder
) -> None:
    commands = profile.auth.privileged_commands
    if not commands:
        not_applicable("the profile lists no auth.privileged_commands")
    transcript = evidence.new_transcript("ssh", f"commands as {ssh_target.username}")
    finding = ssh_auth.run_commands(ssh_target, commands, transcript)
    evidence.json("commands.json", asdict(finding), "what ran", show=True)
    evidence.note(f"id -u as {ssh_target.username!r}: {finding.uid}")
    for r in finding.runs:
        evidence.note(f"{r.command!r}: exit {r.status}: {r.output.strip()[:120]!r}")
    problems = [f"{ssh_target.username!r} is uid 0"] if finding.root else []
    problems += [f"{r.command!r} ran (exit 0)" for r in finding.runs if r.executed]
    assert not problems, "; ".join(problems)
    if not finding.uid.isdigit():  # the positive control: an ordinary command must run
        inconclusive(
            str(ssh_target),
            f"`id -u` printed no uid ({finding.uid[:120]!r}): the account runs no commands "
            "over SSH, so the privileged ones failing says nothing about elevation",
        )
    evidence.reason = f"uid {finding.uid}; {len(finding.runs)} privileged command(s) refused"
