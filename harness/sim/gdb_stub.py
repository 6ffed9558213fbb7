"""W-14: a GDB remote stub left listening on TCP (3333, OpenOCD's GDB port, where free).

It speaks enough of the GDB remote serial protocol to be recognised for what it is: it
acks each packet, answers `qSupported` with its features, `?` with a stop reply and
anything else with an empty packet (not supported). Bytes outside packets are ignored,
as gdbserver ignores them, so a cleartext probe's HTTP request or MQTT CONNECT meets
silence: only a probe that speaks GDB finds it.
"""

from __future__ import annotations

import logging
import re
import socket

from harness.sim.listener import ListenerService, TcpListener, bind_preferred

PREFERRED_PORT = 3333
FEATURES = b"PacketSize=4000;qXfer:features:read+;swbreak+;hwbreak+"
STOPPED = b"S05"  # stopped by SIGTRAP
PACKET = re.compile(rb"\$([^#$]*)#[0-9a-fA-F]{2}")
MAX_PENDING = 4096
MAX_CONNECTIONS = 4
SOCKET_TIMEOUT_S = 10.0


def packet(payload: bytes) -> bytes:
    return b"$" + payload + b"#%02x" % (sum(payload) % 256)


def reply(request: bytes) -> bytes:
    """The stub's answer to one packet's payload."""
    if request.startswith(b"qSupported"):
        return FEATURES
    if request == b"?":
        return STOPPED
    return b""


class GdbStub(ListenerService):
    """The debug stub of one pump."""

    def __init__(self, *, host: str, log: logging.Logger, port: int = PREFERRED_PORT) -> None:
        self._log = log
        self._listener = TcpListener(
            "gdb",
            bind_preferred(host, port, log, "gdb stub"),
            self._serve,
            log,
            max_connections=MAX_CONNECTIONS,
            timeout=SOCKET_TIMEOUT_S,
        )

    def _serve(self, conn: socket.socket, peer: str) -> None:
        pending = b""
        try:
            while not self._listener.stopping:
                chunk = conn.recv(1024)
                if not chunk:
                    return
                pending = (pending + chunk)[-MAX_PENDING:]
                while (match := PACKET.search(pending)) is not None:
                    pending = pending[match.end() :]
                    self._log.info("gdb %s packet %r", peer, match.group(1)[:40])
                    conn.sendall(b"+" + packet(reply(match.group(1))))
        except OSError:
            return
