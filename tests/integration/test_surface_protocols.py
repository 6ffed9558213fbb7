"""SURFACE-003 and SURFACE-009 against mosquitto, on 127.x and on ::1.

Hardened: one broker port, listening on both addresses, profiled as the plain MQTT it
speaks. Weak: a second listener on ::1 only (a port no IPv4 filter would ever show), and
the plain listener profiled as `mqtts`, which it does not speak. The two runs take turns:
::1 is the one IPv6 loopback address, and each scan of it must see only its own broker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.reporting.results import Outcome
from tests.integration import daemons, embedded
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
