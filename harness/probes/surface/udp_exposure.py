"""SURFACE-002: which UDP ports of the device answer, against the profile's expected set.

One sweep: each port gets its protocol's request (DNS, TFTP, NTP, SNMP, SSDP, mDNS, CoAP
on their own ports, an empty datagram elsewhere); the ports that neither answered nor
were refused with ICMP port-unreachable are asked again with every protocol's request (a
service on a port not its own, a lost datagram), up to `MAX_ASKED_AGAIN` of them. A port
that stays silent is open|filtered, as nmap says: recorded, never judged, since a filter
that drops and a service that ignores us look the same.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from harness.core.deadline import Deadline
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.surface import udp_services
from harness.probes.surface.udp_services import UdpFinding
from harness.transports import net

MAX_ASKED_AGAIN = 64  # silent ports asked again with every protocol's request
MAX_RECORDED = 256  # ports with another ICMP error listed in the evidence (all are counted)


@dataclass(frozen=True)
class UdpExposure:
    """The UDP sweep judged against `network.expected_udp`."""

    address: str
    ports_scanned: int
    expected: tuple[int, ...]
    answering: tuple[UdpFinding, ...]
    refused: int
    unreachable: tuple[net.UdpPort, ...]  # another ICMP unreachable: filtered on the way
    silent: tuple[int, ...]  # open|filtered after every request
    duration_s: float
    icmp_readable: bool = True

    @property
    def unexpected(self) -> tuple[UdpFinding, ...]:
        return tuple(f for f in self.answering if f.port not in self.expected)

    @property
    def expected_quiet(self) -> tuple[int, ...]:
        """Expected ports that did not answer (closed, or a service that ignored us)."""
        answered = {f.port for f in self.answering}
        return tuple(p for p in self.expected if p not in answered)

    def problems(self) -> list[str]:
        """SURFACE-002: every answering port `network.expected_udp` does not list."""
        return [f.summary() for f in self.unexpected]

    def limits(self) -> list[str]:
        """What the sweep could not see, said plainly (a degraded sweep still judges answers)."""
        alike = "so closed and silent ports look alike; only services that answered a request "
        if not self.icmp_readable:
            return [
                "this system has no per-socket ICMP error queue (Linux IP_RECVERR): no "
                f"port-unreachable could be read, {alike}could be judged"
            ]
        if self.refused or self.unreachable:
            return []
        return [
            f"no port was refused with ICMP port-unreachable: UDP to {self.address} is "
            f"filtered or the device sends no ICMP, {alike}could be judged"
        ]

    def record(self) -> dict[str, object]:
        """The sweep as JSON-ready data (answers in hex)."""
        return {
            "address": self.address,
            "ports_scanned": self.ports_scanned,
            "expected": list(self.expected),
            "answering": [{**asdict(f), "answer": f.answer.hex()} for f in self.answering],
            "refused_icmp_port_unreachable": self.refused,
            "icmp_readable": self.icmp_readable,
            "other_icmp": [
                {"port": u.port, "icmp": u.icmp.describe() if u.icmp else ""}
                for u in self.unreachable[:MAX_RECORDED]
            ],
            "other_icmp_count": len(self.unreachable),
            "silent_open_or_filtered": list(self.silent),
            "duration_s": round(self.duration_s, 3),
        }


def sweep(
    scope: Scope,
    host: str,
    ports: Iterable[int],
    expected: Iterable[int],
    *,
    concurrency: int,
    wait: float,
    deadline: Deadline,
    transcript: Transcript,
) -> UdpExposure:
    """`ports`, the protocols' own ports and the expected ones, asked as described above."""
    table = udp_services.asks(host, secrets.randbelow(1 << 16))
    own = {ask.port: ask.requests for ask in table}
    every = (*(r for ask in table for r in ask.requests), b"")
    wanted = tuple(sorted(set(expected)))
    first = net.scan_udp(
        scope, host, set(ports) | set(own) | set(wanted), lambda p: own.get(p, (b"",)),
        concurrency=concurrency, wait=wait, deadline=deadline, transcript=transcript,
    )  # fmt: skip
    again = sorted(first.silent, key=lambda p: (p not in own and p not in wanted, p))
    again = again[:MAX_ASKED_AGAIN]
    rounds = [first]
    if again:
        transcript.event(f"asking {len(again)} silent ports again with every protocol's request")
        second = net.scan_udp(
            scope, host, again, lambda p: every,
            concurrency=concurrency, wait=wait, deadline=deadline, transcript=transcript,
        )  # fmt: skip
        rounds.append(second)
    answered = sorted((u for r in rounds for u in r.answered), key=lambda u: u.port)
    return UdpExposure(
        address=first.address,
        ports_scanned=first.ports_scanned,
        expected=wanted,
        answering=tuple(udp_services.identify(port, table) for port in answered),
        refused=sum(r.refused for r in rounds),
        unreachable=tuple(sorted((u for r in rounds for u in r.unreachable), key=lambda u: u.port)),
        silent=tuple(sorted(set(first.silent) - set(again) | set(rounds[-1].silent))),
        duration_s=sum(r.duration_s for r in rounds),
        icmp_readable=first.icmp_readable,
    )
