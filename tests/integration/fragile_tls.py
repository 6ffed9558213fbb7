"""A deliberately fragile TLS server: it dies of SIGSEGV, as a C parser reading past its
buffer would, on a ClientHello whose session-id, cipher-suite, compression or extensions
length points past the bytes it received. Any other client gets a real TLS handshake, so
liveness passes until a fuzz case finds the flaw.

    python -m tests.integration.fragile_tls HOST PORT CERT KEY CRASH_LOG

Before dying it writes the fatal ClientHello to CRASH_LOG, so a test can compare it
with the reproducer the harness saved.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import sys
from pathlib import Path

RECORD_LIMIT = 5 + (1 << 14)
IO_TIMEOUT_S = 2.0


def overruns(hello: bytes) -> bool:
    """Whether a length inside the ClientHello record points past the bytes received."""
    if len(hello) < 5 or hello[0] != 0x16 or len(hello) < 5 + 4 + 2 + 32:
        return False
    at = 5 + 4 + 2 + 32  # record header, handshake header, client version, random
    for width in (1, 2, 1, 2):  # session id, cipher suites, compression methods, extensions
        if at + width > len(hello):
            return False  # a short record: even this parser stops at its end
        at += width + int.from_bytes(hello[at : at + width], "big")
        if at > len(hello):
            return True
    return False


def _first_record(conn: socket.socket) -> bytes:
    data = b""
    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
        chunk = conn.recv(RECORD_LIMIT - len(data))
        if not chunk:
            break
        data += chunk
        if len(data) >= RECORD_LIMIT:
            break
    return data


def _handshake(conn: socket.socket, context: ssl.SSLContext, received: bytes) -> None:
    """Complete a TLS handshake over what was read already, then answer one line."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_side=True)
    incoming.write(received)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            conn.sendall(outgoing.read())
            chunk = conn.recv(RECORD_LIMIT)
            if not chunk:
                return
            incoming.write(chunk)
    tls.write(b"HTTP/1.0 200 OK\r\n\r\nfragile\n")
    conn.sendall(outgoing.read())


def serve(host: str, port: int, context: ssl.SSLContext, crash_log: Path) -> None:
    with socket.create_server((host, port), backlog=64) as listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(IO_TIMEOUT_S)
                with contextlib.suppress(OSError, ssl.SSLError):
                    hello = _first_record(conn)
                    if overruns(hello):
                        crash_log.write_bytes(hello)
                        os.kill(os.getpid(), signal.SIGSEGV)
                    _handshake(conn, context, hello)


def main() -> None:
    host, port, cert, key, crash_log = sys.argv[1:6]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    serve(host, int(port), context, Path(crash_log))


if __name__ == "__main__":
    main()
