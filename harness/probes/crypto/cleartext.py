"""Which protocol a port speaks, as far as cleartext is concerned; MQTT CONNECT/CONNACK.

`identify` listens for a greeting (telnet option negotiation, FTP/SMTP `220`, an SSH
identification), else sends an HTTP request, else (new connection) an MQTT CONNECT, and
names what answered. Only protocols we recognise are judged; an unknown binary answer is
recorded as such. Two HTTP answers get a second look on a new connection: a redirect of
`/` to https counts as a bare redirect only if a path no device has redirects too; a
refusal of plaintext (400, 426, 497) is followed by a TLS handshake, and a port where it
completes speaks TLS. `snmp_communities` (UDP) and `snmp_over_tcp` (TCP, RFC 3430) ask
SNMP v1/v2c with common community strings.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from scapy.asn1.asn1 import ASN1_OID
from scapy.layers.snmp import SNMP, SNMPget, SNMPresponse, SNMPvarbind

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import net

GREETING_WAIT_S = 1.0  # a cleartext service that greets does so at once
HTTP_GET = b"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: medsec-harness\r\nConnection: close\r\n\r\n"
HTTP_REQUEST = HTTP_GET.replace(b"%s", b"/", 1)  # GET /; `% host` fills the Host header
# What TLS web servers answer a plaintext request with: 400 (nginx, Apache, Go), 497
# (nginx's own code, where an error_page shows it), 426 Upgrade Required.
PLAINTEXT_REFUSED = frozenset({400, 426, 497})
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SNMP_PORT = 161
SNMP_TCP_WAIT_S = 0.5  # asked on every silent profiled port: an agent answers at once
SNMP_TCP_LIMIT = 1 << 16
COMMON_COMMUNITIES = ("public", "private")
WELL_KNOWN_CLEARTEXT = (21, 23, 80, 1883, 8080)
CONNACK = 0x20
HTTP_ERROR = 400  # a status from here on refuses the request


class ConnackCode(enum.IntEnum):
    """MQTT 3.1.1 CONNACK return codes (section 3.2.2.3); 6 to 255 are reserved."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USER_NAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5
    RESERVED = 256  # stands for any of 6-255

    @classmethod
    def _missing_(cls, value: object) -> ConnackCode | None:
        return cls.RESERVED if isinstance(value, int) and 6 <= value <= 255 else None

    @property
    def meaning(self) -> str:
        return "unknown" if self is ConnackCode.RESERVED else self.name.lower().replace("_", " ")


class Speaks(str, enum.Enum):
    """What a port was found to speak."""

    TELNET = "telnet"
    FTP = "ftp"
    SMTP = "smtp"
    HTTP = "http"
    HTTP_REDIRECT = "http-redirect-to-https"
    MQTT = "mqtt"
    SNMP = "snmp"
    SSH = "ssh"
    TLS = "tls"
    UNKNOWN = "unknown"
    SILENT = "silent"
    CLOSED = "closed"

    @property
    def cleartext(self) -> bool:
        return self in (
            Speaks.TELNET, Speaks.FTP, Speaks.SMTP, Speaks.HTTP, Speaks.MQTT, Speaks.SNMP,
        )  # fmt: skip


@dataclass(frozen=True)
class PortFinding:
    """What one port answered, with the bytes and the status an HTTP or MQTT answer gave."""

    port: int
    speaks: Speaks
    detail: str
    answer: bytes
    http_status: int | None = None  # the status code of an HTTP answer, if it had one
    connack: ConnackCode | None = None  # the return code of an MQTT CONNACK
    transport: Literal["tcp", "udp"] = "tcp"
    undecided: str = ""  # why what the port speaks could not be settled, if it could not

    @classmethod
    def of(cls, port: int, answer: bytes) -> PortFinding:
        """What `answer` says, named and with its status."""
        speaks, detail = classify(answer)
        return cls(port, speaks, detail, answer, _http_status(answer), parse_connack(answer))

    @property
    def answers_in_the_clear(self) -> bool:
        """An application answer to a cleartext request: any MQTT, HTTP other than an error."""
        if self.speaks is Speaks.MQTT:
            return True
        refused = self.http_status is not None and self.http_status >= HTTP_ERROR
        return self.speaks is Speaks.HTTP and not refused

    def summary(self) -> str:
        return f"{self.port}/{self.transport}: {self.speaks.value} ({self.detail})"


