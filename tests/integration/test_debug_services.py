"""Debian's gdbserver and busybox telnetd as forgotten debug services: SURFACE-005 (and -001).

gdbserver serves one connection and exits, and a run's port scan is a connection: so the
weak device starts it per connection (socat, as a device's inetd would) on an arbitrary
port, beside a busybox telnetd on another (the scan covers 1-1024 and the daemons' ports:
the emulator's runs show the whole range). Both are found by the protocol they answer
and fail SURFACE-005, and SURFACE-001 leaves them to it. The hardened device runs only
sshd: both pass. A gdbserver listening by itself is found by the probe when it is the
first to connect (the greeting wait and `qSupported` share one connection).
"""

from __future__ import annotations

import ipaddress
from contextlib import ExitStack
from pathlib import Path

from harness.core.scope import Scope
from harness.probes.surface import debug_services
from harness.probes.surface.debug_services import Debug
from harness.reporting.results import Outcome
from tests.integration import daemons, embedded
from tests.integration.verdicts import concurrently, outcomes, reasons, run

CHECKS = ("--suite", "surface", "--", "-k", "unexpected_tcp_port or debug_services")


def test_gdbserver_and_telnetd_found_by_protocol(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    weak_host, hardened_host, alone_host = embedded.addresses(loopback_address, 3)
    gdbserver = embedded.program("gdbserver", "gdbserver")
    socat = embedded.program("socat", "socat")
    busybox = embedded.program("busybox", "busybox-static")
    gdb_port, telnet_port = daemons.free_port(weak_host), daemons.free_port(weak_host)
    with ExitStack() as stack:
        stack.enter_context(
            embedded.started(
                [socat, f"TCP-LISTEN:{gdb_port},bind={weak_host},fork,reuseaddr",
                 f"EXEC:{gdbserver} --multi stdio"],
                tmp_path / "socat.log", embedded.listening(weak_host, gdb_port),
            )
        )  # fmt: skip
        stack.enter_context(
            embedded.started(
                [busybox, "telnetd", "-F", "-b", f"{weak_host}:{telnet_port}", "-l", "/bin/false"],
                tmp_path / "telnetd.log", embedded.listening(weak_host, telnet_port),
            )
        )  # fmt: skip
        ssh_port = stack.enter_context(
            daemons.sshd(hardened_host, tmp_path / "sshd", password_auth=False, allow="nobody")
        )
        runs = concurrently(
            weak=lambda: run(
                tmp_path, weak_host, "debug-weak", *CHECKS,
                network={"host": weak_host, "scan_ports": f"1-1024,{gdb_port},{telnet_port}"},
            ),
            hardened=lambda: run(
                tmp_path, hardened_host, "debug-hardened", *CHECKS,
                network={"host": hardened_host, "expected_tcp": [ssh_port],
                         "scan_ports": f"1-1024,{ssh_port}"},
            ),
            alone=lambda: _alone(gdbserver, alone_host, tmp_path),
        )  # fmt: skip
    weak, hardened = runs["weak"], runs["hardened"]
    assert outcomes(weak) == {
        "SURFACE-001[network]": Outcome.PASSED,  # both ports are SURFACE-005's to fail
        "SURFACE-005[network]": Outcome.FAILED,
    }, reasons(weak)
    found = weak["checks"]["SURFACE-005[network]"].reason
    assert f"{gdb_port}/tcp: GDB remote stub (answered GDB qSupported: PacketSize=" in found
    assert f"{telnet_port}/tcp: telnet (telnet option negotiation)" in found
    listed = "\n".join(weak["checks"]["SURFACE-001[network]"].summary)
    assert f"port {gdb_port}: GDB remote stub: SURFACE-005 judges it" in listed
    assert outcomes(hardened) == {
        "SURFACE-001[network]": Outcome.PASSED,
        "SURFACE-005[network]": Outcome.PASSED,
    }, reasons(hardened)
    assert runs["alone"]["debug"] is Debug.GDB


def _alone(gdbserver: str, host: str, folder: Path) -> dict[str, object]:
    """gdbserver listening by itself, asked once by the probe (no scan before it)."""
    port = daemons.free_port(host)
    command = [gdbserver, "--multi", f"{host}:{port}"]
    log = folder / "gdbserver.log"
    with embedded.started(command, log, lambda: "Listening on port" in _text(log)):
        scope = Scope((ipaddress.ip_network(f"{host}/32"),))
        (answer,) = debug_services.survey(scope, host, [port], timeout=5).answers
    return {"debug": answer.debug, "detail": answer.detail}


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
