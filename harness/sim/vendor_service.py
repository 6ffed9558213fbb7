"""W-12: an undeclared vendor service with a small binary protocol on TCP 9999.

Frames are `b"PMP"`, a type byte, a 4-byte big-endian length and the payload. On
connect the pump sends a hello frame; every request of 4 bytes or more gets the same
status frame. It is deliberately neither telnet, HTTP nor a debug protocol: the only
thing wrong with it is that the profile does not declare it.
"""

from __future__ import annotations

import logging
import socket

from harness.sim.listener import ListenerService, TcpListener, bind_preferred

PREFERRED_PORT = 9999
HELLO = b"PMP\x01" + b"\x00\x00\x00\x00"
STATUS = b"PMP\x02" + b"\x00\x00\x00\x04" + b"\x00\x01\x00\x00"
MAX_CONNECTIONS = 8
SOCKET_TIMEOUT_S = 5.0
MAX_REQUESTS = 64


class VendorService(ListenerService):
    """The vendor protocol listener of one pump."""

    def __init__(self, *, host: str, log: logging.Logger, port: int = PREFERRED_PORT) -> None:
        self._log = log
        self._listener = TcpListener(
            "vendor",
            bind_preferred(host, port, log, "vendor"),
            self._serve,
            log,
            max_connections=MAX_CONNECTIONS,
            timeout=SOCKET_TIMEOUT_S,
        )

    def _serve(self, conn: socket.socket, peer: str) -> None:
        try:
            conn.sendall(HELLO)
            pending = b""
            answered = 0
            while answered < MAX_REQUESTS and not self._listener.stopping:
                chunk = conn.recv(1024)
                if not chunk:
                    return
                pending += chunk
                if len(pending) >= 4:
                    pending = b""
                    conn.sendall(STATUS)
                    answered += 1
        except OSError:
            return
        finally:
            self._log.info("vendor %s closed", peer)
