"""SURFACE-003: does each profiled service complete the protocol the profile names?

Per `network.services` entry: a TCP connection (refused: closed; no answer: undecided),
then on it the protocol's first exchange: SSH key exchange (its own connection, through
paramiko), a TLS handshake for the TLS protocols, then inside it or in the clear an HTTP
answer to GET / (`http`, `https`), a CONNACK to an MQTT CONNECT (`mqtt`, `mqtts`), telnet
option negotiation (`telnet`), a DICOM association answer to an A-ASSOCIATE-RQ for the
Verification service (`dicom-tls`). `tls` is the handshake alone, `other` the connection.
A port that answers in another protocol is asked in the clear what it speaks instead.
The certificate and the answer's status are other checks' business: any HTTP status, any
CONNACK code, an association accepted or rejected completes the protocol.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.config.profile import Service
from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout, DeviceUnreachable, ProtocolViolation
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import cleartext
from harness.probes.crypto.cleartext import Speaks
from harness.transports import net
from harness.transports.ssh import SshSession

ANSWER_LIMIT = 1 << 16  # bytes read of a first answer
DICOM_ANSWERS = {0x02: "A-ASSOCIATE-AC", 0x03: "A-ASSOCIATE-RJ", 0x07: "A-ABORT"}
VERIFICATION_SOP = b"1.2.840.10008.1.1"
DICOM_APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"
IMPLICIT_LITTLE_ENDIAN = b"1.2.840.10008.1.2"


class Spoke(str, enum.Enum):
    """How a service met its profiled protocol."""

    COMPLETED = "completed"
    OTHER = "other"  # it answered, but not in that protocol
    CLOSED = "closed"  # the connection was refused
    UNDECIDED = "undecided"  # no answer in time, or TLS not finished: could not tell


@dataclass(frozen=True)
class ServiceSpoke:
    """One service's answer to its own protocol."""

    name: str
    port: int
    protocol: str
    spoke: Spoke
    detail: str
    instead: str = ""  # what the port speaks in the clear, when not its protocol

    def summary(self) -> str:
        said = f"{self.name} ({self.port}/tcp, {self.protocol}): {self.spoke.value}, {self.detail}"
        return said + (f"; in the clear it speaks {self.instead}" if self.instead else "")


def speak_all(
    scope: Scope,
    host: str,
    services: Sequence[Service],
    *,
    server_name: str | None,
    timeout: float,
    workers: int,
    transcript: Transcript,
) -> tuple[ServiceSpoke, ...]:
    """Every service asked its protocol, `workers` at a time, in the profile's order."""
    with ThreadPoolExecutor(max(1, min(workers, len(services)))) as pool:
        return tuple(
            pool.map(
                lambda s: speak(
                    scope, host, s, server_name=server_name, timeout=timeout, transcript=transcript
                ),
                services,
            )
        )


def speak(
    scope: Scope,
    host: str,
    service: Service,
    *,
    server_name: str | None,
    timeout: float,
    transcript: Transcript,
) -> ServiceSpoke:
    """One service: connect, then its protocol's first exchange."""

    def said(spoke: Spoke, detail: str, instead: str = "") -> ServiceSpoke:
        return ServiceSpoke(service.name, service.port, service.protocol, spoke, detail, instead)

    try:
        conn = net.connect(scope, host, service.port, timeout=timeout, transcript=transcript)
    except DeviceTimeout as exc:
        return said(Spoke.UNDECIDED, f"connect: {exc}")
    except DeviceError as exc:
        return said(Spoke.CLOSED, f"connect: {exc}")
    try:
        with conn:
            detail = _exchange(conn, scope, host, service, server_name, timeout, transcript)
    except DeviceTimeout as exc:
        return said(Spoke.UNDECIDED, str(exc))
    except net.TlsRefused as exc:
        return said(
            Spoke.UNDECIDED,
            f"{exc}; it speaks TLS, but the harness's client could not finish, so what it "
            f"speaks inside ({service.protocol}) was not asked",
        )
    except DeviceError as exc:
        instead = cleartext.identify(
            scope, host, service.port, timeout=timeout, new_transcript=lambda _: transcript
        )
        return said(Spoke.OTHER, str(exc), f"{instead.speaks.value} ({instead.detail})")
    return said(Spoke.COMPLETED, detail)


