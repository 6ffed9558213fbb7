"""CRYPTO-010 on nginx: a redirect to https of `/` alone, and a TLS port the profile lists
only in `expected_tcp`.

A server that redirects `/` but serves its other paths in the clear is cleartext HTTP,
although `policy.http_redirect_allowed` allows a bare redirect; one that redirects every
path passes. nginx answers a plaintext request on a TLS port with `400 The plain HTTP
request was sent to HTTPS port`: a TLS handshake there completes, so the port passes,
while a plain nginx answering 400 to everything is still HTTP in the clear.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.reporting.results import Outcome
from tests.integration import crypto_daemons, daemons, embedded, web_daemons
from tests.integration.verdicts import concurrently, outcomes, reasons, run

CHECKS = ("--suite", "crypto", "--", "-k", "cleartext_protocol_on_any_port")
VERDICT = "CRYPTO-010[network]"


def _profile(host: str, port: int, *, redirect_allowed: bool = False) -> dict[str, object]:
    return {
        "network": {"host": host, "expected_tcp": [port]},
        "policy": {"timeout_s": 5, "http_redirect_allowed": redirect_allowed},
    }


def test_only_a_redirect_of_every_path_is_a_bare_redirect(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    root_only, everywhere = embedded.addresses(loopback_address, 2)
    ports = {host: daemons.free_port(host) for host in (root_only, everywhere)}
    redirect = "return 301 https://$host$request_uri;"
    with (
        web_daemons.nginx_servers(
            root_only, tmp_path / "root-only",
            f"server {{ listen {root_only}:{ports[root_only]}; root {{root}};\n"
            f"  location = / {{ {redirect} }}\n  location / {{ }} }}\n",
            ports[root_only],
        ),
        web_daemons.nginx_servers(
            everywhere, tmp_path / "everywhere",
            f"server {{ listen {everywhere}:{ports[everywhere]}; {redirect} }}\n",
            ports[everywhere],
        ),
    ):  # fmt: skip
        runs = concurrently(
            **{
                name: (
                    lambda name=name, host=host: run(
                        tmp_path, host, f"redirect-{name}", *CHECKS,
                        **_profile(host, ports[host], redirect_allowed=True),
                    )
                )
                for name, host in (("root-only", root_only), ("everywhere", everywhere))
            }
        )  # fmt: skip
    weak, fixed = runs["root-only"], runs["everywhere"]
    assert outcomes(weak) == {VERDICT: Outcome.FAILED}, reasons(weak)
    said = weak["checks"][VERDICT].reason
    assert f"{ports[root_only]}/tcp: http (GET / got 301 to https://" in said, said
    assert re.search(r"but GET /medsec-[0-9a-f]{16} got HTTP/1.1 404 Not Found\)", said), said
    assert outcomes(fixed) == {VERDICT: Outcome.PASSED}, reasons(fixed)
    ports_json = (fixed["out"] / "evidence/CRYPTO-010/network/ports.json").read_text()
    assert "http-redirect-to-https" in ports_json
    assert "GET /medsec-" in ports_json


def test_a_tls_port_answering_plain_http_with_400_is_not_cleartext(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    tls_host, plain_host = embedded.addresses(loopback_address, 2)
    pki = crypto_daemons.make_pki(tmp_path, tls_host)
    ports = {host: daemons.free_port(host) for host in (tls_host, plain_host)}
    with (
        web_daemons.nginx_servers(
            tls_host, tmp_path / "tls",
            f"server {{ listen {tls_host}:{ports[tls_host]} ssl; root {{root}};\n"
            f"  ssl_certificate {pki.ec_cert}; ssl_certificate_key {pki.ec_key}; }}\n",
            ports[tls_host],
        ),
        web_daemons.nginx_servers(
            plain_host, tmp_path / "plain",
            f"server {{ listen {plain_host}:{ports[plain_host]}; return 400; }}\n",
            ports[plain_host],
        ),
    ):  # fmt: skip
        runs = concurrently(
            **{
                name: (
                    lambda name=name, host=host: run(
                        tmp_path, host, f"port-{name}", *CHECKS, **_profile(host, ports[host])
                    )
                )
                for name, host in (("tls", tls_host), ("plain", plain_host))
            }
        )  # fmt: skip
    tls_port, plain = runs["tls"], runs["plain"]
    assert outcomes(tls_port) == {VERDICT: Outcome.PASSED}, reasons(tls_port)
    ports_json = (tls_port["out"] / "evidence/CRYPTO-010/network/ports.json").read_text()
    assert '"speaks": "tls"' in ports_json
    assert "a TLS handshake completed (TLSv1." in ports_json
    assert outcomes(plain) == {VERDICT: Outcome.FAILED}, reasons(plain)
    assert f"{ports[plain_host]}/tcp: http (HTTP/1.1 400 Bad Request)" in (
        plain["checks"][VERDICT].reason
    )
