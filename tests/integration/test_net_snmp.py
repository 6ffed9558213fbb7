"""net-snmp's snmpd, weak (the `public` community, SNMP v1/v2c in the clear) and hardened
(SNMPv3 with authentication and privacy only). CRYPTO-010 fails the weak one on
161/udp, where SNMP lives (it said 161/tcp).
"""

from __future__ import annotations

from pathlib import Path

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
