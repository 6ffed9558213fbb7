"""The TLS probe's hello building and first-flight parsing, on crafted bytes and a real server."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import tls, tls_wire


def _server_hello(version: int, suite: int, supported_version: int | None = None) -> bytes:
    extensions = b""
    if supported_version is not None:
        extensions = struct.pack(">HHH", 0x002B, 2, supported_version)
    body = (
        struct.pack(">H", version)
        + b"\x11" * 32
        + b"\x00"
        + struct.pack(">H", suite)
        + b"\x00"
        + struct.pack(">H", len(extensions))
        + extensions
    )
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack(">H", len(handshake)) + handshake


SCOPE = Scope.of(["127.0.0.0/8"])


@pytest.fixture
def answering() -> Iterator[Callable[[bytes], int]]:
    """A one-shot server that reads the ClientHello, sends fixed bytes, then closes."""
    listeners: list[socket.socket] = []

    def start(answer: bytes) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(2)
                conn.recv(65536)
                if answer:
                    conn.sendall(answer)

        threading.Thread(target=serve, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    for listener in listeners:
        listener.close()


def _probe(port: int, version: tls.TlsVersion = tls.TlsVersion.TLS1_2) -> tls.HelloResult:
    return tls.probe_version(
        SCOPE, "127.0.0.1", port, version, timeout=2, server_name=None, transcript=Transcript("t")
    )


def test_a_server_hello_for_the_offered_version_is_acceptance(answering) -> None:
    result = _probe(answering(_server_hello(0x0303, 0xC02F)))
    assert result.outcome is tls.HelloOutcome.ACCEPTED
    assert (result.negotiated, result.cipher_suite) == (0x0303, 0xC02F)


def test_tls13_is_read_from_supported_versions(answering) -> None:
    answer = _server_hello(0x0303, 0x1301, supported_version=0x0304)
    assert _probe(answering(answer), tls.TlsVersion.TLS1_3).accepted
    assert not _probe(answering(_server_hello(0x0303, 0xC02F)), tls.TlsVersion.TLS1_3).accepted


def test_alert_close_and_another_version_are_refusals(answering) -> None:
    alert = _probe(answering(b"\x15\x03\x01\x00\x02\x02\x46"))
    assert (alert.outcome, alert.alert) == (tls.HelloOutcome.ALERT, 70)
    assert _probe(answering(b"")).outcome is tls.HelloOutcome.CLOSED
    other = _probe(answering(_server_hello(0x0303, 0xC02F)), tls.TlsVersion.TLS1_0)
    assert other.outcome is tls.HelloOutcome.OTHER_VERSION


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        b"\x16\x03\x03\x01\x00\x02",
        b"\x16\x03\x03\x00\x04\x0b\x00\x00\x00",
    ],
    ids=["plaintext", "cut-short", "not-server-hello"],
)
def test_anything_else_is_a_device_error_not_a_verdict(answering, data: bytes) -> None:
    with pytest.raises(DeviceError):
        _probe(answering(data))


def test_hellos_offer_exactly_one_version() -> None:
    legacy = tls_wire.hello_record(tls_wire.Offer(tls.TlsVersion.TLS1_0, tls.LEGACY_SUITES))
    assert legacy[:3] == b"\x16\x03\x01"
    assert legacy[9:11] == b"\x03\x01"
    modern = tls_wire.hello_record(
        tls_wire.Offer(tls.TlsVersion.TLS1_3, tls.TLS13_SUITES, "ip100.local")
    )
    assert modern[9:11] == b"\x03\x03"  # legacy_version, TLS 1.3 goes in supported_versions
    assert b"\x00\x2b\x00\x03\x02\x03\x04" in modern
    assert b"ip100.local" in modern


def test_server_name_is_never_an_ip_literal() -> None:
    assert tls.default_server_name("127.0.0.1", None) is None
    assert tls.default_server_name("pump.lab", None) == "pump.lab"
    assert tls.default_server_name("127.0.0.1", "ip100.local") == "ip100.local"


@pytest.fixture(scope="module")
def tls12_only_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Python's ssl (OpenSSL 3) with TLS 1.2 as both minimum and maximum."""
    from harness.sim import pki

    folder: Path = tmp_path_factory.mktemp("tls")
    material = pki.generate(folder, "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(material.tls_cert_path, material.tls_key_path)
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    import socket

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
                    wrapped.recv(1)
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


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        (tls.TlsVersion.SSL3, False),
        (tls.TlsVersion.TLS1_0, False),
        (tls.TlsVersion.TLS1_1, False),
        (tls.TlsVersion.TLS1_2, True),
        (tls.TlsVersion.TLS1_3, False),
    ],
)
def test_against_a_real_tls12_only_server(tls12_only_server: int, version, accepted) -> None:
    result = tls.probe_version(
        Scope.of(["127.0.0.1/32"]),
        "127.0.0.1",
        tls12_only_server,
        version,
        timeout=5,
        server_name=None,
        transcript=Transcript("t"),
    )
    assert result.accepted is accepted, result.summary()
