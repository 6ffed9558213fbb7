"""HTTPS requests check the device's chain, record a failure and carry on, unless the
chain is required (http.verify_tls, the update channel with tls.ca_file)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.core.errors import DeviceUnreachable
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.sim import pki
from harness.transports import http
from harness.transports.http import TlsTrust

SCOPE = Scope.of(["127.0.0.1/32"])


@pytest.fixture(scope="module")
def anchors(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pki.PumpKeys]:
    """The server's CA, a CA that did not sign it, and the server's keys."""
    served = pki.generate(tmp_path_factory.mktemp("served"), "127.0.0.1")
    stranger = pki.generate(tmp_path_factory.mktemp("stranger"), "127.0.0.1")
    return served.ca_path, stranger.ca_path, served


@pytest.fixture(scope="module")
def https_port(anchors: tuple[Path, Path, pki.PumpKeys]) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(anchors[2].tls_cert_path, anchors[2].tls_key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            try:
                with context.wrap_socket(conn, server_side=True) as wrapped:
                    wrapped.recv(4096)
                    wrapped.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (ssl.SSLError, OSError):
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    listener.close()


def _get(port: int, trust: TlsTrust, transcript: Transcript) -> int:
    url = f"https://127.0.0.1:{port}/"
    return http.request(SCOPE, "GET", url, timeout=2, transcript=transcript, trust=trust).status


def _events(transcript: Transcript) -> str:
    return "\n".join(item.note for item in transcript.items)


def test_a_chain_that_verifies_is_checked_and_nothing_recorded(
    anchors: tuple[Path, Path, pki.PumpKeys], https_port: int
) -> None:
    trust = TlsTrust(anchors[0])
    transcript = Transcript("t")
    assert _get(https_port, trust, transcript) == 200
    assert trust.failures() == {}
    assert "chain checked against" in _events(transcript)


def test_a_chain_that_fails_is_recorded_and_the_request_made_unverified(
    anchors: tuple[Path, Path, pki.PumpKeys], https_port: int
) -> None:
    trust = TlsTrust(anchors[1])
    transcript = Transcript("t")
    assert _get(https_port, trust, transcript) == 200
    [(target, reason)] = trust.failures().items()
    assert target == f"127.0.0.1:{https_port}"
    assert "unable to get local issuer certificate" in reason
    assert _get(https_port, trust, transcript) == 200  # remembered: straight to unverified
    events = _events(transcript)
    assert events.count("chain checked against") == 1
    assert events.count("its chain failed against") == 2
    assert "CRYPTO-005 judges it" in events


def test_a_required_chain_that_fails_ends_the_request(
    anchors: tuple[Path, Path, pki.PumpKeys], https_port: int
) -> None:
    with pytest.raises(DeviceUnreachable, match="does not verify against"):
        _get(https_port, TlsTrust(anchors[1], required=True), Transcript("t"))
    assert _get(https_port, TlsTrust.of(anchors[0]), Transcript("t")) == 200


def test_without_anchors_nothing_is_checked(https_port: int) -> None:
    transcript = Transcript("t")
    assert _get(https_port, TlsTrust(), transcript) == 200
    assert "no tls.ca_file" in _events(transcript)
