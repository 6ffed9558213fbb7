"""SURFACE-002 against real UDP services, and our sweep against `nmap -sU` on the same ones.

One device runs dnsmasq (DNS, TFTP), chronyd (NTP), coap-server (CoAP), net-snmp's snmpd
with the `public` community and a socat that reads and never answers; a second runs snmpd
with SNMPv3 users only. Where our sweep and nmap disagree on a port, a third opinion
settles it: the kernel's table of bound UDP sockets (`ss`) says whether anything listens,
and the protocol's own client (curl for TFTP, coap-client for CoAP) whether it answers; the
test requires our answer to be the right one. SURFACE-002 then fails the device whose
answering ports the profile does not expect, and passes it once they are declared.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from contextlib import ExitStack
from pathlib import Path

from harness.core.deadline import Deadline
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.surface import udp_exposure
from harness.reporting.results import Outcome
from tests.integration import daemons, embedded, udp_daemons
from tests.integration.verdicts import concurrently, outcomes, reasons, run

CHECKS = ("--suite", "surface", "--", "-k", "unexpected_udp")
COMPARED = [*range(1, 1025), 1900, 5353, 5683, udp_daemons.SILENT_PORT]
SERVICES = {53: "dns", 69: "tftp", 123: "ntp", 161: "snmp", 5683: "coap"}
V3_ONLY = 'createUser medsec SHA-256 "{secret}" AES "{secret}"\nrouser medsec priv\n'


def _ours(host: str) -> dict[int, str]:
    """Our sweep of the compared ports, in nmap's words (unlisted ports are closed)."""
    exposure = udp_exposure.sweep(
        Scope.of([f"{host}/32"]), host, COMPARED, (), concurrency=256, wait=1.0,
        deadline=Deadline(60), transcript=Transcript("sweep"),
    )  # fmt: skip
    states = {f.port: "open" for f in exposure.answering}
    states |= {u.port: "filtered" for u in exposure.unreachable}
    return states | {port: "open|filtered" for port in exposure.silent}


def _nmap(host: str) -> dict[int, str]:
    """nmap -sU's states of the compared ports (those it leaves out are closed)."""
    done = subprocess.run(
        ["nmap", "-sU", "-n", "-Pn", "-T4", "-p", ",".join(map(str, COMPARED)), "-oG", "-", host],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    ignored = re.search(r"Ignored State: (\S+)", done.stdout)
    assert ignored is None or ignored.group(1) == "closed", done.stdout
    return {int(p): s for p, s in re.findall(r"(\d+)/([a-z|]+)/udp", done.stdout)}


def _bound(host: str) -> set[int]:
    """The UDP ports a socket is bound to on `host` (or on every address), per the kernel."""
    listing = subprocess.run(["ss", "-H", "-uln"], capture_output=True, text=True, check=True)
    found = re.findall(r"\s(\S+):(\d+)\s+\S+:\S+\s*$", listing.stdout, re.MULTILINE)
    anywhere = {"*", str(ipaddress.IPv4Address(0))}
    return {int(port) for address, port in found if address == host or address in anywhere}


def _client_answers(host: str, port: int) -> bool | None:
    """Whether the protocol's own client gets an answer from `port` (None: no client)."""
    if SERVICES.get(port) == "tftp":  # curl exits 68 on a TFTP "file not found"
        done = subprocess.run(
            ["curl", "-s", "--max-time", "3", f"tftp://{host}:{port}/medsec-none"],
            capture_output=True,
        )
        return done.returncode == 68
    if SERVICES.get(port) == "coap":
        done = subprocess.run(
            ["coap-client-notls", "-B", "3", f"coap://{host}:{port}/.well-known/core"],
            capture_output=True,
        )
        return done.returncode == 0 and b"</" in done.stdout
    return None


def _truth(host: str, port: int, bound: set[int]) -> str | None:
    if port not in bound:
        return "closed"
    answers = _client_answers(host, port)
    return None if answers is None else ("open" if answers else "open|filtered")


def test_udp_sweep_agrees_with_nmap_and_surface_002_follows_the_profile(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    for tool, package in (("nmap", "nmap"), ("ss", "iproute2"), ("curl", "curl")):
        daemons.require(shutil.which(tool) is not None, f"apt-get install {package}")
    device, v3_agent = embedded.addresses(loopback_address, 2)
    secret = daemons.random_password()
    with ExitStack() as running:
        running.enter_context(udp_daemons.dnsmasq(device, tmp_path / "dnsmasq"))
        running.enter_context(udp_daemons.chronyd(device, tmp_path / "chronyd"))
        running.enter_context(udp_daemons.coap_server(device, tmp_path / "coap"))
        running.enter_context(udp_daemons.silent_listener(device, tmp_path / "socat"))
        running.enter_context(embedded.snmpd(device, tmp_path / "snmpd", "rocommunity public\n"))
        running.enter_context(
            embedded.snmpd(v3_agent, tmp_path / "snmpd-v3", V3_ONLY.format(secret=secret))
        )
        settled = []
        for host in (device, v3_agent):
            ours, theirs, bound = _ours(host), _nmap(host), _bound(host)
            for port in sorted(set(ours) | set(theirs)):
                mine, peer = ours.get(port, "closed"), theirs.get(port, "closed")
                if mine != peer:
                    truth = _truth(host, port, bound)
                    assert truth is not None, f"{port}: no client to settle {mine} vs {peer}"
                    settled.append((host, port, mine, peer, truth))
            assert {p for p, s in ours.items() if s == "open"} <= bound, (host, ours, bound)
        runs = concurrently(
            undeclared=lambda: run(
                tmp_path, device, "udp-undeclared", *CHECKS, network={"host": device}
            ),
            declared=lambda: run(
                tmp_path,
                device,
                "udp-declared",
                *CHECKS,
                network={"host": device, "expected_udp": sorted(SERVICES)},
            ),
            v3_declared=lambda: run(
                tmp_path,
                v3_agent,
                "snmp-v3-declared",
                *CHECKS,
                network={"host": v3_agent, "expected_udp": [161]},
            ),
            v3_undeclared=lambda: run(
                tmp_path, v3_agent, "snmp-v3-undeclared", *CHECKS, network={"host": v3_agent}
            ),
        )
    (tmp_path / "disagreements.txt").write_text(repr(settled))
    wrong = [item for item in settled if item[2] != item[4]]
    assert not wrong, f"our sweep was wrong where it disagreed with nmap: {wrong}"
    key = "SURFACE-002[network]"
    undeclared = runs["undeclared"]
    assert outcomes(undeclared) == {key: Outcome.FAILED}, reasons(undeclared)
    reason = undeclared["checks"][key].reason
    for port, protocol in SERVICES.items():
        assert f"{port}/udp: {protocol} (" in reason, reason
    assert "SNMP v1 answers community 'public'" in reason
    assert str(udp_daemons.SILENT_PORT) not in reason  # silent: recorded, not judged
    for name in ("declared", "v3_declared"):
        assert outcomes(runs[name]) == {key: Outcome.PASSED}, reasons(runs[name])
    v3 = runs["v3_undeclared"]
    assert outcomes(v3) == {key: Outcome.FAILED}, reasons(v3)
    assert "161/udp: snmp (SNMPv3 agent" in v3["checks"][key].reason
