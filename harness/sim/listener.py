"""A bounded TCP listener: one thread per connection, a connection cap, timeouts, clean stop."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable

Handler = Callable[[socket.socket, str], None]
ACCEPT_POLL_S = 0.2  # after accept() failed for want of descriptors: do not spin
# stop() and crash() shut the socket down, which wakes a blocked accept() at once on Linux;
# the timeout is only a safety net, and an idle pump's listener wakes once a second.
ACCEPT_TIMEOUT_S = 1.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on exactly `host` (an IP literal), port 0 meaning any free one."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


def bind_preferred(host: str, port: int, log: logging.Logger, name: str) -> socket.socket:
    """A listening socket on `port` when it is free on `host`, else on any free port."""
    try:
        return bind(host, port)
    except OSError as exc:
        sock = bind(host, 0)
        log.warning(
            "%s port %d busy on %s (%s); using %d instead",
            name,
            port,
            host,
            exc.strerror or exc,
            sock.getsockname()[1],
        )
        return sock


def peer_name(address: tuple[str, int] | tuple[str, int, int, int]) -> str:
    """`host:port` of a peer address as `accept` returns it."""
    return f"{address[0]}:{address[1]}"


class TcpListener:
    """Accepts on a bound socket and hands each connection to `handler` in its own thread.

    Beyond `max_connections` concurrent connections new ones are closed at once. Every
    accepted socket gets `timeout`. `stop` shuts the live connections down so their
    threads end promptly, and joins everything with bounded waits. `crash` plays a daemon
    that died and is started again by its supervisor (a planted weakness).
    """

    def __init__(
        self,
        name: str,
        sock: socket.socket,
        handler: Handler,
        log: logging.Logger,
        *,
        max_connections: int,
        timeout: float,
    ) -> None:
        self.name = name
        self._sock = sock
        self._handler = handler
        self._log = log
        self._timeout = timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._live: dict[socket.socket, threading.Thread] = {}
        self._address: tuple[str, int] = sock.getsockname()[:2]
        self._restart: threading.Timer | None = None
        self._thread = threading.Thread(target=self._accept_loop, name=f"sim-{name}", daemon=True)

    @property
    def port(self) -> int:
        return self._address[1]

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        self._sock.settimeout(ACCEPT_TIMEOUT_S)
        self._thread.start()

    def crash(self, down_s: float) -> None:
        """Die: the port refuses connections and every live one is cut; the same port
        listens again after `down_s`, as a supervisor would restart the daemon."""
        with self._lock:
            if self._stopping.is_set() or self._restart is not None:
                return
            self._restart = threading.Timer(down_s, self._come_back)
            self._restart.daemon = True
            sock, live = self._sock, list(self._live)
        self._log.warning("%s crashed; listening again in %.1f s", self.name, down_s)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # from here on a connect is refused
        sock.close()
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._restart.start()

    def _come_back(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._restart = None
            try:
                self._sock = bind(*self._address)
            except OSError:
                self._log.exception("%s could not listen again", self.name)
                return
            self._thread = threading.Thread(
                target=self._accept_loop, name=f"sim-{self.name}", daemon=True
            )
        self._log.info("%s listening again on port %d", self.name, self.port)
        self.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, cut live connections, join threads; safe to call twice."""
        self._stopping.set()
        with self._lock:
            if self._restart is not None:
                self._restart.cancel()
        deadline = time.monotonic() + timeout
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
        if self._thread.is_alive():
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._sock.close()
        with self._lock:
            live = list(self._live.items())
        for conn, _ in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for _, thread in live:
            thread.join(timeout=max(0.05, deadline - time.monotonic()))

    def _accept_loop(self) -> None:
        sock = self._sock
        while not self._stopping.is_set():
            try:
                conn, address = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set() or sock.fileno() == -1:
                    return  # stopped, or crashed
                time.sleep(ACCEPT_POLL_S)  # e.g. EMFILE: do not spin
                continue
            peer = peer_name(address)
            if not self._slots.acquire(blocking=False):
                self._log.info("%s connection from %s refused: connection limit", self.name, peer)
                conn.close()
                continue
            self._log.info("%s connection from %s", self.name, peer)
            conn.settimeout(self._timeout)
            thread = threading.Thread(
                target=self._serve, args=(conn, peer), name=f"sim-{self.name}-{peer}", daemon=True
            )
            with self._lock:
                self._live[conn] = thread
            thread.start()

    def _serve(self, conn: socket.socket, peer: str) -> None:
        try:
            self._handler(conn, peer)
        except Exception:
            self._log.exception("%s connection from %s failed", self.name, peer)
        finally:
            conn.close()
            with self._lock:
                self._live.pop(conn, None)
            self._slots.release()


class ListenerService:
    """A service that serves on one `TcpListener`: its port, start and stop."""

    _listener: TcpListener

    @property
    def port(self) -> int:
        return self._listener.port

    def start(self) -> None:
        self._listener.start()

    def stop(self) -> None:
        self._listener.stop()
