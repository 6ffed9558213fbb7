"""net-snmp's snmpd, weak (the `public` community, SNMP v1/v2c in the clear) and hardened
(SNMPv3 with authentication and privacy only). CRYPTO-010 fails the weak one on
161/udp, where SNMP lives (it said 161/tcp), on a profiled UDP port other than 161, and
over TCP (RFC 3430), where it asked only 161/udp.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.reporting.results import Outcome
from tests.integration import daemons, embedded
from tests.integration.verdicts import concurrently, outcomes, reasons, run

CHECKS = ("--suite", "crypto", "--", "-k", "cleartext_protocol_on_any_port")


def test_net_snmp_weak_and_hardened(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    weak_host, hardened_host = embedded.addresses(loopback_address, 2)
    secret = daemons.random_password()
    with (
        embedded.snmpd(weak_host, tmp_path / "weak", "rocommunity public\n"),
        embedded.snmpd(
            hardened_host,
            tmp_path / "hardened",
            f'createUser medsec SHA-256 "{secret}" AES "{secret}"\nrouser medsec priv\n',
        ),
    ):
        runs = concurrently(
            **{
                name: (
                    lambda name=name, host=host: run(
                        tmp_path, host, f"snmpd-{name}", *CHECKS,
                        network={"host": host, "expected_tcp": []},
                    )
                )
                for name, host in (("weak", weak_host), ("hardened", hardened_host))
            }
        )  # fmt: skip
    weak, hardened = runs["weak"], runs["hardened"]
    assert outcomes(weak) == {"CRYPTO-010[network]": Outcome.FAILED}, reasons(weak)
    assert "161/udp: snmp (SNMP v1 answers community 'public')" in (
        weak["checks"]["CRYPTO-010[network]"].reason
    )
    ports = (weak["out"] / "evidence/CRYPTO-010/network/ports.json").read_text()
    assert '"transport": "udp"' in ports
    assert outcomes(hardened) == {"CRYPTO-010[network]": Outcome.PASSED}, reasons(hardened)


@pytest.mark.parametrize(
    ("listen", "network", "said"),
    [
        pytest.param(
            "udp:{host}:1161", {"expected_tcp": [], "expected_udp": [1161]}, "1161/udp",
            id="profiled-udp-port",
        ),
        pytest.param("tcp:{host}:161", {"expected_tcp": [161]}, "161/tcp", id="over-tcp"),
    ],
)  # fmt: skip
def test_net_snmp_beyond_161_udp(
    tmp_path: Path,
    loopback_address: str,
    private_network: None,
    listen: str,
    network: dict[str, list[int]],
    said: str,
) -> None:
    """`public` on a profiled UDP port other than 161, or on 161/tcp (RFC 3430), fails
    (only 161/udp was asked); SNMPv3 with authentication and privacy only there passes."""
    weak_host, hardened_host = embedded.addresses(loopback_address, 2)
    secret = daemons.random_password()
    with (
        embedded.snmpd(weak_host, tmp_path / "weak", "rocommunity public\n", listen),
        embedded.snmpd(
            hardened_host,
            tmp_path / "hardened",
            f'createUser medsec SHA-256 "{secret}" AES "{secret}"\nrouser medsec priv\n',
            listen,
        ),
    ):
        runs = concurrently(
            **{
                name: (
                    lambda name=name, host=host: run(
                        tmp_path, host, f"snmpd-{name}", *CHECKS,
                        network={"host": host, **network},
                    )
                )
                for name, host in (("weak", weak_host), ("hardened", hardened_host))
            }
        )  # fmt: skip
    weak, hardened = runs["weak"], runs["hardened"]
    assert outcomes(weak) == {"CRYPTO-010[network]": Outcome.FAILED}, reasons(weak)
    reason = weak["checks"]["CRYPTO-010[network]"].reason
    assert f"{said}: snmp (SNMP v1 answers community 'public')" in reason, reason
    assert outcomes(hardened) == {"CRYPTO-010[network]": Outcome.PASSED}, reasons(hardened)
