"""The pump's cloud uplink: a TLS client that reports telemetry to its server periodically.

Every `interval` it connects to the configured address (on the emulator: its own host and
a port reserved at start, where the harness listens during CRYPTO-012), verifies the
server's chain against the cloud test CA and the name `cloud.ip100.example`, and only
then sends one JSON report. A refused connection (nobody listening) is the normal case
and is not logged; after refusals it tries less often, down to once every
`IDLE_INTERVAL_S`, and goes back to `interval` once a connection is accepted (a pump
waiting for its run, or one of fifty in a fleet, then costs less CPU).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from pathlib import Path

from harness.sim.listener import bind

INTERVAL_S = 0.25
IDLE_INTERVAL_S = 1.0
TIMEOUT_S = 3.0


def reserve_port(host: str) -> int:
    """A port free on `host` now (the harness binds it later)."""
    with contextlib.closing(bind(host, 0)) as sock:
        port: int = sock.getsockname()[1]
    return port


class Uplink:
    """Connects out every `interval` seconds until stopped."""

    def __init__(
        self,
        *,
        address: tuple[str, int],
        ca_file: Path,
        server_name: str,
        firmware_version: str,
        log: logging.Logger,
        interval: float = INTERVAL_S,
    ) -> None:
        self.address = address
        self._server_name = server_name
        self._firmware = firmware_version
        self._log = log
        self._interval = interval
        self._context = ssl.create_default_context(cafile=str(ca_file))
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sim-uplink", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=TIMEOUT_S + 1)

    def _loop(self) -> None:
        wait = self._interval
        while not self._stop.wait(wait):
            if self._report_once():
                wait = self._interval
            else:
                wait = min(wait * 2, max(self._interval, IDLE_INTERVAL_S))

    def _report_once(self) -> bool:
        """One connection and report; False if nobody accepted the connection."""
        try:
            raw = socket.create_connection(self.address, timeout=TIMEOUT_S)
        except OSError:
            return False  # nobody listens: the cloud is away
        with raw:
            try:
                with self._context.wrap_socket(raw, server_hostname=self._server_name) as tls:
                    report = {"model": "IP-100", "firmware": self._firmware, "alarms": 0}
                    tls.sendall(json.dumps(report).encode() + b"\n")
                    self._log.info("uplink report sent to %s:%d", *self.address)
            except (ssl.SSLError, ssl.CertificateError) as exc:
                self._log.info("uplink refused the server at %s:%d: %s", *self.address, exc)
            except OSError as exc:
                self._log.info("uplink to %s:%d failed: %s", *self.address, exc)
        return True
