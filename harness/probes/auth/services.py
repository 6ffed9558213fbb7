"""Which ports of the profiled network may speak a protocol the AUTH checks find themselves."""

from __future__ import annotations

from harness.config.profile import Network


def candidate_ports(network: Network, protocol: str, well_known: int) -> list[int]:
    """Ports declared as `protocol`, and `well_known` and every expected TCP port that no
    service declares as another protocol."""
    declared = {s.port: s.protocol for s in network.services}
    return sorted(
        {p for p, spoken in declared.items() if spoken == protocol}
        | {p for p in (well_known, *network.expected_tcp) if declared.get(p, "other") == "other"}
    )
