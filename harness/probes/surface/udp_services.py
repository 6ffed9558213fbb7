"""A few UDP services a device may run, each asked with one harmless datagram.

UDP has no handshake, so a service shows itself only by answering: SNMP (a GET of
sysDescr with common communities, `cleartext.snmp_communities`), NTP (a client request)
and CoAP (a GET of `/.well-known/core`, the resource directory). Silence decides
nothing: the port may be closed, filtered or simply quiet.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass

from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import cleartext
from harness.transports import net

NTP_PORT, COAP_PORT, SNMP_PORT = 123, 5683, 161
NTP_CLIENT_REQUEST = bytes([0x23]) + bytes(47)  # LI 0, version 4, mode 3 (client)
NTP_SERVER_MODES = frozenset({4, 5})  # server, broadcast
COAP_GET, COAP_VERSION = 0x01, 1
COAP_TYPES = ("CON", "NON", "ACK", "RST")
MAX_SHOWN = 120  # characters of an answer kept in a finding's detail


@dataclass(frozen=True)
class UdpFinding:
    """A UDP port that answered, and what it said."""

    port: int
    protocol: str  # snmp, ntp, coap
    detail: str
    answer: bytes

    def summary(self) -> str:
        return f"{self.port}/udp: {self.protocol} ({self.detail})"


def coap_discovery(message_id: int) -> bytes:
    """A confirmable CoAP GET of /.well-known/core (RFC 7252, RFC 6690)."""
    header = bytes([COAP_VERSION << 6, COAP_GET]) + struct.pack(">H", message_id)
    well_known = bytes([0xB0 | len(b".well-known")]) + b".well-known"  # Uri-Path (option 11)
    return header + well_known + bytes([len(b"core")]) + b"core"  # Uri-Path again (delta 0)


def parse_ntp(answer: bytes) -> str | None:
    """`NTP v4 server, stratum 2` for a server's reply, None for anything else."""
    if len(answer) < len(NTP_CLIENT_REQUEST) or answer[0] & 0x07 not in NTP_SERVER_MODES:
        return None
    return f"NTP v{(answer[0] >> 3) & 0x07} server, stratum {answer[1]}"


def parse_coap(answer: bytes, message_id: int) -> str | None:
    """`CoAP ACK 2.05: </sensors>;...` for a reply to `message_id`, None for anything else."""
    if len(answer) < 4 or answer[0] >> 6 != COAP_VERSION:
        return None
    if struct.unpack(">H", answer[2:4])[0] != message_id:
        return None
    kind = COAP_TYPES[(answer[0] >> 4) & 0x03]
    code = f"{answer[1] >> 5}.{answer[1] & 0x1F:02d}"
    options = answer[4 + (answer[0] & 0x0F) :]  # after the header and the token
    payload = options.split(b"\xff", 1)[1] if b"\xff" in options else b""  # approximately
    text = payload[:MAX_SHOWN].decode("utf-8", "replace")
    return f"CoAP {kind} {code}" + (f": {text}" if text else "")


def _ask(
    scope: Scope,
    host: str,
    port: int,
    request: bytes,
    parse: Callable[[bytes], str | None],
    protocol: str,
    *,
    timeout: float,
    transcript: Transcript,
) -> UdpFinding | None:
    try:
        answers = net.udp_query(
            scope, host, port, [request], timeout=timeout, transcript=transcript
        )
    except OSError as exc:
        transcript.event(f"udp {port} failed: {exc}")
        return None
    for answer in answers:
        detail = parse(answer)
        if detail is not None:
            return UdpFinding(port, protocol, detail, answer)
    if answers:
        shown = answers[0][:24].hex()
        return UdpFinding(port, "unknown", f"{len(answers[0])} bytes: {shown}", answers[0])
    return None


def survey(scope: Scope, host: str, *, timeout: float, transcript: Transcript) -> list[UdpFinding]:
    """SNMP, NTP and CoAP on their standard ports: the ones that answered."""
    timeout = min(timeout, cleartext.GREETING_WAIT_S)  # a UDP service answers at once
    found: list[UdpFinding] = []
    snmp = cleartext.snmp_communities(scope, host, timeout=timeout, transcript=transcript)
    if snmp is not None:
        found.append(UdpFinding(SNMP_PORT, "snmp", snmp.detail, snmp.answer))
    ntp = _ask(
        scope, host, NTP_PORT, NTP_CLIENT_REQUEST, parse_ntp, "ntp",
        timeout=timeout, transcript=transcript,
    )  # fmt: skip
    message_id = secrets.randbelow(1 << 16)
    coap = _ask(
        scope, host, COAP_PORT, coap_discovery(message_id),
        lambda answer: parse_coap(answer, message_id), "coap",
        timeout=timeout, transcript=transcript,
    )  # fmt: skip
    found += [f for f in (ntp, coap) if f is not None]
    return found
