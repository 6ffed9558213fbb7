"""UDP services a device may run, each asked with one harmless request, and told apart.

UDP has no handshake, so a service shows itself only by answering: DNS (a query for the
root's name servers), TFTP (a read request for a file that does not exist), NTP (a client
request), SNMP (v1 and v2c GETs of sysDescr with `public`, and a v3 engine discovery, which
any v3 agent answers whatever its users), SSDP (a unicast M-SEARCH), mDNS (a legacy unicast
query for the DNS-SD service list) and CoAP (a GET of `/.well-known/core`). Each answer is
matched to the request by its message id where the protocol has one. Silence decides
nothing: the port may be closed, filtered or simply quiet.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from harness.probes.crypto import cleartext
from harness.transports.net import UdpPort

DNS_PORT, TFTP_PORT, NTP_PORT, SNMP_PORT, SSDP_PORT, MDNS_PORT, COAP_PORT = (
    53, 69, 123, 161, 1900, 5353, 5683,
)  # fmt: skip
NTP_CLIENT_REQUEST = bytes([0x23]) + bytes(47)  # LI 0, version 4, mode 3 (client)
NTP_SERVER_MODES = frozenset({4, 5})  # server, broadcast
COAP_GET, COAP_VERSION = 0x01, 1
COAP_TYPES = ("CON", "NON", "ACK", "RST")
DNS_NS, DNS_PTR, DNS_IN, DNS_UNICAST_RESPONSE = 2, 12, 1, 0x8000
DNS_RCODES = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED")
DNS_SD_SERVICES = "_services._dns-sd._udp.local"
SSDP_SEARCH = (
    'M-SEARCH * HTTP/1.1\r\nHOST: {host}:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
    "ST: ssdp:all\r\nUSER-AGENT: medsec-harness\r\n\r\n"
)
TFTP_RRQ, TFTP_DATA, TFTP_ERROR, TFTP_OACK = 1, 3, 5, 6
SNMP_V3 = 3
MAX_SHOWN = 120  # characters of an answer kept in a finding's detail


@dataclass(frozen=True)
class UdpFinding:
    """A UDP port that answered, and what it said."""

    port: int
    protocol: str  # dns, tftp, ntp, snmp, ssdp, mdns, coap, unknown
    detail: str
    answer: bytes

    def summary(self) -> str:
        return f"{self.port}/udp: {self.protocol} ({self.detail})"


@dataclass(frozen=True)
class UdpAsk:
    """One protocol: the port it lives on, its requests, and how its answer is told."""

    protocol: str
    port: int
    requests: tuple[bytes, ...]
    parse: Callable[[bytes], str | None]


def asks(host: str, nonce: int) -> tuple[UdpAsk, ...]:
    """Every protocol's request to `host`, its message ids taken from `nonce` (16 bits)."""
    dns_id, mdns_id, coap_id, snmp_id = ((nonce + n) & 0xFFFF for n in range(4))
    url_host = f"[{host}]" if ":" in host else host
    return (
        UdpAsk("dns", DNS_PORT, (dns_query(dns_id, "", DNS_NS),), lambda a: parse_dns(a, dns_id)),
        UdpAsk("tftp", TFTP_PORT, (tftp_read(f"medsec-probe-{nonce:04x}"),), parse_tftp),
        UdpAsk("ntp", NTP_PORT, (NTP_CLIENT_REQUEST,), parse_ntp),
        UdpAsk(
            "snmp",
            SNMP_PORT,
            (*cleartext.snmp_get_requests(("public",)), snmp_v3_discovery(snmp_id)),
            parse_snmp,
        ),
        UdpAsk("ssdp", SSDP_PORT, (SSDP_SEARCH.format(host=url_host).encode(),), parse_ssdp),
        UdpAsk(
            "mdns",
            MDNS_PORT,
            (dns_query(mdns_id, DNS_SD_SERVICES, DNS_PTR, unicast_response=True),),
            lambda a: parse_dns(a, mdns_id),
        ),
        UdpAsk("coap", COAP_PORT, (coap_discovery(coap_id),), lambda a: parse_coap(a, coap_id)),
    )


def identify(port: UdpPort, table: tuple[UdpAsk, ...]) -> UdpFinding:
    """Name what an answering port speaks: its own port's protocol first, then the others
    (a service on a port not its own), else `unknown` with the first bytes."""
    ordered = sorted(table, key=lambda ask: ask.port != port.port)
    for datagram in port.datagrams:
        for ask in ordered:
            detail = ask.parse(datagram.data)
            if detail is not None:
                return UdpFinding(port.port, ask.protocol, detail, datagram.data)
    first = port.datagrams[0].data if port.datagrams else b""
    return UdpFinding(port.port, "unknown", f"{len(first)} bytes: {first[:24].hex()}", first)


# --- requests ----------------------------------------------------------------------------------


