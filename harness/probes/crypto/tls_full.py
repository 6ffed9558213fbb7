"""Complete TLS handshakes with scapy's TLS session: TLS 1.3 certificates and renegotiation.

Two questions need keys rather than a first flight: which certificate chain a TLS 1.3-only
server sends (it is encrypted), and whether a TLS 1.2 server accepts a renegotiation
the client starts. scapy derives the keys and encrypts and decrypts the records; the
connection is our transport (scope-checked, timed out, transcribed).
"""

from __future__ import annotations

import enum
import struct
import time
from dataclasses import dataclass, replace

from scapy.layers.tls.handshake import TLSClientKeyExchange, TLSFinished
from scapy.layers.tls.record import TLS, TLSAlert, TLSChangeCipherSpec
from scapy.layers.tls.record_tls13 import TLS13
from scapy.layers.tls.session import tlsSession

from harness.core.deadline import Deadline
from harness.core.errors import DeviceTimeout, DeviceUnreachable, ProtocolViolation
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto.tls import TlsVersion
from harness.probes.crypto.tls_wire import (
    ALERT,
    APPLICATION_DATA,
    CERTIFICATE,
    HANDSHAKE,
    SERVER_HELLO_DONE,
    Offer,
    hello_record,
    parse_server_hello,
)
from harness.transports import net

_FINISHED = 20


class _Session:
    """A TCP connection whose TLS records scapy builds, encrypts and decrypts."""

    def __init__(self, conn: net.TcpConnection, deadline: Deadline) -> None:
        self.conn = conn
        self.deadline = deadline
        self.tls = tlsSession(connection_end="client")
        self.received = b""
        self._pending = b""

    def send_hello(self, offer: Offer) -> bytes:
        data = hello_record(offer, self.tls)
        self.conn.send(data, f"ClientHello ({offer.version.label})")
        return data

    def send(self, *messages: object, note: str) -> None:
        data = b"".join(bytes(TLS(msg=[m], tls_session=self.tls).raw_stateful()) for m in messages)
        self.conn.send(data, note)

    def record(self) -> tuple[int, object] | None:
        """(content type, scapy packet) of the next record; None if the peer closed."""
        while True:
            if len(self._pending) >= 5:
                if self._pending[1] != 0x03:
                    raise ProtocolViolation(
                        self.conn.target, f"not a TLS record: {self._pending[:16].hex()}"
                    )
                (length,) = struct.unpack_from(">H", self._pending, 3)
                if len(self._pending) >= 5 + length:
                    raw = self._pending[: 5 + length]
                    self._pending = self._pending[5 + length :]
                    return raw[0], self._parse(raw)
            if self.deadline.expired:
                raise DeviceTimeout(self.conn.target, "handshake did not finish in time")
            chunk = self.conn.recv(self.deadline.step(self.conn.timeout))
            if not chunk:
                return None
            self.received += chunk
            self._pending += chunk

    def _parse(self, raw: bytes) -> object:
        try:
            tls13 = (self.tls.tls_version or 0) >= int(TlsVersion.TLS1_3)
            packet: object
            if raw[0] == APPLICATION_DATA and tls13:
                packet = TLS13(raw, tls_session=self.tls)
            else:
                packet = TLS(raw, tls_session=self.tls)
            self.tls = packet.tls_session
        except Exception as exc:  # scapy raises anything on hostile bytes
            raise ProtocolViolation(self.conn.target, f"undecodable TLS record: {exc!r}") from None
        return packet

    def handshake_messages(self) -> list[bytes]:
        return list(self.tls.handshake_messages)


def tls13_chain(
    scope: Scope, host: str, port: int, offer: Offer, *, timeout: float, transcript: Transcript
) -> tuple[bytes, ...]:
    """The certificate chain a TLS 1.3 server sends, decrypted with our key share's secret."""
    with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
        session = _Session(conn, Deadline(timeout))
        session.send_hello(offer)
        while True:
            record = session.record()
            if record is None:
                raise DeviceUnreachable(conn.target, "closed before sending its certificate")
            kind, packet = record
            if kind == ALERT and not session.tls.tls_version:
                raise ProtocolViolation(conn.target, f"TLS 1.3 refused: {packet!r}")
            for message in session.handshake_messages():
                if message[:1] == bytes([CERTIFICATE]):
                    return _tls13_certificates(message[4:], conn.target)
                if message[:1] == bytes([_FINISHED]):
                    raise ProtocolViolation(conn.target, "Finished without a Certificate")


