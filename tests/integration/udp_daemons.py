"""Real UDP services on loopback for the SURFACE-002 tests: dnsmasq (DNS and TFTP), chrony's
chronyd (NTP), libcoap's coap-server (CoAP) and a socat that reads and never answers; net-snmp's
snmpd is `embedded.snmpd`. Each binds only the test's address, runs in the foreground and is
ready once it answers (or, for socat, once its socket is bound)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

from tests.integration import embedded

SILENT_PORT = 40404  # the socat listener that reads and never answers


def _bound(host: str, port: int) -> embedded.Ready:
    """Ready once the UDP port is taken (a bind of it fails)."""

    def ready() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return True
        return False

    return ready


@contextlib.contextmanager
def dnsmasq(host: str, folder: Path) -> Iterator[None]:
    """dnsmasq answering DNS on 53 (no upstream: it refuses what it does not know) and
    serving an empty TFTP folder on 69."""
    binary = embedded.program("dnsmasq", "dnsmasq-base")
    root = folder / "tftp"
    root.mkdir(parents=True, exist_ok=True)
    command = [
        binary, "--keep-in-foreground", "--conf-file=/dev/null", "--user=root", "--group=root",
        f"--listen-address={host}", "--bind-interfaces", "--port=53", "--no-resolv",
        "--no-hosts", "--enable-tftp", f"--tftp-root={root}", f"--pid-file={folder}/dnsmasq.pid",
        "--log-facility=-",
    ]  # fmt: skip
    with embedded.started(command, folder / "dnsmasq.log", _bound(host, 53)):
        yield


@contextlib.contextmanager
def chronyd(host: str, folder: Path) -> Iterator[None]:
    """chronyd serving its local clock (stratum 8) on 123, never touching the system clock."""
    binary = embedded.program("chronyd", "chrony")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "chrony.conf"
    config.write_text(
        f"port 123\nbindaddress {host}\ncmdport 0\nallow 127.0.0.0/8\nlocal stratum 8\n"
        f"pidfile {folder}/chronyd.pid\n"
    )
    command = [binary, "-d", "-x", "-u", "root", "-f", str(config)]
    with embedded.started(command, folder / "chronyd.log", _bound(host, 123)):
        yield


@contextlib.contextmanager
def coap_server(host: str, folder: Path) -> Iterator[None]:
    """libcoap's example server on 5683 (UDP, and TCP too)."""
    binary = embedded.program("coap-server-notls", "libcoap3-bin")
    folder.mkdir(parents=True, exist_ok=True)
    command = [binary, "-A", host, "-p", "5683"]
    with embedded.started(command, folder / "coap-server.log", _bound(host, 5683)):
        yield


@contextlib.contextmanager
def silent_listener(host: str, folder: Path, port: int = SILENT_PORT) -> Iterator[int]:
    """socat reading datagrams on `port` and answering none (a service that ignores us)."""
    binary = embedded.program("socat", "socat")
    folder.mkdir(parents=True, exist_ok=True)
    command = [binary, "-u", f"UDP-RECV:{port},bind={host}", "/dev/null"]
    with embedded.started(command, folder / "socat.log", _bound(host, port)):
        yield port
