"""CRYPTO: communication security of every TLS service and the SSH service."""

from __future__ import annotations

import pytest

from harness.evidence import EvidenceRecorder
from harness.probes import tls
from harness.profile import Profile, Service
from harness.scope import Scope


@pytest.mark.check("CRYPTO-001")
def test_tls_versions_below_minimum_refused(
    tls_service: Service, profile: Profile, scope: Scope, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    minimum = tls.TlsVersion.from_policy(profile.policy.tls_min_version)
    host = profile.network.host
    server_name = tls.default_server_name(host, profile.tls.server_name)
    transcript = evidence.new_transcript("hellos", f"ClientHellos to {tls_service.name}")
    probed = [
        tls.probe_version(
            scope,
            host,
            tls_service.port,
            version,
            timeout=profile.policy.timeout_s,
            server_name=server_name,
            transcript=transcript,
        )
        for version in tls.TlsVersion
    ]
    for result in probed:
        evidence.note(result.summary())
        name = result.offered.name.lower()
        evidence.binary(f"{name}-client-hello.bin", result.client_hello)
        evidence.binary(f"{name}-server.bin", result.server_bytes)
        evidence.text(f"{name}-server.txt", tls.dissect(result.server_bytes), show=False)
    below = [r.offered.label for r in probed if r.offered < minimum and r.accepted]
    at_least = [r.offered.label for r in probed if r.offered >= minimum and r.accepted]
    assert not below, (
        f"{tls_service.name} accepts {', '.join(below)}, below the minimum {minimum.label}"
    )
    assert at_least, f"{tls_service.name} accepted no version at or above {minimum.label}"
    evidence.reason = f"versions below {minimum.label} refused; accepted: {', '.join(at_least)}"
