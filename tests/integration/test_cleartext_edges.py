"""CRYPTO-010's second looks at fakes that leave them undecided or would mislead them: a
redirect of `/` whose other paths get no HTTP answer is `error`, not a pass; a UDP echo on
a profiled port is not an SNMP agent."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import cleartext
from harness.reporting.results import Outcome
from tests.integration import fakes
from tests.integration.verdicts import outcomes, reasons, run

CHECKS = ("--suite", "crypto", "--", "-k", "cleartext_protocol_on_any_port")


def _redirects_only_the_root(conn: socket.socket) -> None:
    """301 to https for `GET /`; any other request is read and never answered."""
    conn.settimeout(5)  # the harness listens for a greeting first
    request = conn.recv(4096)
    if request.startswith(b"GET / "):
        conn.sendall(b"HTTP/1.1 301 Moved\r\nLocation: https://pump/\r\nContent-Length: 0\r\n\r\n")


def test_a_redirect_whose_other_paths_get_no_answer_is_an_error(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    host = loopback_address
    with fakes.tcp_server(host, _redirects_only_the_root) as port:
        result = run(
            tmp_path, host, "redirect-undecided", *CHECKS,
            network={"host": host, "expected_tcp": [port]},
            policy={"timeout_s": 2, "http_redirect_allowed": True},
        )  # fmt: skip
    assert outcomes(result) == {"CRYPTO-010[network]": Outcome.ERROR}, reasons(result)
    reason = result["checks"]["CRYPTO-010[network]"].reason
    assert f"{port}/tcp: http-redirect-to-https (301 to https://pump/): GET /medsec-" in reason
    assert "got no answer within 1s" in reason


@contextlib.contextmanager
def _udp_echo(host: str) -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.settimeout(0.1)
        stop = threading.Event()

        def echo() -> None:
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    data, peer = sock.recvfrom(4096)
                    sock.sendto(data, peer)

        thread = threading.Thread(target=echo, daemon=True)
        thread.start()
        try:
            yield sock.getsockname()[1]
        finally:
            stop.set()
            thread.join()


def test_an_echo_of_the_snmp_gets_is_no_agent(loopback_address: str, private_network: None) -> None:
    host = loopback_address
    with _udp_echo(host) as port:
        transcript = Transcript("echo")
        found = cleartext.snmp_communities(
            Scope.of([f"{host}/32"]), host, port=port, timeout=1.0, transcript=transcript
        )
    echoed = [x.data for x in transcript.items if x.direction == "recv"]
    assert echoed == cleartext.snmp_get_requests()  # the GETs came back, as requests
    assert found is None
