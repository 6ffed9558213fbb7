"""The pump's telemetry broker: MQTT 3.1.1 over TLS on a free port.

A minimal responder: it reads one CONNECT, answers CONNACK 0 only for the telemetry
account's user name and password (CONNACK 5 otherwise, then closes), and then answers
PINGREQ until DISCONNECT, a close or the idle timeout. TLS is as hardened as the API's
(TLS 1.2 with ECDHE and AEAD only, TLS 1.3, no renegotiation). W-06 serves an RSA-1024
certificate signed with SHA-1; W-08 also answers a CONNECT sent without TLS. W-15 reads
the ClientHello's cipher-suite list itself, trusting its length: one that overruns the
record kills the listener, which its supervisor restarts `RESTART_S` later.
"""

from __future__ import annotations

import hmac
import logging
import socket
import ssl
from collections.abc import Collection
from pathlib import Path

from harness.sim.api_service import HARDENED_TLS12_CIPHERS, peek_client_hello
from harness.sim.listener import ListenerService, TcpListener, bind
from harness.sim.ssh_service import random_password

MAX_CONNECTIONS = 16
SOCKET_TIMEOUT_S = 10.0
MAX_PACKET = 64 * 1024
MAX_PACKETS = 256
TELEMETRY_USER = "telemetry"
CONNECT, CONNACK, PINGREQ, PINGRESP, DISCONNECT = 0x10, 0x20, 0xC0, 0xD0, 0xE0
ACCEPTED, NOT_AUTHORIZED = 0, 5
HANDSHAKE = 0x16
RESTART_S = 2.0  # W-15: how long the broker's port stays dead after the crash


def suite_length_overruns(record: bytes) -> bool:
    """Whether a ClientHello record's cipher-suite length reaches past the record's end."""
    if len(record) < 5 + 4 + 35 or record[0] != HANDSHAKE or record[5] != 1:
        return False
    end = 5 + int.from_bytes(record[3:5], "big")
    at = 5 + 4 + 2 + 32
    at += 1 + record[at]  # session id
    return at + 2 + int.from_bytes(record[at : at + 2], "big") > end


def broker_context(cert: Path, key: Path, *, weak_key: bool) -> ssl.SSLContext:
    """TLS 1.2 (ECDHE + AEAD) and 1.3, no renegotiation; a 1024-bit key needs SECLEVEL 0."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(HARDENED_TLS12_CIPHERS + (":@SECLEVEL=0" if weak_key else ""))
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(cert, key)
    return context


class TelemetryService(ListenerService):
    """The MQTT-over-TLS broker of one pump."""

    def __init__(
        self,
        *,
        host: str,
        cert: Path,
        key: Path,
        weaknesses: Collection[str],
        log: logging.Logger,
    ) -> None:
        self._log = log
        self._context = broker_context(cert, key, weak_key="W-06" in weaknesses)
        self._plaintext = "W-08" in weaknesses
        self._dies_on_suite_overrun = "W-15" in weaknesses
        self.password = random_password()
        self._listener = TcpListener(
            "telemetry",
            bind(host, 0),
            self._serve,
            log,
            max_connections=MAX_CONNECTIONS,
            timeout=SOCKET_TIMEOUT_S,
        )

    def _serve(self, conn: socket.socket, peer: str) -> None:
        first = conn.recv(1, socket.MSG_PEEK)
        if not first:
            return
        if first[0] == CONNECT and self._plaintext:
            self._log.info("telemetry %s MQTT without TLS (W-08)", peer)
            self._session(conn, peer)
            return
        if self._dies_on_suite_overrun and suite_length_overruns(peek_client_hello(conn)):
            self._log.warning("telemetry %s cipher-suite length overruns the record (W-15)", peer)
            self._listener.crash(RESTART_S)
            return
        try:
            tls = self._context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self._log.info("telemetry %s TLS handshake failed: %s", peer, type(exc).__name__)
            return
        with tls:
            self._session(tls, peer)

    def _session(self, conn: socket.socket, peer: str) -> None:
        try:
            packet = _read_packet(conn)
            if packet is None or packet[0] & 0xF0 != CONNECT:
                return
            username, password = _credentials(packet[1])
            ok = username == TELEMETRY_USER and hmac.compare_digest(
                (password or "").encode(), self.password.encode()
            )
            self._log.info("telemetry %s CONNECT user=%r %s", peer, username, ok)
            conn.sendall(bytes([CONNACK, 2, 0, ACCEPTED if ok else NOT_AUTHORIZED]))
            if not ok:
                return
            for _ in range(MAX_PACKETS):
                packet = _read_packet(conn)
                if packet is None or packet[0] & 0xF0 == DISCONNECT:
                    return
                if packet[0] & 0xF0 == PINGREQ:
                    conn.sendall(bytes([PINGRESP, 0]))
        except (OSError, ValueError):
            return


def _read_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_packet(conn: socket.socket) -> tuple[int, bytes] | None:
    """(first byte, body) of one MQTT control packet; ValueError for a bad length."""
    head = _read_exactly(conn, 1)
    if head is None:
        return None
    length, shift = 0, 0
    for _ in range(4):
        byte = _read_exactly(conn, 1)
        if byte is None:
            return None
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    else:
        raise ValueError("remaining length longer than 4 bytes")
    if length > MAX_PACKET:
        raise ValueError(f"packet of {length} bytes")
    body = _read_exactly(conn, length) if length else b""
    if body is None:
        return None
    return head[0], body


def _credentials(body: bytes) -> tuple[str | None, str | None]:
    """User name and password of a CONNECT body (MQTT 3.1.1 section 3.1)."""
    at = 2 + int.from_bytes(body[0:2], "big")  # protocol name
    flags = body[at + 1]
    at += 4  # level, flags, keep-alive
    fields: list[str] = []
    wanted = 1 + (1 if flags & 0x04 else 0) * 2  # client id (+ will topic and message)
    wanted += (1 if flags & 0x80 else 0) + (1 if flags & 0x40 else 0)
    for _ in range(wanted):
        size = int.from_bytes(body[at : at + 2], "big")
        fields.append(body[at + 2 : at + 2 + size].decode("utf-8", "replace"))
        at += 2 + size
    rest = fields[1 + (2 if flags & 0x04 else 0) :]
    username = rest.pop(0) if flags & 0x80 and rest else None
    password = rest.pop(0) if flags & 0x40 and rest else None
    return username, password
