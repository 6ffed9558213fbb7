"""CRYPTO-010 on nginx: a redirect to https of `/` alone.

A server that redirects `/` but serves its other paths in the clear is cleartext HTTP,
although `policy.http_redirect_allowed` allows a bare redirect; one that redirects every
path passes.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.reporting.results import Outcome
from tests.integration import daemons, embedded, web_daemons
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
