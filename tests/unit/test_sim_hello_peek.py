"""The emulator's ClientHello peek (harness/sim/api_service.py): which TLS context a
connection gets, decided without waiting on bytes that cannot open a ClientHello."""

from __future__ import annotations

import socket
import time

from harness.sim.api_service import client_max_version, peek_client_hello


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    """(server side, client side) of one loopback TCP connection (the peek reads TCP_INFO)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
    return accepted, client


def test_cleartext_request_is_returned_at_once_and_left_unread() -> None:
    ours, theirs = _tcp_pair()
    with ours, theirs:
        theirs.sendall(b"POST /api/update HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        started = time.monotonic()
        peeked = peek_client_hello(ours, deadline_s=5.0)
        assert time.monotonic() - started < 1.0
        assert peeked.startswith(b"POST ")
        assert client_max_version(peeked) is None  # the hardened context refuses it
        assert ours.recv(5) == b"POST "  # nothing consumed: the TLS stack reads it itself


def test_partial_handshake_record_is_waited_for_until_the_deadline() -> None:
    ours, theirs = _tcp_pair()
    with ours, theirs:
        theirs.sendall(bytes([0x16, 0x03, 0x01, 0x00, 0x40]) + b"\x01\x00")  # 7 of 69 bytes
        started = time.monotonic()
        peeked = peek_client_hello(ours, deadline_s=0.3)
        assert time.monotonic() - started >= 0.3
        assert peeked[0] == 0x16
