"""TLS ClientHellos built with scapy, so the probe is not limited by the local OpenSSL.

`probe_version` offers exactly one protocol version and reads the server's first flight:
a ServerHello naming that version means the version is accepted; an alert, a close, or
a ServerHello for another version means it is refused. Anything that is not TLS is a
`ProtocolViolation` (the check cannot decide), never a pass.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
import time
from dataclasses import dataclass

from scapy.layers.tls.extensions import (
    ServerName,
    TLS_Ext_RenegotiationInfo,
    TLS_Ext_ServerName,
    TLS_Ext_SignatureAlgorithms,
    TLS_Ext_SupportedGroups,
    TLS_Ext_SupportedPointFormat,
    TLS_Ext_SupportedVersion_CH,
)
from scapy.layers.tls.handshake import TLSClientHello
from scapy.layers.tls.keyexchange_tls13 import KeyShareEntry, TLS_Ext_KeyShare_CH
from scapy.layers.tls.record import TLS

from harness.deadline import Deadline
from harness.errors import ProtocolViolation
from harness.scope import Scope
from harness.transcript import Transcript
from harness.transports import net


class TlsVersion(enum.IntEnum):
    """Protocol versions by their wire value."""

    SSL3 = 0x0300
    TLS1_0 = 0x0301
    TLS1_1 = 0x0302
    TLS1_2 = 0x0303
    TLS1_3 = 0x0304

    @property
    def label(self) -> str:
        return "SSLv3" if self is TlsVersion.SSL3 else f"TLS 1.{self.value - 0x0301}"

    @classmethod
    def from_policy(cls, text: str) -> TlsVersion:
        """`"1.2"` -> TLS1_2."""
        return cls(0x0301 + int(text.split(".")[1]))


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
_SIG_ALGS = (
    "sha256+ecdsa", "sha384+ecdsa", "sha256+rsaepss", "sha384+rsaepss", "sha256+rsa",
    "sha384+rsa", "sha512+rsa", "sha1+ecdsa", "sha1+rsa",
)  # fmt: skip
_HANDSHAKE, _ALERT = 0x16, 0x15
_SERVER_HELLO = 0x02
_EXT_SUPPORTED_VERSIONS = 0x002B
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


def client_hello(version: TlsVersion, server_name: str | None) -> bytes:
    """A ClientHello record offering only `version`."""
    extensions: list[object] = []
    if server_name:
        extensions.append(
            TLS_Ext_ServerName(servernames=[ServerName(servername=server_name.encode())])
        )
    extensions += [
        TLS_Ext_SupportedGroups(groups=["x25519", "secp256r1", "secp384r1", "ffdhe2048"]),
        TLS_Ext_SupportedPointFormat(ecpl=[0]),
        TLS_Ext_SignatureAlgorithms(sig_algs=list(_SIG_ALGS)),
    ]
    if version is TlsVersion.TLS1_3:
        extensions += [
            TLS_Ext_SupportedVersion_CH(versions=[int(TlsVersion.TLS1_3)]),
            TLS_Ext_KeyShare_CH(client_shares=[KeyShareEntry(group="x25519")]),
        ]
        hello = TLSClientHello(version=0x0303, ciphers=list(TLS13_SUITES), ext=extensions)
    else:
        extensions.append(TLS_Ext_RenegotiationInfo())
        hello = TLSClientHello(version=int(version), ciphers=list(LEGACY_SUITES), ext=extensions)
    record_version = 0x0300 if version is TlsVersion.SSL3 else 0x0301
    return bytes(TLS(version=record_version, msg=[hello]))


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
    hello = client_hello(version, server_name)
    started = time.monotonic()
    with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
        conn.send(hello, f"ClientHello offering only {version.label}")
        data = conn.recv_until(_first_record_complete, Deadline(timeout), limit=1 << 16)
    outcome, negotiated, suite, alert = parse_first_flight(data, f"{host}:{port}")
    return HelloResult(
        offered=version,
        outcome=(
            HelloOutcome.OTHER_VERSION
            if outcome is HelloOutcome.ACCEPTED and negotiated != version
            else outcome
        ),
        negotiated=negotiated,
        cipher_suite=suite,
        alert=alert,
        client_hello=hello,
        server_bytes=data,
        duration_s=time.monotonic() - started,
    )


def _first_record_complete(data: bytes) -> bool:
    if len(data) < 5:
        return False
    (length,) = struct.unpack_from(">H", data, 3)
    return len(data) >= 5 + length or data[0] not in (_HANDSHAKE, _ALERT)


def parse_first_flight(
    data: bytes, target: str
) -> tuple[HelloOutcome, int | None, int | None, int | None]:
    """(outcome, negotiated version, cipher suite, alert description) of a server's first record."""
    if not data:
        return HelloOutcome.CLOSED, None, None, None
    if len(data) < 5 or data[0] not in (_HANDSHAKE, _ALERT) or data[1] != 0x03:
        raise ProtocolViolation(target, f"answer is not a TLS record: {data[:16].hex()}")
    (length,) = struct.unpack_from(">H", data, 3)
    body = data[5 : 5 + length]
    if len(body) < length:
        raise ProtocolViolation(target, f"TLS record cut short: {len(body)} of {length} bytes")
    if data[0] == _ALERT:
        if len(body) < 2:
            raise ProtocolViolation(target, "alert record shorter than 2 bytes")
        return HelloOutcome.ALERT, None, None, body[1]
    if len(body) < 4 or body[0] != _SERVER_HELLO:
        raise ProtocolViolation(target, f"first handshake message is type {body[:1].hex()}")
    return _parse_server_hello(body[4:], target)


def _parse_server_hello(
    hello: bytes, target: str
) -> tuple[HelloOutcome, int | None, int | None, int | None]:
    try:
        (version,) = struct.unpack_from(">H", hello, 0)
        session_id_len = hello[34]
        at = 35 + session_id_len
        (suite,) = struct.unpack_from(">H", hello, at)
        at += 3  # suite and compression method
        if at + 2 <= len(hello):
            (ext_total,) = struct.unpack_from(">H", hello, at)
            at += 2
            end = min(len(hello), at + ext_total)
            while at + 4 <= end:
                ext_type, ext_len = struct.unpack_from(">HH", hello, at)
                if ext_type == _EXT_SUPPORTED_VERSIONS and ext_len == 2:
                    (version,) = struct.unpack_from(">H", hello, at + 4)
                at += 4 + ext_len
    except (struct.error, IndexError):
        raise ProtocolViolation(target, f"malformed ServerHello: {hello[:48].hex()}") from None
    return HelloOutcome.ACCEPTED, version, suite, None


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
