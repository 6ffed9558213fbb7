"""Rules of engagement: which addresses the harness may touch.

Every transport asks `Scope.resolve` before it opens a socket, and connects to the
address that was checked (never re-resolving the name), so nothing outside
`scope.allow` ever receives a packet.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.core.errors import OutOfScope

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Scope:
    """The networks a run may touch."""

    allow: tuple[IPNetwork, ...]

    @classmethod
    def of(cls, networks: Iterable[str | IPNetwork]) -> Scope:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def contains(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allow)

    def resolve(self, host: str) -> IPAddress:
        """The first address of `host`, which must lie in scope with all its other addresses."""
        addresses = resolve(host)
        outside = [a for a in addresses if not self.contains(a)]
        if outside:
            shown = ", ".join(map(str, outside))
            raise OutOfScope(host if shown == host else f"{host} ({shown})", self.describe())
        return addresses[0]

    def describe(self) -> str:
        return ", ".join(str(n) for n in self.allow)


def resolve(host: str) -> list[IPAddress]:
    """IP literal or name -> addresses; OutOfScope-free, OSError-free: ValueError if unknown."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"cannot resolve host {host!r}: {exc}") from None
    ordered: dict[IPAddress, None] = {}
    for info in infos:
        ordered.setdefault(ipaddress.ip_address(info[4][0]), None)
    return list(ordered)


def url_host(url: str) -> str | None:
    """The host part of a URL (`socket://`, `https://`, ...), or None for a device path."""
    parts = urlsplit(url)
    if not parts.scheme or parts.scheme in {"loop", "spy"} or not parts.netloc:
        return None
    return parts.hostname