def dns_query(message_id: int, name: str, qtype: int, *, unicast_response: bool = False) -> bytes:
    """A DNS query without recursion for one name (RFC 1035); `unicast_response` sets
    mDNS's QU bit (RFC 6762 §5.4)."""
    labels = b"".join(bytes([len(p)]) + p for p in name.encode().split(b".") if p) + b"\0"
    qclass = DNS_IN | (DNS_UNICAST_RESPONSE if unicast_response else 0)
    return (
        struct.pack(">6H", message_id, 0, 1, 0, 0, 0) + labels + struct.pack(">2H", qtype, qclass)
    )


def tftp_read(filename: str) -> bytes:
    """A TFTP read request (RFC 1350) in octet mode."""
    return struct.pack(">H", TFTP_RRQ) + filename.encode() + b"\0octet\0"


def coap_discovery(message_id: int) -> bytes:
    """A confirmable CoAP GET of /.well-known/core (RFC 7252, RFC 6690)."""
    header = bytes([COAP_VERSION << 6, COAP_GET]) + struct.pack(">H", message_id)
    well_known = bytes([0xB0 | len(b".well-known")]) + b".well-known"  # Uri-Path (option 11)
    return header + well_known + bytes([len(b"core")]) + b"core"  # Uri-Path again (delta 0)


def snmp_v3_discovery(message_id: int) -> bytes:
    """An SNMPv3 GET with no user and the reportable flag (RFC 3414 §4): any v3 agent answers
    it with a Report carrying its engine id, whatever users it has."""
    usm = _tlv(0x30, _tlv(0x04, b"") + _int(0) + _int(0) + _tlv(0x04, b"") * 3)
    header = _tlv(0x30, _int(message_id) + _int(65507) + _tlv(0x04, b"\x04") + _int(3))
    pdu = _tlv(0xA0, _int(message_id) + _int(0) + _int(0) + _tlv(0x30, b""))
    scoped = _tlv(0x30, _tlv(0x04, b"") + _tlv(0x04, b"") + pdu)
    return _tlv(0x30, _int(SNMP_V3) + header + _tlv(0x04, usm) + scoped)


def _tlv(tag: int, body: bytes) -> bytes:
    assert len(body) < 128  # short-form lengths are all these messages need
    return bytes([tag, len(body)]) + body


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big"))


# --- answers -----------------------------------------------------------------------------------


def parse_dns(answer: bytes, message_id: int) -> str | None:
    """`DNS response NOERROR, 2 answers` for the response to `message_id`, else None."""
    if len(answer) < 12:
        return None
    ident, flags, _, answers, _, _ = struct.unpack(">6H", answer[:12])
    if ident != message_id or not flags & 0x8000:
        return None
    rcode = flags & 0x0F
    name = DNS_RCODES[rcode] if rcode < len(DNS_RCODES) else f"rcode {rcode}"
    return f"DNS response {name}, {answers} answers"


def parse_tftp(answer: bytes) -> str | None:
    """`TFTP error 1: File not found` for a TFTP answer to a read request, else None."""
    if len(answer) < 4:
        return None
    opcode, value = struct.unpack(">2H", answer[:4])
    if opcode == TFTP_ERROR and answer.endswith(b"\0"):
        message = answer[4:-1][:MAX_SHOWN].decode("latin-1", "replace")
        return f"TFTP error {value}: {message}"
    if opcode == TFTP_DATA and value == 1:
        return f"TFTP sent {len(answer) - 4} bytes of a file that should not exist"
    if opcode == TFTP_OACK:
        return "TFTP option acknowledgement"
    return None


def parse_ntp(answer: bytes) -> str | None:
    """`NTP v4 server, stratum 2` for a server's reply, None for anything else."""
    if len(answer) < len(NTP_CLIENT_REQUEST) or answer[0] & 0x07 not in NTP_SERVER_MODES:
        return None
    return f"NTP v{(answer[0] >> 3) & 0x07} server, stratum {answer[1]}"


def parse_snmp(answer: bytes) -> str | None:
    """What an SNMP agent answered: the v1/v2c community, or a v3 engine's report."""
    if _ber_version(answer) == SNMP_V3:
        return "SNMPv3 agent (answered engine discovery)"
    return cleartext.describe_snmp_v1(answer)


def _ber_version(message: bytes) -> int | None:
    """The INTEGER that opens an SNMP message's SEQUENCE (its version), if it is one."""
    if len(message) < 2 or message[0] != 0x30:
        return None
    start = 2 + (message[1] & 0x7F if message[1] & 0x80 else 0)
    head = message[start : start + 3]
    return head[2] if len(head) == 3 and head[:2] == b"\x02\x01" else None


def parse_ssdp(answer: bytes) -> str | None:
    """`SSDP 200: SERVER Linux/5.10 UPnP/1.0 ...` for a search response, else None."""
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1", "replace")
    lines = head.split("\r\n")
    if not lines[0].startswith("HTTP/1.") or " 200" not in lines[0]:
        return None
    fields = {k.strip().upper(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    if "ST" not in fields and "USN" not in fields:
        return None
    return f"SSDP search response: SERVER {fields.get('SERVER', '(none)')[:MAX_SHOWN]}"


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
