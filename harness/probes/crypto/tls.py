"""TLS version support, decided one ClientHello per version.

`probe_version` offers exactly one protocol version (hellos built with scapy in
`tls_wire`, so the probe is not limited by the local OpenSSL) and reads the server's first
flight: a ServerHello naming that version means the version is accepted; an alert, a
close, or a ServerHello for another version means it is refused. Anything that is not
TLS is a `ProtocolViolation` (the check cannot decide), never a pass.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from scapy.layers.tls.record import TLS

from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import tls_wire
from harness.probes.crypto.tls_suites import TlsVersion

__all__ = ["ALERTS", "HelloOutcome", "HelloResult", "TlsVersion", "probe_version"]

# Broad legacy offer, so a server that speaks a version at all finds a suite it can pick:
# ECDHE/DHE/RSA key exchange, GCM, ChaCha20, CBC, 3DES and RC4.
LEGACY_SUITES = (
    0xC02B,
    0xC02F,
    0xC02C,
    0xC030,
    0xCCA9,
    0xCCA8,
    0xC009,
    0xC013,
    0xC00A,
    0xC014,
    0xC023,
    0xC027,
    0xC024,
    0xC028,
    0x009E,
    0x009F,
    0x0033,
    0x0039,
    0x0067,
    0x006B,
    0x009C,
    0x009D,
    0x002F,
    0x0035,
    0x003C,
    0x003D,
    0xC012,
    0x0016,
    0x000A,
    0xC011,
    0xC007,
    0x0005,
    0x0004,
    0x00FF,
)
TLS13_SUITES = (0x1301, 0x1302, 0x1303)
TLS13_SUITES = (0x1301, 0x1302, 0x1303)
ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
    47: "illegal_parameter", 50: "decode_error", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
    109: "missing_extension", 112: "unrecognized_name",
}  # fmt: skip


class HelloOutcome(str, enum.Enum):
    ACCEPTED = "accepted"
    ALERT = "alert"
    CLOSED = "closed"
    OTHER_VERSION = "other_version"


@dataclass(frozen=True)
class HelloResult:
    """The server's answer to a ClientHello that offered exactly one version."""

    offered: TlsVersion
    outcome: HelloOutcome
    negotiated: int | None
    cipher_suite: int | None
    alert: int | None
    client_hello: bytes
    server_bytes: bytes
    duration_s: float

    @property
    def accepted(self) -> bool:
        return self.outcome is HelloOutcome.ACCEPTED

    def summary(self) -> str:
        if self.outcome is HelloOutcome.ACCEPTED:
            return f"{self.offered.label}: accepted (suite 0x{self.cipher_suite or 0:04x})"
        if self.outcome is HelloOutcome.ALERT:
            name = ALERTS.get(self.alert or -1, "unknown")
            return f"{self.offered.label}: refused with alert {self.alert} ({name})"
        if self.outcome is HelloOutcome.OTHER_VERSION:
            return f"{self.offered.label}: refused (server answered 0x{self.negotiated or 0:04x})"
        return f"{self.offered.label}: refused (connection closed without a ServerHello)"


def probe_version(
    scope: Scope,
    host: str,
    port: int,
    version: TlsVersion,
    *,
    timeout: float,
    server_name: str | None,
    transcript: Transcript,
) -> HelloResult:
    """One connection, one ClientHello offering only `version`, one decision."""
    suites = TLS13_SUITES if version is TlsVersion.TLS1_3 else LEGACY_SUITES
    flight = tls_wire.exchange(
        scope, host, port, tls_wire.Offer(version, suites, server_name),
        timeout=timeout, transcript=transcript,
        purpose=f"ClientHello offering only {version.label}",
    )  # fmt: skip
    hello = flight.server_hello
    if hello is None and flight.fault is not None:
        raise flight.fault  # garbage, a stall or a reset before any ServerHello
    if hello is not None:
        outcome = HelloOutcome.ACCEPTED if flight.accepted else HelloOutcome.OTHER_VERSION
    else:
        outcome = HelloOutcome.ALERT if flight.alert is not None else HelloOutcome.CLOSED
    return HelloResult(
        offered=version,
        outcome=outcome,
        negotiated=hello.version if hello else None,
        cipher_suite=hello.suite if hello else None,
        alert=flight.alert,
        client_hello=flight.client_hello,
        server_bytes=flight.server_bytes,
        duration_s=flight.duration_s,
    )


def default_server_name(host: str, configured: str | None) -> str | None:
    """SNI: the profile's `tls.server_name`, else the host if it is a name (never an IP)."""
    if configured:
        return configured
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    return None


def dissect(data: bytes) -> str:
    """scapy's layer-by-layer view of TLS bytes, for the evidence; never raises."""
    try:
        return str(TLS(data).show(dump=True))
    except Exception as exc:  # scapy may choke on hostile bytes; evidence must not
        return f"(scapy could not dissect these bytes: {exc!r})"
