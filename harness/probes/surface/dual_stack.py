"""SURFACE-009: TCP ports open over IPv6 that IPv4 does not show.

A device whose firewall was written for IPv4 only often leaves every service open on its
IPv6 address; the same connect scan of both addresses shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.transports.net import ScanResult


@dataclass(frozen=True)
class DualStack:
    """The connect scans of the device's IPv4 and IPv6 addresses, side by side."""

    ipv4: ScanResult
    ipv6: ScanResult

    @property
    def only_ipv6(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.ipv6.open) - set(self.ipv4.open)))

    @property
    def only_ipv4(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.ipv4.open) - set(self.ipv6.open)))

    def problems(self) -> list[str]:
        """SURFACE-009: each port open on the IPv6 address and closed or filtered on IPv4."""
        filtered = set(self.ipv4.filtered)
        return [
            f"{port}/tcp open on {self.ipv6.address}, "
            f"{'filtered' if port in filtered else 'closed'} on {self.ipv4.address}"
            for port in self.only_ipv6
        ]

    def record(self) -> dict[str, object]:
        return {
            "ipv4": {"address": self.ipv4.address, "open": list(self.ipv4.open)},
            "ipv6": {"address": self.ipv6.address, "open": list(self.ipv6.open)},
            "ports_scanned": self.ipv6.ports_scanned,
            "only_ipv6": list(self.only_ipv6),
            "only_ipv4": list(self.only_ipv4),
        }