def cleartext_problems(findings: Sequence[PortFinding], *, redirect_allowed: bool) -> list[str]:
    """CRYPTO-010: ports that speak a cleartext protocol, then HTTP redirects to HTTPS
    unless the profile allows them."""
    problems = [f.summary() for f in findings if f.speaks.cleartext]
    if not redirect_allowed:
        problems += [
            f.summary() + " (http_redirect_allowed is false)"
            for f in findings
            if f.speaks is Speaks.HTTP_REDIRECT
        ]
    return problems


def mqtt_connect(client_id: str, username: str | None = None, password: str | None = None) -> bytes:
    """An MQTT 3.1.1 CONNECT packet (clean session, keep-alive 30 s)."""
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + b"\x00\x1e" + _string(client_id)
    if username is not None:
        body += _string(username)
    if password is not None:
        body += _string(password)
    return b"\x10" + remaining_length(len(body)) + body


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def remaining_length(length: int) -> bytes:
    """MQTT's variable-length Remaining Length field."""
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def parse_connack(data: bytes) -> ConnackCode | None:
    """The return code of a CONNACK at the start of `data`, None if it is not one."""
    if len(data) >= 4 and data[0] == CONNACK and data[1] == 2:
        return ConnackCode(data[3])
    return None


def classify(data: bytes) -> tuple[Speaks, str]:
    """Name the protocol of a server's answer."""
    if not data:
        return Speaks.CLOSED, "closed without answering"
    if data[0] == 0xFF and len(data) > 1 and 0xFB <= data[1] <= 0xFE:
        return Speaks.TELNET, "telnet option negotiation"
    if data.startswith(b"SSH-"):
        return Speaks.SSH, data.split(b"\n", 1)[0].decode("ascii", "replace").strip()
    if data[:1] in (b"\x15", b"\x16") and data[1:2] == b"\x03":
        return Speaks.TLS, "TLS record"
    connack = parse_connack(data)
    if connack is not None:
        return Speaks.MQTT, f"CONNACK {data[3]} ({connack.meaning})"
    if data.startswith(b"HTTP/"):
        return _http(data)
    first = data.split(b"\n", 1)[0].decode("latin-1", "replace").strip()
    if re.match(r"^220[ -]", first):
        return (Speaks.SMTP, first) if "smtp" in first.lower() else (Speaks.FTP, first)
    return Speaks.UNKNOWN, f"{len(data)} bytes: {data[:24].hex()}"


