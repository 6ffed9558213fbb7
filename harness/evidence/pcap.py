"""A pcap of synthetic TCP streams, one per (client bytes, server bytes) exchange.

Written with `struct` rather than scapy: building packets with scapy costs about 1 ms
each (a TLS audit's pcap took 0.3 s), and scapy's Ether() asks the routing table and
may ARP for the destination's MAC, which evidence writing must never do. The frames
are those scapy wrote on loopback: broadcast destination MAC, zero source MAC, IPv4 id 1
and TTL 64 (IPv6 hop limit 64), TCP window 8192.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from collections.abc import Iterable

PCAP_CLIENT = ipaddress.ip_address("192.0.2.1")  # TEST-NET-1: the harness side
PCAP_CLIENT6 = ipaddress.ip_address("2001:db8::1")
NAMELESS_DEVICE = ipaddress.ip_address("198.51.100.1")  # TEST-NET-2: a host given by name
SEGMENT = 60000  # server bytes per packet (an IPv4 packet holds at most 65535)
_GLOBAL_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # Ethernet
_ETHER = bytes.fromhex("ffffffffffff000000000000")
_SYN, _SYN_ACK, _PSH_ACK = 0x02, 0x12, 0x18
_CLIENT_SEQ, _SERVER_SEQ, _FIRST_CLIENT_PORT = 999, 4999, 40000

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def streams(
    host: str, port: int, exchanges: Iterable[tuple[bytes, bytes]], *, now: float | None = None
) -> bytes:
    """The pcap file: per exchange a handshake (SYN, SYN-ACK), the client's bytes in one
    segment, the server's in segments of at most 60,000 bytes. `host` is the device's
    address, or a documentation address when it is a name."""
    device = _address(host)
    client = PCAP_CLIENT6 if device.version == 6 else PCAP_CLIENT
    stamp = time.time() if now is None else now
    seconds, micros = int(stamp), int((stamp % 1) * 1_000_000)
    out = [_GLOBAL_HEADER]
    for index, (sent, answered) in enumerate(exchanges):
        sport = _FIRST_CLIENT_PORT + index
        up = (client, device, sport, port)
        down = (device, client, port, sport)
        frames = [
            _frame(*up, _SYN, _CLIENT_SEQ, 0, b""),
            _frame(*down, _SYN_ACK, _SERVER_SEQ, _CLIENT_SEQ + 1, b""),
        ]
        if sent:
            frames.append(_frame(*up, _PSH_ACK, _CLIENT_SEQ + 1, _SERVER_SEQ + 1, sent))
        ack = _CLIENT_SEQ + 1 + len(sent)
        for offset in range(0, len(answered), SEGMENT):
            chunk = answered[offset : offset + SEGMENT]
            frames.append(_frame(*down, _PSH_ACK, _SERVER_SEQ + 1 + offset, ack, chunk))
        for frame in frames:
            out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
    return b"".join(out)


def _address(host: str) -> Address:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return NAMELESS_DEVICE


def _frame(
    src: Address, dst: Address, sport: int, dport: int, flags: int, seq: int, ack: int, data: bytes
) -> bytes:
    """Ethernet, IP and TCP headers with correct checksums, then `data`."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 8192, 0, 0) + data
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
        header = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0)
        header += src.packed + dst.packed
        ip = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        return _ETHER + b"\x08\x00" + ip + tcp
    pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + src.packed + dst.packed
    return _ETHER + b"\x86\xdd" + ip + tcp


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
