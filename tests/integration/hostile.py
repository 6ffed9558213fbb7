"""Hostile devices: each misbehaves in one way a security tool must survive.

Every one is a handler for `fakes.tcp_server`, bound to a test's own loopback address in
the tests' private network namespace. `Watched` is a listener standing for an address
outside the profile's scope: the test asserts it saw no connection at all.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator

from tests.integration.fakes import Handler

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


class Watched:
    """A listener that counts every connection made to it (and answers none)."""

    def __init__(self, host: str) -> None:
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.1)
        self.host, self.port = host, self._listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._listener.close()


@contextlib.contextmanager
def watched(host: str) -> Iterator[Watched]:
    listener = Watched(host)
    try:
        yield listener
    finally:
        listener.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    deadline = time.monotonic() + 5
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


def redirects_to(location: str) -> Handler:
    """Answer any HTTP request (a websocket upgrade too) with a 302 to `location`."""

    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\n\r\n".encode())

    return handler


def _accept_upgrade(conn: socket.socket) -> None:
    request = _read_request(conn)
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID, usedforsecurity=False).digest())
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def websocket_frame_of(announced: int, *, stream_s: float = 3.0) -> Handler:
    """Upgrade, then a text frame announcing `announced` bytes, and zeros as fast as the
    client takes them for `stream_s` seconds."""

    def handler(conn: socket.socket) -> None:
        _accept_upgrade(conn)
        conn.sendall(b"\x81\x7f" + struct.pack("!Q", announced))
        chunk = b"\0" * 65536
        end = time.monotonic() + stream_s
        with contextlib.suppress(OSError):
            while time.monotonic() < end:
                with contextlib.suppress(TimeoutError):
                    conn.sendall(chunk)

    return handler


def trickles(data: bytes, every_s: float) -> Handler:
    """Answer a request with `data`, one byte every `every_s` seconds (slowloris)."""

    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        with contextlib.suppress(OSError):
            for byte in data:
                conn.sendall(bytes([byte]))
                time.sleep(every_s)

    return handler


def answers_endlessly(head: bytes, filler: bytes, *, for_s: float = 8.0) -> Handler:
    """Answer a request with `head`, then `filler` again and again as fast as the client
    takes it (a status line or header block that never ends)."""

    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        end = time.monotonic() + for_s
        with contextlib.suppress(OSError):
            conn.sendall(head)
            while time.monotonic() < end:
                with contextlib.suppress(TimeoutError):
                    conn.sendall(filler)

    return handler


def echoes_logins(username: str, password: str) -> Handler:
    """An HTTP API that answers every request with the request itself, in every encoding a
    device might echo a login body in (raw, hex, base64, URL-encoded, JSON-escaped); the
    profiled Basic credentials get 200, anything else 401."""
    accepted = base64.b64encode(f"{username}:{password}".encode())

    def handler(conn: socket.socket) -> None:
        request = _read_request(conn)
        if not request:
            return
        echo = b"\n".join(
            (
                request,
                request.hex().encode(),
                base64.b64encode(request),
                urllib.parse.quote(request).encode(),
                json.dumps({"you_sent": request.decode("latin-1")}).encode(),
            )
        )
        status = b"200 OK" if b"Basic " + accepted in request else b"401 Unauthorized"
        conn.sendall(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(echo)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + echo
        )
        conn.close()

    return handler


def floods(chunk: bytes = b"A" * 65536, *, for_s: float = 5.0) -> Handler:
    """Send `chunk` as fast as the client takes it, never a line end (no banner, no prompt)."""

    def handler(conn: socket.socket) -> None:
        end = time.monotonic() + for_s
        with contextlib.suppress(OSError):
            while time.monotonic() < end:
                with contextlib.suppress(TimeoutError):
                    conn.sendall(chunk)

    return handler
