"""The UPDATE probes' rules: liveness."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.config.profile import Network, Profile, Service
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes import liveness
from tests.integration import swupdate_agent

LOOPBACK = Scope.of(["127.0.0.1/32"])
HOST = "127.0.0.1"


@contextlib.contextmanager
def serving(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback TCP server that runs `answer` on every connection; yields its port."""
    with socket.create_server((HOST, 0)) as server:
        server.settimeout(0.2)
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except (TimeoutError, OSError):
                    continue
                with conn, contextlib.suppress(OSError):
                    answer(conn)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield server.getsockname()[1]
        finally:
            stop.set()
            thread.join()


def closed_port() -> int:
    with socket.create_server((HOST, 0)) as probe:
        port: int = probe.getsockname()[1]
    return port


# --- liveness, through the transports ------------------------------------------------------


@pytest.fixture
def tls_answer(tmp_path: Path) -> Callable[[socket.socket], None]:
    swupdate_agent.prepare(tmp_path, HOST, "unused")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "keys/tls.crt", tmp_path / "keys/tls.key")

    def answer(conn: socket.socket) -> None:
        conn.settimeout(2)
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    return answer


def test_liveness_handshakes_through_the_transports_into_the_transcript(
    lab_profile: Profile, tls_answer: Callable[[socket.socket], None]
) -> None:
    silent = closed_port()
    with serving(tls_answer) as tls_port, serving(lambda conn: None) as tcp_port:
        services = (
            Service(name="api", port=tls_port, protocol="https"),
            Service(name="raw", port=tcp_port, protocol="other"),
            Service(name="gone", port=silent, protocol="other"),
        )
        profile = lab_profile.model_copy(
            update={"network": Network(host=HOST, services=services), "serial": None}
        )
        transcript = Transcript("liveness")
        alive = liveness.confirm(profile, LOOPBACK, transcript)
    answers = {a.name: a for a in alive.answers}
    assert answers["api"].alive
    assert answers["api"].detail.startswith("TLS handshake, TLSv1.")
    assert (answers["raw"].alive, answers["raw"].detail) == (True, "TCP connect")
    assert not answers["gone"].alive
    assert answers["gone"].detail.startswith(f"{HOST}:{silent}: connect failed")
    assert not alive.alive
    notes = [item.note for item in transcript.items]
    assert f"connect {HOST}:{tls_port}" in notes
    assert any(note.startswith("TLS established: TLSv1.") for note in notes)
    assert f"connect {HOST}:{tcp_port}" in notes
