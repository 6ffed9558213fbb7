"""CRYPTO-010 on a fake that leaves its second look undecided: a redirect of `/` whose
other paths get no HTTP answer is `error`, not a pass."""

from __future__ import annotations

import socket
from pathlib import Path

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
