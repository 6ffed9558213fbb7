"""SURFACE: the attack surface the device exposes."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from harness.evidence import EvidenceRecorder
from harness.probes import ports
from harness.profile import Profile
from harness.scope import Scope
from harness.transports.net import ScanResult


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
