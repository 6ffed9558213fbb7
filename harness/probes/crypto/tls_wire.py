"""One TLS ClientHello and the server's first flight, as bytes and as parsed facts.

`Offer` says what a ClientHello offers; `exchange` sends it on a fresh connection and
reads the answer up to ServerHelloDone (TLS <= 1.2; certificate and key exchange are
in the clear there) or up to the ServerHello (TLS 1.3). The parsing is done on the raw
bytes here, so a hostile or broken server cannot confuse a dissector: anything that is
not TLS, a record cut short, a stall or a reset is kept as the flight's `fault`
(a DeviceError) together with every byte that did arrive.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

from scapy.layers.tls.extensions import (
    ServerName,
    TLS_Ext_EncryptThenMAC,
    TLS_Ext_ExtendedMasterSecret,
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
from scapy.layers.tls.session import tlsSession

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout, DeviceUnreachable, ProtocolViolation
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import tls_suites
from harness.probes.crypto.tls_suites import OFFERED_GROUPS, SCSV_FALLBACK, TlsVersion
from harness.transports import net

HANDSHAKE, ALERT, CHANGE_CIPHER_SPEC, APPLICATION_DATA = 0x16, 0x15, 0x14, 0x17
SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE, SERVER_HELLO_DONE = 2, 11, 12, 14
INAPPROPRIATE_FALLBACK = 86  # the alert a server sends a hello with TLS_FALLBACK_SCSV (RFC 7507)
EXT_RENEGOTIATION_INFO = 0xFF01
EXT_ENCRYPT_THEN_MAC = 0x0016
EXT_SUPPORTED_VERSIONS = 0x002B
EXT_KEY_SHARE = 0x0033
DEFLATE = 1
X25519, SECP256R1 = 0x001D, 0x0017
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
MAX_FLIGHT = 1 << 17  # bytes of one server flight we read at most
_SIG_ALGS = (
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0809, 0x080A, 0x080B,
    0x0401, 0x0501, 0x0601, 0x0203, 0x0201, 0x0402, 0x0202,
)  # fmt: skip


@dataclass(frozen=True)
class Offer:
    """What one ClientHello offers."""

    version: TlsVersion
    suites: tuple[int, ...]
    server_name: str | None = None
    groups: tuple[int, ...] = OFFERED_GROUPS
    key_shares: tuple[int, ...] = (X25519, SECP256R1)  # TLS 1.3 only; () asks for a retry
    compression: tuple[int, ...] = (0,)
    fallback_scsv: bool = False
    renegotiation_info: bytes = b""  # our Finished verify_data, when renegotiating


def hello_record(
    offer: Offer, session: tlsSession | None = None, record_version: int | None = None
) -> bytes:
    """The ClientHello record for `offer` (built, and encrypted if keyed, in `session`)."""
    extensions: list[object] = []
    if offer.server_name:
        extensions.append(
            TLS_Ext_ServerName(servernames=[ServerName(servername=offer.server_name.encode())])
        )
    extensions += [
        TLS_Ext_SupportedGroups(groups=list(offer.groups)),
        TLS_Ext_SupportedPointFormat(ecpl=[0]),
        TLS_Ext_SignatureAlgorithms(sig_algs=list(_SIG_ALGS)),
    ]
    suites = list(offer.suites) + ([SCSV_FALLBACK] if offer.fallback_scsv else [])
    if offer.version is TlsVersion.TLS1_3:
        extensions += [
            TLS_Ext_SupportedVersion_CH(versions=[int(TlsVersion.TLS1_3)]),
            TLS_Ext_KeyShare_CH(client_shares=[KeyShareEntry(group=g) for g in offer.key_shares]),
        ]
        hello = TLSClientHello(version=0x0303, ciphers=suites, comp=[0], ext=extensions)
    else:
        extensions += [
            TLS_Ext_RenegotiationInfo(renegotiated_connection=offer.renegotiation_info),
            TLS_Ext_EncryptThenMAC(),
            TLS_Ext_ExtendedMasterSecret(),
        ]
        hello = TLSClientHello(
            version=int(offer.version), ciphers=suites, comp=list(offer.compression), ext=extensions
        )
    if record_version is None:
        record_version = 0x0300 if offer.version is TlsVersion.SSL3 else 0x0301
    record = TLS(version=record_version, msg=[hello], tls_session=session)
    return bytes(record.raw_stateful()) if session is not None else bytes(record)


@dataclass(frozen=True)
class ServerHello:
    """The fields of a ServerHello (or HelloRetryRequest) the probes judge."""

    version: int  # from supported_versions when present
    suite: int
    compression: int
    extensions: dict[int, bytes]
    retry_request: bool

    @property
    def key_share_group(self) -> int | None:
        data = self.extensions.get(EXT_KEY_SHARE)
        return struct.unpack(">H", data[:2])[0] if data and len(data) >= 2 else None


@dataclass(frozen=True)
class Flight:
    """A server's answer to one ClientHello."""

    offer: Offer
    client_hello: bytes
    server_bytes: bytes
    server_hello: ServerHello | None = None
    alert: int | None = None
    certificates: tuple[bytes, ...] = ()
    ske_group: int | None = None  # ECDHE curve named in ServerKeyExchange
    dh_bits: int | None = None  # finite-field DH prime size in ServerKeyExchange
    fault: DeviceError | None = None
    duration_s: float = 0.0
    messages: tuple[int, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        """A ServerHello for exactly the offered version."""
        hello = self.server_hello
        return hello is not None and hello.version == int(self.offer.version)

    @property
    def suite(self) -> int | None:
        return self.server_hello.suite if self.server_hello else None


class _Reader:
    """TLS records from a connection, bounded by a deadline and a size limit."""

    def __init__(self, conn: net.TcpConnection, deadline: Deadline) -> None:
        self.conn = conn
        self.deadline = deadline
        self.data = b""
        self._at = 0

    def record(self) -> tuple[int, bytes] | None:
        """(content type, body) of the next record; None when the peer closed cleanly."""
        while True:
            pending = self.data[self._at :]
            if len(pending) >= 5:
                if pending[0] not in (HANDSHAKE, ALERT, CHANGE_CIPHER_SPEC, APPLICATION_DATA) or (
                    pending[1] != 0x03
                ):
                    raise ProtocolViolation(
                        self.conn.target, f"answer is not a TLS record: {pending[:16].hex()}"
                    )
                (length,) = struct.unpack_from(">H", pending, 3)
                if len(pending) >= 5 + length:
                    self._at += 5 + length
                    return pending[0], pending[5 : 5 + length]
            if len(self.data) >= MAX_FLIGHT:
                raise ProtocolViolation(self.conn.target, f"flight larger than {MAX_FLIGHT} bytes")
            if self.deadline.expired:
                raise DeviceTimeout(
                    self.conn.target, f"answer incomplete after {len(self.data)} bytes"
                )
            chunk = self.conn.recv(self.deadline.step(self.conn.timeout))
            if not chunk:
                if pending:
                    raise DeviceUnreachable(
                        self.conn.target,
                        f"connection closed inside a TLS record ({len(pending)} bytes)",
                    )
                return None
            self.data += chunk


def exchange(
    scope: Scope,
    host: str,
    port: int,
    offer: Offer,
    *,
    timeout: float,
    transcript: Transcript,
    purpose: str,
) -> Flight:
    """One connection, one ClientHello, the server's first flight; never raises DeviceError
    once connected (the fault is kept in the flight). Connect failures do raise."""
    hello = hello_record(offer)
    started = time.monotonic()
    with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
        conn.send(hello, purpose)
        reader = _Reader(conn, Deadline(timeout))
        facts: dict[str, object] = {}
        try:
            _read_flight(reader, offer, facts)
        except DeviceError as exc:
            facts["fault"] = exc
    return Flight(
        offer=offer,
        client_hello=hello,
        server_bytes=reader.data,
        duration_s=time.monotonic() - started,
        **facts,  # type: ignore[arg-type]
    )


def _read_flight(reader: _Reader, offer: Offer, facts: dict[str, object]) -> None:
    target = reader.conn.target
    handshake = b""
    messages: list[int] = []
    while True:
        record = reader.record()
        if record is None:
            return
        kind, body = record
        if kind == ALERT:
            if len(body) < 2:
                raise ProtocolViolation(target, "alert record shorter than 2 bytes")
            facts["alert"] = body[1]
            return
        if kind != HANDSHAKE:
            if "server_hello" in facts:
                return  # TLS 1.3 (or a middlebox-compatible CCS): the clear part is over
            raise ProtocolViolation(target, f"record type {kind} before the ServerHello")
        handshake += body
        while len(handshake) >= 4:
            length = int.from_bytes(handshake[1:4], "big")
            if len(handshake) < 4 + length:
                break
            kind_of, message = handshake[0], handshake[4 : 4 + length]
            handshake = handshake[4 + length :]
            messages.append(kind_of)
            facts["messages"] = tuple(messages)
            if not _take(kind_of, message, offer, facts, target):
                return


def _take(kind: int, message: bytes, offer: Offer, facts: dict[str, object], target: str) -> bool:
    """Record one handshake message; False when the flight is over for our purpose."""
    if "server_hello" not in facts:
        if kind != SERVER_HELLO:
            raise ProtocolViolation(target, f"first handshake message is type {kind}")
        hello = parse_server_hello(message, target)
        facts["server_hello"] = hello
        return not (hello.retry_request or hello.version >= int(TlsVersion.TLS1_3))
    if kind == CERTIFICATE:
        facts["certificates"] = parse_certificate_list(message, target)
    elif kind == SERVER_KEY_EXCHANGE:
        chosen = facts["server_hello"]
        assert isinstance(chosen, ServerHello)
        facts.update(_key_exchange(message, tls_suites.suite(chosen.suite).key_exchange))
    elif kind == SERVER_HELLO_DONE:
        return False
    return True


def parse_server_hello(message: bytes, target: str) -> ServerHello:
    """Version (supported_versions wins), suite, compression and extensions of a ServerHello."""
    try:
        (version,) = struct.unpack_from(">H", message, 0)
        random = message[2:34]
        at = 35 + message[34]
        (suite,) = struct.unpack_from(">H", message, at)
        compression = message[at + 2]
        at += 3
        extensions: dict[int, bytes] = {}
        if at + 2 <= len(message):
            (total,) = struct.unpack_from(">H", message, at)
            at += 2
            end = min(len(message), at + total)
            while at + 4 <= end:
                ext_type, ext_len = struct.unpack_from(">HH", message, at)
                extensions[ext_type] = message[at + 4 : at + 4 + ext_len]
                at += 4 + ext_len
    except (struct.error, IndexError):
        raise ProtocolViolation(target, f"malformed ServerHello: {message[:48].hex()}") from None
    supported = extensions.get(EXT_SUPPORTED_VERSIONS)
    if supported is not None and len(supported) == 2:
        (version,) = struct.unpack(">H", supported)
    return ServerHello(version, suite, compression, extensions, random == HRR_RANDOM)


def parse_certificate_list(message: bytes, target: str) -> tuple[bytes, ...]:
    """The DER certificates of a TLS <= 1.2 Certificate message (as sent, unvalidated)."""
    certificates = []
    total = int.from_bytes(message[0:3], "big")
    at, end = 3, min(len(message), 3 + total)
    while at + 3 <= end:
        length = int.from_bytes(message[at : at + 3], "big")
        if at + 3 + length > end:
            raise ProtocolViolation(target, "certificate list entry overruns the message")
        certificates.append(message[at + 3 : at + 3 + length])
        at += 3 + length
    return tuple(certificates)


def _key_exchange(message: bytes, key_exchange: str) -> dict[str, object]:
    """The curve (ECDHE) or prime size (DHE) a ServerKeyExchange names; {} if neither."""
    if key_exchange == "ECDHE" and len(message) >= 3 and message[0] == 3:  # named_curve
        return {"ske_group": int.from_bytes(message[1:3], "big")}
    if key_exchange == "DHE" and len(message) >= 2:
        p_len = int.from_bytes(message[0:2], "big")
        prime = message[2 : 2 + p_len]
        if len(prime) == p_len and p_len >= 16:
            return {"dh_bits": int.from_bytes(prime, "big").bit_length()}
    return {}
