"""SURFACE: the attack surface the device exposes."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from harness.config.profile import Profile
from harness.core.deadline import Deadline
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.probes.console import ConsolePrompts
from harness.probes.surface import console_output, console_secrets, ports
from harness.transports.net import ScanResult
from harness.transports.serial import Console


@pytest.mark.check("SURFACE-001")
def test_no_unexpected_tcp_port(
    profile: Profile, scope: Scope, tcp_scan: ScanResult, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    network = profile.network
    transcript = evidence.new_transcript("scan", f"TCP connect scan of {network.host}")
    exposure = ports.tcp_exposure(
        scope,
        tcp_scan,
        network.expected_tcp,
        connect_timeout=profile.policy.scan_connect_timeout_s,
        transcript=transcript,
    )
    evidence.json("scan.json", asdict(exposure), "scan result", show=True)
    scan = exposure.scan
    evidence.note(
        f"{scan.ports_scanned} ports of {scan.address} in {scan.duration_s:.2f}s: "
        f"open {list(scan.open)}, filtered {len(scan.filtered)}"
    )
    evidence.note(
        f"expected {list(exposure.expected)}; expected but closed "
        f"{list(exposure.expected_closed) or 'none'}"
    )
    for port, greeting in exposure.greetings:
        evidence.note(f"unexpected port {port}: first bytes {greeting}")
    unexpected = ", ".join(str(p) for p in exposure.unexpected)
    assert not exposure.unexpected, f"TCP ports open beyond network.expected_tcp: {unexpected}"
    evidence.reason = f"open ports {list(scan.open)} are all expected"


@pytest.mark.check("SURFACE-008")
def test_console_output_free_of_secrets(
    console: Console,
    console_prompts: ConsolePrompts,
    profile: Profile,
    evidence: EvidenceRecorder,
) -> None:
    serial = profile.serial
    assert serial is not None
    deadline = Deadline(max(120.0, profile.policy.timeout_s * 12))
    captured = console_output.capture(
        console,
        console_prompts,
        serial,
        opening_s=min(2.0, profile.policy.timeout_s),
        deadline=deadline,
    )
    echo = console_output.echo_canary(console, console_prompts, deadline)
    text = captured.output.decode("utf-8", "replace")
    # Profile secrets are searched raw here; the evidence files redact them as always.
    found = console_secrets.scan(text + "\n" + echo.output, profile.secrets)
    evidence.text("console-output.txt", text, captured.source)
    evidence.note(
        f"{captured.source}: {len(captured.output)} bytes; "
        f"canary password {echo.canary_shown} typed"
    )
    for finding in found:
        evidence.note(f"line {finding.line}: {finding.kind}: {finding.excerpt}")
    problems = [f"{f.kind} (line {f.line}: {f.excerpt})" for f in found]
    if echo.echoed:
        problems.append("the password typed at the login was echoed back")
    assert not problems, f"the console printed secrets: {'; '.join(problems)}"
    evidence.reason = f"{captured.source} and the login exchange carry no key, password or token"