def _tls13_certificates(body: bytes, target: str) -> tuple[bytes, ...]:
    try:
        at = 1 + body[0]  # certificate_request_context
        end = at + 3 + int.from_bytes(body[at : at + 3], "big")
        at += 3
        found = []
        while at + 3 <= min(end, len(body)):
            length = int.from_bytes(body[at : at + 3], "big")
            found.append(body[at + 3 : at + 3 + length])
            at += 3 + length
            at += 2 + int.from_bytes(body[at : at + 2], "big")  # per-certificate extensions
    except IndexError:
        raise ProtocolViolation(target, "malformed TLS 1.3 Certificate message") from None
    return tuple(found)


class RenegotiationOutcome(str, enum.Enum):
    REFUSED = "refused"  # an alert (no_renegotiation or fatal) or a close
    ACCEPTED = "accepted"  # the server answered the new ClientHello with a handshake
    IGNORED = "ignored"  # no answer within the timeout: the server did not renegotiate


@dataclass(frozen=True)
class Renegotiation:
    """What a server did with a ClientHello sent inside an established TLS 1.2 session."""

    outcome: RenegotiationOutcome
    suite: int
    alert: int | None
    server_bytes: bytes
    duration_s: float
    detail: str


def client_renegotiation(
    scope: Scope, host: str, port: int, offer: Offer, *, timeout: float, transcript: Transcript
) -> Renegotiation:
    """Complete a handshake for `offer` (TLS <= 1.2), then start a renegotiation."""
    started = time.monotonic()
    with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
        session = _Session(conn, Deadline(timeout * 2))
        session.send_hello(offer)
        suite = _complete_handshake(session, conn.target)
        transcript.event("handshake complete; sending a ClientHello inside the session")
        verify_data = next(
            (m[4:] for m in session.handshake_messages() if m[:1] == bytes([_FINISHED])), b""
        )
        again = hello_record(
            replace(offer, renegotiation_info=verify_data),
            session.tls,
            record_version=int(offer.version),
        )
        conn.send(again, "renegotiation ClientHello (encrypted)")
        try:
            outcome, alert, detail = _renegotiation_answer(session, Deadline(timeout))
        except DeviceTimeout:
            outcome, alert, detail = RenegotiationOutcome.IGNORED, None, "no answer"
    return Renegotiation(
        outcome, suite, alert, session.received, time.monotonic() - started, detail
    )


def _complete_handshake(session: _Session, target: str) -> int:
    suite: int | None = None
    while True:
        record = session.record()
        if record is None:
            raise DeviceUnreachable(target, "closed during the handshake")
        kind, packet = record
        if kind == ALERT:
            raise ProtocolViolation(target, f"handshake refused: {_summary(packet)}")
        messages = session.handshake_messages()
        if suite is None and messages and len(messages) >= 2:
            suite = parse_server_hello(messages[1][4:], target).suite
        if kind == HANDSHAKE and messages and messages[-1][:1] == bytes([SERVER_HELLO_DONE]):
            break
    session.send(
        TLSClientKeyExchange(),
        TLSChangeCipherSpec(),
        TLSFinished(),
        note="ClientKeyExchange, ChangeCipherSpec, Finished",
    )
    while True:
        record = session.record()
        if record is None:
            raise DeviceUnreachable(target, "closed before its Finished")
        kind, packet = record
        if kind == ALERT:
            raise ProtocolViolation(target, f"handshake refused: {_summary(packet)}")
        if kind == HANDSHAKE:  # the server's Finished (encrypted)
            assert suite is not None
            return suite


def _renegotiation_answer(
    session: _Session, deadline: Deadline
) -> tuple[RenegotiationOutcome, int | None, str]:
    session.deadline = deadline
    record = session.record()
    if record is None:
        return RenegotiationOutcome.REFUSED, None, "connection closed"
    kind, packet = record
    if kind == ALERT:
        alert = _alert_of(packet)
        return RenegotiationOutcome.REFUSED, alert, _summary(packet)
    if kind == HANDSHAKE:
        return RenegotiationOutcome.ACCEPTED, None, _summary(packet)
    return RenegotiationOutcome.REFUSED, None, f"record type {kind}: {_summary(packet)}"


def _alert_of(packet: object) -> int | None:
    for message in getattr(packet, "msg", []):
        if isinstance(message, TLSAlert):
            return int(message.descr)
    return None


def _summary(packet: object) -> str:
    try:
        return str(packet.summary())  # type: ignore[attr-defined]
    except Exception:
        return repr(packet)[:200]
