"""Resolve once, connect to what was checked: names keep their place in SNI and Host only."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from harness.core.errors import DeviceUnreachable, OutOfScope
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import http
from harness.transports.serial import pin_url

LOOPBACK = Scope.of(["127.0.0.1/32"])


@pytest.mark.parametrize(
    ("url", "pinned"),
    [
        ("socket://localhost:7000", "socket://127.0.0.1:7000"),
        ("rfc2217://LOCALHOST:7001?timeout=3", "rfc2217://127.0.0.1:7001?timeout=3"),
        ("socket://127.0.0.1:7002", "socket://127.0.0.1:7002"),
        ("/dev/ttyUSB0", "/dev/ttyUSB0"),
        ("loop://", "loop://"),
    ],
)
def test_a_console_url_reaches_the_address_the_scope_allowed(url: str, pinned: str) -> None:
    assert pin_url(LOOPBACK, url) == pinned


def test_a_console_host_outside_the_scope_is_refused_before_pyserial_sees_it() -> None:
    with pytest.raises(OutOfScope):
        pin_url(Scope.of(["127.0.0.2/32"]), "socket://localhost:7000")


@pytest.mark.parametrize("url", ["spy://socket://10.0.0.1:23", "hwgrep://.*", "socket://host"])
def test_console_urls_that_could_open_anything_are_refused(url: str) -> None:
    with pytest.raises((DeviceUnreachable, OutOfScope)):
        pin_url(LOOPBACK, url)


@contextlib.contextmanager
def _http_server() -> Iterator[tuple[int, list[bytes]]]:
    """A one-shot HTTP server on 127.0.0.1 that records the request it got."""
    seen: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                seen.append(conn.recv(65536))
                conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield server.getsockname()[1], seen
        thread.join(5)


def test_http_keeps_the_name_in_host_and_connects_to_the_checked_address() -> None:
    with _http_server() as (port, seen):
        answer = http.request(
            LOOPBACK, "GET", f"http://localhost:{port}/api", timeout=3, transcript=Transcript("t")
        )
    assert answer.status == 204
    assert f"Host: localhost:{port}".encode() in seen[0]
