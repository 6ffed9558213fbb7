"""Small misbehaving devices for fault tests: silent, garbage-speaking, hostile-banner SSH."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import paramiko
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

Handler = Callable[[socket.socket], None]


@contextlib.contextmanager
def tcp_server(host: str, handler: Handler) -> Iterator[int]:
    """A listener on `host` that runs `handler` for every connection in its own thread."""
    listener = socket.create_server((host, 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            worker = threading.Thread(target=_guarded, args=(handler, conn, stop), daemon=True)
            worker.start()
            workers.append(worker)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        for worker in workers:
            worker.join(2)


def _guarded(handler: Handler, conn: socket.socket, stop: threading.Event) -> None:
    conn.settimeout(0.2)
    with contextlib.suppress(OSError), conn:
        handler(conn)
        # Keep the connection open (silently) until the test ends or the peer leaves.
        while not stop.is_set():
            try:
                if not conn.recv(4096):
                    return
            except TimeoutError:
                continue


def silent(conn: socket.socket) -> None:
    """Accept, read, never answer: a device that hangs."""


def sends(data: bytes) -> Handler:
    """Answer anything with `data`, then stay silent."""

    def handler(conn: socket.socket) -> None:
        with contextlib.suppress(TimeoutError):
            conn.recv(4096)
        conn.sendall(data)

    return handler


def greets(data: bytes) -> Handler:
    """Send `data` as soon as a client connects."""

    def handler(conn: socket.socket) -> None:
        conn.sendall(data)

    return handler


class _RefuseAll(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.AUTH_FAILED


def ssh_with_banner(banner: str) -> Handler:
    """A real SSH server (paramiko) that identifies itself with `banner` and refuses every login."""
    host_key = paramiko.Ed25519Key.from_private_key(_openssh_key())

    def handler(conn: socket.socket) -> None:
        conn.settimeout(10)
        transport = paramiko.Transport(conn)
        transport.local_version = banner
        transport.add_server_key(host_key)
        transport.start_server(server=_RefuseAll())
        transport.join(10)

    return handler


def _openssh_key():  # type: ignore[no-untyped-def]
    import io

    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return io.StringIO(pem.decode())


@contextlib.contextmanager
def console_server(host: str, device: str) -> Iterator[int]:
    """A minimal console server: TCP clients get the raw byte stream of a serial device.

    What a terminal server in a lab does for `socket://host:port` consoles.
    """
    import select

    import serial

    port = serial.Serial(device, 115200, timeout=0)

    def bridge(conn: socket.socket) -> None:
        conn.setblocking(False)
        while True:
            readable, _, _ = select.select([conn, port.fileno()], [], [], 0.2)
            if conn in readable:
                try:
                    data = conn.recv(4096)
                except BlockingIOError:
                    data = b"?"
                if not data:
                    return
                port.write(data)
            if port.fileno() in readable:
                conn.sendall(port.read(4096))

    try:
        with tcp_server(host, bridge) as tcp_port:
            yield tcp_port
    finally:
        port.close()


class _Scripted(paramiko.ServerInterface):
    """An SSH server's authentication decisions, set per test."""

    def __init__(
        self, methods: str, accept_none: bool, accept_any_key: bool, kbd_password: str
    ) -> None:
        self.methods = methods
        self.kbd_password = kbd_password
        self.username = ""
        self.accept_none = accept_none
        self.accept_any_key = accept_any_key
        self.failures = 0

    def get_allowed_auths(self, username: str) -> str:
        return self.methods

    def check_auth_none(self, username: str) -> int:
        return paramiko.AUTH_SUCCESSFUL if self.accept_none else paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL if self.accept_any_key else paramiko.AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        self.failures += 1
        return paramiko.AUTH_FAILED

    def check_auth_interactive(self, username: str, submethods: str) -> Any:
        self.username = username
        return paramiko.InteractiveQuery("", "", ("Password: ", False))

    def check_auth_interactive_response(self, responses: list[str]) -> int:
        if (self.username, list(responses)) == ("service", [self.kbd_password]):
            return paramiko.AUTH_SUCCESSFUL
        self.failures += 1
        return paramiko.AUTH_FAILED


def ssh_server(
    methods: str = "publickey,password",
    *,
    accept_none: bool = False,
    accept_any_key: bool = False,
    drop_after_attempt: bool = False,
    kbd_password: str = "service",  # noqa: S107 - the fake product's vendor default
) -> Handler:
    """A real SSH server (paramiko) with scripted authentication; may hang up after each try."""
    host_key = paramiko.Ed25519Key.from_private_key(_openssh_key())

    def handler(conn: socket.socket) -> None:
        conn.settimeout(10)
        transport = paramiko.Transport(conn)
        transport.add_server_key(host_key)
        server = _Scripted(methods, accept_none, accept_any_key, kbd_password)
        transport.start_server(server=server)
        for _ in range(200):  # at most 10 s per connection
            if not transport.is_active():
                break
            if drop_after_attempt and server.failures:
                time.sleep(0.05)
                transport.close()
                break
            time.sleep(0.05)
        transport.close()

    return handler
