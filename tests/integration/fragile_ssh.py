"""A deliberately fragile SSH front end: real OpenSSH behind two classic embedded faults.

Each connection is relayed to a real `sshd` (so liveness, an SSH key exchange, passes
while the faults sleep), but the front reads the client's identification line into a
fixed 255-byte buffer first, and a longer line brings the whole process down (as an
overflow would: ROBUST-002). With `--max-connections K` it also dies when more than K
connections are open at once, as a daemon that runs out of memory or descriptors would
(ROBUST-005). With `--respawn S` a supervisor starts it again S seconds after a crash;
without, it stays down.

    python -m tests.integration.fragile_ssh HOST PORT BACKEND_HOST BACKEND_PORT
        [--respawn S] [--max-connections K]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
import time

IDENTIFICATION_BUFFER = 255  # RFC 4253 4.2's limit, taken as a fixed buffer
IO_TIMEOUT_S = 30.0


class Front:
    """The listening socket and every relayed connection, brought down together by a fault."""

    def __init__(self, host: str, port: int, backend: tuple[str, int], max_connections: int | None):
        self.backend = backend
        self.max_connections = max_connections
        self.listener = socket.create_server((host, port), backlog=128)
        self.lock = threading.Lock()
        self.live: set[socket.socket] = set()
        self.crashed: str | None = None

    def crash(self, why: str) -> None:
        """Die: the port refuses connections and every live one is cut."""
        with self.lock:
            if self.crashed is not None:
                return
            self.crashed = why
            doomed = [self.listener, *self.live]
        print(f"crashed: {why}", file=sys.stderr, flush=True)
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def serve(self) -> str:
        """Accept and relay until a fault; returns what killed it."""
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                if self.crashed is not None:
                    return self.crashed
                raise
            client.settimeout(IO_TIMEOUT_S)
            limit = self.max_connections
            with self.lock:
                self.live.add(client)
                too_many = limit is not None and len(self.live) > limit
            if too_many:
                self.crash(f"more than {self.max_connections} connections at once")
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            with client, socket.create_connection(self.backend, timeout=IO_TIMEOUT_S) as backend:
                threading.Thread(target=_pump, args=(backend, client), daemon=True).start()
                line = b""
                while not line.endswith(b"\n"):
                    byte = client.recv(1)
                    if not byte:
                        return
                    line += byte
                    if len(line) > IDENTIFICATION_BUFFER:
                        self.crash(f"identification line longer than {IDENTIFICATION_BUFFER} bytes")
                        return
                backend.sendall(line)
                _pump(client, backend)
        except OSError:
            pass
        finally:
            with self.lock:
                self.live.discard(client)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("backend_host")
    parser.add_argument("backend_port", type=int)
    parser.add_argument("--respawn", type=float, help="restart this long after a crash")
    parser.add_argument("--max-connections", type=int)
    args = parser.parse_args()
    backend = (args.backend_host, args.backend_port)
    while True:
        Front(args.host, args.port, backend, args.max_connections).serve()
        if args.respawn is None:
            return 1
        time.sleep(args.respawn)


if __name__ == "__main__":
    sys.exit(main())
