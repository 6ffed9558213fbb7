"""SURFACE: the attack surface the device exposes."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from harness.config.profile import Profile
from harness.core.deadline import Deadline
from harness.core.errors import inconclusive, not_applicable
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.probes.console import ConsolePrompts
from harness.probes.crypto.tls import default_server_name
from harness.probes.surface import (
    console_output,
    console_secrets,
    ports,
    service_protocols,
    udp_exposure,
)
from harness.probes.surface.dual_stack import DualStack
from harness.probes.surface.service_protocols import Spoke
from harness.transports.net import ScanResult, parse_port_ranges
from harness.transports.serial import Console

SWEEP_BUDGET_S = 540.0  # the UDP sweep, below the plugin's 600 s watchdog
MAX_LISTED = 32  # findings named in a reason; the evidence has them all


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


# --- SURFACE-002, 003, 009: UDP services, profiled protocols, IPv6-only ports -----------------


@pytest.mark.check("SURFACE-002")
def test_no_unexpected_udp_service(
    profile: Profile, scope: Scope, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    network, policy = profile.network, profile.policy
    transcript = evidence.new_transcript("udp", f"UDP sweep of {network.host}")
    exposure = udp_exposure.sweep(
        scope, network.host, parse_port_ranges(network.udp_ports), network.expected_udp,
        concurrency=policy.scan_concurrency, wait=policy.scan_connect_timeout_s,
        deadline=Deadline(SWEEP_BUDGET_S), transcript=transcript,
    )  # fmt: skip
    evidence.json("udp.json", exposure.record(), "UDP sweep", show=True)
    evidence.note(
        f"{exposure.ports_scanned} UDP ports of {exposure.address} in "
        f"{exposure.duration_s:.2f}s: answered {[f.port for f in exposure.answering]}, "
        f"refused (ICMP port unreachable) {exposure.refused}, silent {len(exposure.silent)}"
    )
    for finding in exposure.answering:
        evidence.note(finding.summary())
    if exposure.silent:
        shown = ", ".join(map(str, exposure.silent[:MAX_LISTED]))
        evidence.note(f"silent after every request (open|filtered, not judged): {shown}")
    for limit in exposure.limits():
        evidence.note(limit)
    problems = exposure.problems()
    listed = "; ".join(problems[:MAX_LISTED]) + (
        f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    )
    assert not problems, f"UDP ports answer beyond network.expected_udp: {listed}"
    answering = [f.port for f in exposure.answering]
    degraded = " (degraded: no ICMP port-unreachable read)" if exposure.limits() else ""
    evidence.reason = f"answering UDP ports {answering} are all expected{degraded}"


@pytest.mark.check("SURFACE-003")
def test_services_speak_their_profiled_protocol(
    profile: Profile, scope: Scope, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    network, policy = profile.network, profile.policy
    if not network.services:
        not_applicable("the profile declares no network.services")
    transcript = evidence.new_transcript("protocols", "each service's own protocol")
    spoken = service_protocols.speak_all(
        scope, network.host, network.services,
        server_name=default_server_name(network.host, profile.tls.server_name),
        timeout=policy.timeout_s, workers=policy.max_connections, transcript=transcript,
    )  # fmt: skip
    evidence.json("services.json", [asdict(s) for s in spoken], "each service's protocol")
    for answer in spoken:
        evidence.note(answer.summary())
    wrong = [s.summary() for s in spoken if s.spoke in (Spoke.OTHER, Spoke.CLOSED)]
    assert not wrong, f"services not speaking their profiled protocol: {'; '.join(wrong)}"
    undecided = [s.summary() for s in spoken if s.spoke is Spoke.UNDECIDED]
    if undecided:
        inconclusive(network.host, f"no answer in time: {'; '.join(undecided)}")
    evidence.reason = f"every service ({len(spoken)}) completed its profiled protocol"


@pytest.mark.check("SURFACE-009")
def test_no_port_open_only_over_ipv6(
    profile: Profile,
    tcp_scan: ScanResult,
    evidence: EvidenceRecorder,
    request: pytest.FixtureRequest,
) -> None:
    assert profile.network is not None
    if profile.network.host6 is None:
        seen = {"address": tcp_scan.address, "open": list(tcp_scan.open)}
        evidence.json("scans.json", {"ipv4": seen, "ipv6": None}, "the IPv4 scan alone")
        not_applicable("the profile has no network.host6")
    tcp_scan6: ScanResult = request.getfixturevalue("tcp_scan6")
    stacks = DualStack(tcp_scan, tcp_scan6)
    evidence.json("scans.json", stacks.record(), "IPv4 and IPv6 connect scans", show=True)
    evidence.note(
        f"{tcp_scan6.ports_scanned} TCP ports: open on {tcp_scan.address} {list(tcp_scan.open)}, "
        f"on {tcp_scan6.address} {list(tcp_scan6.open)}"
    )
    if stacks.only_ipv4:
        evidence.note(f"open over IPv4 only (not a finding): {list(stacks.only_ipv4)}")
    problems = stacks.problems()
    assert not problems, f"TCP ports open only over IPv6: {'; '.join(problems)}"
    evidence.reason = f"IPv6 open ports {list(tcp_scan6.open)} are all open over IPv4 too"