def _exchange(
    conn: net.TcpConnection,
    scope: Scope,
    host: str,
    service: Service,
    server_name: str | None,
    timeout: float,
    transcript: Transcript,
) -> str:
    """The protocol's first exchange on `conn`: what completed; DeviceError when it did not."""
    protocol = service.protocol
    if protocol == "ssh":  # ours showed the port open; paramiko makes its own connection
        conn.close()
        with SshSession(scope, host, service.port, timeout=timeout, transcript=transcript) as ssh:
            return f"SSH key exchange with {ssh.server_version}"
    if not service.tls:
        return _inside(conn, host, service, timeout) or _NOTHING_MORE
    handshake = f"TLS handshake, {net.start_tls(conn, server_name)}"
    try:
        inside = _inside(conn, host, service, timeout)
    except (DeviceTimeout, ProtocolViolation):
        raise
    except DeviceError as exc:
        failed = str(exc).removeprefix(f"{exc.target}: ")
        raise net.TlsRefused(
            conn.target,
            f"{failed}; the TLS session ended before any answer (a TLS 1.3 server that "
            "wants a client certificate ends it so, after the handshake)",
        ) from None
    return f"{handshake}; {inside}" if inside else handshake


_NOTHING_MORE = "TCP connection (protocol 'other': nothing more to complete)"


def _inside(conn: net.TcpConnection, host: str, service: Service, timeout: float) -> str:
    """The exchange of the protocol itself, in the clear or inside TLS: what completed
    ("" for `tls` and `other`, which complete with the connection or the handshake)."""
    protocol = service.protocol
    done = []
    if protocol in ("http", "https"):
        conn.send(cleartext.HTTP_REQUEST % _host_header(host), "HTTP GET /")
        status_line = _answer(conn, service.port, timeout, lambda d: b"\r\n" in d)
        done.append(_named(status_line, (Speaks.HTTP, Speaks.HTTP_REDIRECT), conn.target))
    elif protocol in ("mqtt", "mqtts"):
        conn.send(cleartext.mqtt_connect("medsec-probe"), "MQTT CONNECT")
        connack = _answer(conn, service.port, timeout, lambda d: len(d) >= 4)
        done.append(_named(connack, (Speaks.MQTT,), conn.target))
    elif protocol == "telnet":
        negotiation = _answer(conn, service.port, timeout, lambda d: len(d) >= 3)
        done.append(_named(negotiation, (Speaks.TELNET,), conn.target))
    elif protocol == "dicom-tls":
        conn.send(associate_request(b"ANY-SCP", b"MEDSEC"), "DICOM A-ASSOCIATE-RQ (Verification)")
        done.append(_association(conn, timeout))
    return "; ".join(done)


def _answer(
    conn: net.TcpConnection, port: int, timeout: float, enough: Callable[[bytes], bool]
) -> cleartext.PortFinding:
    """The first answer (until `enough`, or the peer closes), named; inside TLS, a session
    ended before any answer is a `DeviceUnreachable` (see `_exchange`)."""
    answer = conn.recv_until(lambda d: enough(d) or b"\n" in d, Deadline(timeout), ANSWER_LIMIT)
    if not answer and conn.tls:
        raise DeviceUnreachable(conn.target, "closed without answering")
    return cleartext.PortFinding.of(port, answer)


def _named(finding: cleartext.PortFinding, wanted: tuple[Speaks, ...], target: str) -> str:
    """What the answer was; ProtocolViolation when it is not one of `wanted`."""
    if finding.speaks not in wanted:
        said = f"{finding.speaks.value} ({finding.detail})"
        raise ProtocolViolation(target, f"answered {said}, not {wanted[0].value}")
    return finding.detail


def _host_header(host: str) -> bytes:
    return (f"[{host}]" if ":" in host else host).encode()


def associate_request(called: bytes, calling: bytes) -> bytes:
    """A DICOM A-ASSOCIATE-RQ PDU (PS3.8 §9.3.2) proposing Verification in implicit little
    endian, maximum PDU 16 KiB."""
    presentation = _item(
        0x20,
        bytes([1, 0, 0, 0]) + _item(0x30, VERIFICATION_SOP) + _item(0x40, IMPLICIT_LITTLE_ENDIAN),
    )
    user = _item(0x50, _item(0x51, struct.pack(">I", 16384)))
    body = (
        struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + bytes(32)
        + _item(0x10, DICOM_APPLICATION_CONTEXT) + presentation + user
    )  # fmt: skip
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def _item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(value)) + value


def _association(conn: net.TcpConnection, timeout: float) -> str:
    answer = conn.recv_until(lambda d: len(d) >= 6, Deadline(timeout), ANSWER_LIMIT)
    kind = answer[0] if answer else None
    if kind not in DICOM_ANSWERS or answer[1] != 0:
        shown = answer[:16].hex() or "nothing"
        raise ProtocolViolation(conn.target, f"answered {shown}, not a DICOM association PDU")
    return f"DICOM {DICOM_ANSWERS[kind]}"
