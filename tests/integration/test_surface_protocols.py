"""SURFACE-003 and SURFACE-009 against mosquitto, on 127.x and on ::1.

Hardened: one broker port, listening on both addresses, profiled as the plain MQTT it
speaks. Weak: a second listener on ::1 only (a port no IPv4 filter would ever show), and
the plain listener profiled as `mqtts`, which it does not speak. The two runs take turns:
::1 is the one IPv6 loopback address, and each scan of it must see only its own broker.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.reporting.results import Outcome
from tests.integration import crypto_daemons, daemons, embedded
from tests.integration.verdicts import outcomes, reasons, run

CHECKS = ("--suite", "surface", "--", "-k", "speak_their_profiled_protocol or only_over_ipv6")
IPV6 = "::1"


def _surface(
    tmp_path: Path, host: str, name: str, services: list[dict[str, object]]
) -> dict[str, Any]:
    return run(
        tmp_path, host, name, *CHECKS,
        scope={"allow": [f"{host}/32", f"{IPV6}/128"]},
        network={"host": host, "host6": IPV6, "services": services},
    )  # fmt: skip


def test_mosquitto_speaks_its_protocol_and_listens_alike_on_both_stacks(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    host = loopback_address
    port, extra = daemons.free_port(host), daemons.free_port(host)
    both = f"listener {port} {host}\nallow_anonymous true\nlistener {port} {IPV6}\n"
    with embedded.mosquitto(host, tmp_path / "hardened", both):
        hardened = _surface(
            tmp_path, host, "hardened", [{"name": "broker", "port": port, "protocol": "mqtt"}]
        )
    weak_config = both + f"listener {extra} {IPV6}\n"
    with embedded.mosquitto(host, tmp_path / "weak", weak_config):
        weak = _surface(
            tmp_path, host, "weak", [{"name": "telemetry", "port": port, "protocol": "mqtts"}]
        )
    assert outcomes(hardened) == {
        "SURFACE-003[network]": Outcome.PASSED,
        "SURFACE-009[network]": Outcome.PASSED,
    }, reasons(hardened)
    assert outcomes(weak) == {
        "SURFACE-003[network]": Outcome.FAILED,
        "SURFACE-009[network]": Outcome.FAILED,
    }, reasons(weak)
    only_ipv6 = weak["checks"]["SURFACE-009[network]"].reason
    assert f"{extra}/tcp open on ::1, closed on {host}" in only_ipv6, only_ipv6
    spoke = weak["checks"]["SURFACE-003[network]"].reason
    assert f"telemetry ({port}/tcp, mqtts): other" in spoke, spoke
    assert "in the clear it speaks mqtt (CONNACK 0" in spoke, spoke


def test_tls_services_the_harness_cannot_finish_are_undecided_not_another_protocol(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    """Each of these speaks TLS but ends the harness's TLS client early: a server that
    wants a client certificate (openssl, TLS 1.3: its alert comes after the handshake;
    mosquitto: it just closes), one that speaks TLS 1.1 at most (an alert in the
    handshake). What runs inside was never asked, so SURFACE-003 cannot say the port
    speaks something else: `error`, naming each, while a server our client can finish
    completes. (A port that answers in another protocol still fails it: the test above.)"""
    host = loopback_address
    tls = crypto_daemons.make_pki(tmp_path, host)
    openssl = ["openssl", "s_server", "-www", "-quiet", "-cert", str(tls.ec_cert)]
    openssl += ["-key", str(tls.ec_key)]
    ports = {name: daemons.free_port(host) for name in ("mtls", "old", "broker", "good")}
    old_options = ["-min_protocol", "TLSv1", "-max_protocol", "TLSv1.1"]
    old_options += ["-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"]
    servers = {
        "mtls": [*openssl, "-Verify", "1", "-CAfile", str(tls.ca)],
        "old": [*openssl, *old_options],
        "good": openssl,
    }
    broker = (
        f"listener {ports['broker']} {host}\nallow_anonymous true\ncertfile {tls.ec_cert}\n"
        f"keyfile {tls.ec_key}\ncafile {tls.ca}\nrequire_certificate true\n"
    )
    protocols = {"mtls": "https", "old": "https", "broker": "mqtts", "good": "https"}
    with ExitStack() as stack:
        for name, command in servers.items():
            accept = ["-accept", f"{host}:{ports[name]}"]
            stack.enter_context(
                daemons.running([*command, *accept], host, ports[name], tmp_path / f"{name}.log")
            )
        stack.enter_context(embedded.mosquitto(host, tmp_path / "broker", broker))
        result = run(
            tmp_path, host, "tls-refusing", *CHECKS,
            network={
                "host": host,
                "services": [
                    {"name": name, "port": ports[name], "protocol": protocols[name]}
                    for name in ports
                ],
            },
        )  # fmt: skip
    check = result["checks"]["SURFACE-003[network]"]
    assert check.outcome is Outcome.ERROR, reasons(result)
    spoken = json.loads(
        (result["out"] / "evidence" / "SURFACE-003" / "network" / "services.json").read_text()
    )
    assert {s["name"]: s["spoke"] for s in spoken} == {
        "mtls": "undecided",
        "old": "undecided",
        "broker": "undecided",
        "good": "completed",
    }, spoken
    assert "it speaks TLS, but the harness's client could not finish" in check.reason