def _http_status(data: bytes) -> int | None:
    """The status code of an HTTP response at the start of `data`."""
    if not data.startswith(b"HTTP/"):
        return None
    parts = data.split(b"\r\n", 1)[0].split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _http(data: bytes) -> tuple[Speaks, str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1", "replace")
    lines = head.split("\r\n")
    status_line = lines[0]
    status = _http_status(data)
    location = next(
        (
            line.split(":", 1)[1].strip()
            for line in lines[1:]
            if line.lower().startswith("location:")
        ),
        "",
    )
    if status in (301, 302, 303, 307, 308) and location.lower().startswith("https://"):
        return Speaks.HTTP_REDIRECT, f"{status} to {location}"
    return Speaks.HTTP, status_line


def identify(
    scope: Scope,
    host: str,
    port: int,
    *,
    timeout: float,
    new_transcript: Callable[[str], Transcript],
) -> PortFinding:
    """Greeting, else HTTP, else MQTT CONNECT: what this port speaks in the clear (each
    connection on a transcript of its own)."""
    wait = min(timeout, GREETING_WAIT_S)
    try:
        first = new_transcript(f"{host}:{port}, connection 1: a greeting, else HTTP")
        with net.connect(scope, host, port, timeout=timeout, transcript=first) as conn:
            greeting = _read(conn, wait)
            if greeting is None:  # silent: ask in HTTP
                conn.send(HTTP_REQUEST % host.encode(), "HTTP request")
                greeting = _read(conn, wait)
        if greeting is not None and greeting:
            found = PortFinding.of(port, greeting)
            return _second_look(scope, host, found, timeout=timeout, new_transcript=new_transcript)
        second = new_transcript(f"{host}:{port}, connection 2: MQTT CONNECT")
        with net.connect(scope, host, port, timeout=timeout, transcript=second) as conn:
            conn.send(mqtt_connect("medsec-probe"), "MQTT CONNECT (no credentials)")
            answer = _read(conn, wait)
    except DeviceError as exc:
        return PortFinding(port, Speaks.CLOSED, str(exc), b"")
    if answer is None:
        return PortFinding(port, Speaks.SILENT, "no answer to a greeting, HTTP or MQTT", b"")
    return PortFinding.of(port, answer)


def _second_look(
    scope: Scope,
    host: str,
    found: PortFinding,
    *,
    timeout: float,
    new_transcript: Callable[[str], Transcript],
) -> PortFinding:
    """`found` settled on a new connection where one HTTP answer says too little: a redirect
    of `/` (is every path redirected?), a refusal of plaintext (is it a TLS port?)."""
    if found.speaks is Speaks.HTTP_REDIRECT:
        return _redirects_everywhere(scope, host, found, timeout, new_transcript)
    if found.speaks is Speaks.HTTP and found.http_status in PLAINTEXT_REFUSED:
        return _tls_instead(scope, host, found, timeout, new_transcript)
    return found


def _redirects_everywhere(
    scope: Scope,
    host: str,
    found: PortFinding,
    timeout: float,
    new_transcript: Callable[[str], Transcript],
) -> PortFinding:
    """A bare redirect only if a path no device has is redirected to https too; HTTP in the
    clear if it gets any other HTTP answer; undecided without one."""
    port, path = found.port, f"/medsec-{secrets.token_hex(8)}"
    wait = min(timeout, GREETING_WAIT_S)
    transcript = new_transcript(f"{host}:{port}, connection 2: GET {path}")
    try:
        with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
            conn.send(HTTP_GET % (path.encode(), host.encode()), f"HTTP request for {path}")
            answer = _read(conn, wait)
    except DeviceError as exc:
        return replace(found, undecided=f"GET {path} could not be asked ({exc})")
    if answer is None:
        return replace(found, undecided=f"GET {path} got no answer within {wait:g}s")
    if not answer.startswith(b"HTTP/"):
        return replace(found, undecided=f"GET {path} got no HTTP answer ({classify(answer)[1]})")
    other = PortFinding.of(port, answer)
    if other.speaks is Speaks.HTTP_REDIRECT:
        return replace(found, detail=f"{found.detail}; GET {path}: {other.detail}")
    return replace(other, detail=f"GET / got {found.detail}, but GET {path} got {other.detail}")


def _tls_instead(
    scope: Scope,
    host: str,
    found: PortFinding,
    timeout: float,
    new_transcript: Callable[[str], Transcript],
) -> PortFinding:
    """TLS if a handshake completes (the plain answer was only a TLS server's refusal of
    plaintext) or the port answers it with a TLS alert; else `found` as it was."""
    port = found.port
    transcript = new_transcript(f"{host}:{port}, connection 2: a TLS handshake")
    try:
        version = net.tls_handshake(scope, host, port, timeout=timeout, transcript=transcript)
    except net.TlsRefused as exc:  # an alert: only a TLS server sends one
        spoke = f"a TLS handshake refused ({exc})"
    except DeviceError as exc:
        transcript.event(f"no TLS: {exc}")
        return found
    else:
        spoke = f"a TLS handshake completed ({version})"
    detail = f"plain HTTP got only {found.detail!r}; {spoke}"
    return replace(found, speaks=Speaks.TLS, detail=detail)


def _read(conn: net.TcpConnection, wait: float) -> bytes | None:
    """What arrives within `wait` (b"" if the peer closed), None if nothing did."""
    try:
        data = conn.recv(wait)
    except DeviceError:
        return None
    if not data:
        return b""
    try:
        more = conn.recv(0.05)
    except DeviceError:
        more = b""
    return data + more


def cleartext_request(
    scope: Scope,
    host: str,
    port: int,
    request: bytes,
    *,
    timeout: float,
    transcript: Transcript,
    half_close: bool = False,
) -> PortFinding:
    """Send a cleartext application request (to a TLS port, to a broker); what answered.

    With `half_close` the request is followed by the end of the stream: a TLS server
    that took the request for the start of a record stops waiting for the rest and
    closes at once, while an HTTP server still answers a complete request."""
    with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
        conn.send(request, "cleartext request")
        if half_close:
            conn.shutdown_write()
        try:
            answer = conn.recv_until(lambda d: len(d) >= 4, Deadline(timeout), limit=1 << 16)
        except DeviceError as exc:
            return PortFinding(port, Speaks.SILENT, f"no answer ({exc})", b"")
    return PortFinding.of(port, answer)


def mqtt_over_tls(
    scope: Scope,
    host: str,
    port: int,
    *,
    server_name: str | None,
    timeout: float,
    transcript: Transcript,
) -> PortFinding:
    """A TLS connection without a client certificate, then a CONNECT without credentials."""
    with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
        net.start_tls(conn, server_name)  # the broker's authentication of us is the question
        conn.send(mqtt_connect("medsec-probe"), "MQTT CONNECT without credentials")
        try:
            answer = conn.recv_until(lambda d: len(d) >= 4, Deadline(timeout), limit=4096)
        except DeviceError as exc:
            return PortFinding(port, Speaks.SILENT, f"no CONNACK ({exc})", b"")
    return PortFinding.of(port, answer)


def snmp_get_requests(communities: Iterable[str] = COMMON_COMMUNITIES) -> list[bytes]:
    """SNMP v1 and v2c GETs of sysDescr, one per community and version."""
    return [
        bytes(
            SNMP(
                version=version,
                community=community,
                PDU=SNMPget(varbindlist=[SNMPvarbind(oid=ASN1_OID(SYS_DESCR))]),
            )
        )
        for community in communities
        for version in (0, 1)
    ]


def describe_snmp_v1(answer: bytes) -> str | None:
    """`SNMP v1 answers community 'public'` for a v1/v2c message, None for anything else."""
    try:
        reply = SNMP(answer)
        community = reply.community.val.decode("latin-1", "replace")
        version = int(reply.version.val)
    except Exception:  # scapy on hostile bytes
        return None
    if version not in (0, 1):
        return None
    return f"SNMP v{'1' if version == 0 else '2c'} answers community {community!r}"


def snmp_response(answer: bytes) -> str | None:
    """`describe_snmp_v1` of an agent's response; None for anything else (an echo of our
    GET, another protocol's answer)."""
    try:
        is_response = isinstance(SNMP(answer).PDU, SNMPresponse)
    except Exception:  # scapy on hostile bytes
        return None
    return describe_snmp_v1(answer) if is_response else None


def snmp_communities(
    scope: Scope,
    host: str,
    *,
    communities: Iterable[str] = COMMON_COMMUNITIES,
    timeout: float,
    transcript: Transcript,
    port: int = SNMP_PORT,
) -> PortFinding | None:
    """SNMP v1 and v2c GET sysDescr with each community; a finding if any is answered (on
    a port other than 161, only if with an SNMP response: a DNS server may answer too)."""
    try:
        answers = net.udp_query(
            scope, host, port, snmp_get_requests(communities),
            timeout=min(timeout, GREETING_WAIT_S), transcript=transcript,
        )  # fmt: skip
    except OSError as exc:
        transcript.event(f"udp failed: {exc}")
        return None
    described = [(a, d) for a in answers if (d := snmp_response(a)) is not None]
    if described:
        return PortFinding(port, Speaks.SNMP, described[0][1], described[0][0], transport="udp")
    if not answers or port != SNMP_PORT:
        return None
    detail = f"UDP {port} answered {len(answers[0])} bytes to SNMP GETs"
    return PortFinding(port, Speaks.SNMP, detail, answers[0], transport="udp")


def snmp_over_tcp(
    scope: Scope,
    host: str,
    port: int,
    *,
    communities: Iterable[str] = COMMON_COMMUNITIES,
    timeout: float,
    transcript: Transcript,
) -> PortFinding | None:
    """The same GETs on a TCP stream, each BER message as is (RFC 3430); a finding if an SNMP
    response comes within SNMP_TCP_WAIT_S."""
    try:
        with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
            conn.send(b"".join(snmp_get_requests(communities)), "SNMP GETs (RFC 3430)")
            answer = conn.recv_until(
                _ber_complete, Deadline(min(timeout, SNMP_TCP_WAIT_S)), limit=SNMP_TCP_LIMIT
            )
    except DeviceError as exc:
        transcript.event(f"no SNMP answer: {exc}")
        return None
    detail = snmp_response(answer)
    return None if detail is None else PortFinding(port, Speaks.SNMP, detail, answer)


def _ber_complete(data: bytes) -> bool:
    """Whether `data` starts with one whole BER SEQUENCE, or cannot be one (stop reading)."""
    if len(data) < 2:
        return False
    if data[0] != 0x30 or data[1] in (0x80, 0xFF) or data[1] > 0x84:
        return True
    if data[1] < 0x80:
        return len(data) >= 2 + data[1]
    size = data[1] & 0x7F
    return len(data) >= 2 + size + int.from_bytes(data[2 : 2 + size], "big")
