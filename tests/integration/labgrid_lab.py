"""A real labgrid lab on loopback: labgrid-coordinator, labgrid-exporter, a power switch.

labgrid comes from its own venv (`MEDSEC_LABGRID_PYTHON`, which `.ci/run` sets): its
pyserial fork and ours install the same files, so the harness's own venv never gets it.
The power switch is served by the test itself, speaking labgrid's `rest` power model
(GET reads `0`/`1`, PUT sets it), and switches the emulated pump's power with the
emulator's signals (SIGUSR1 off, SIGUSR2 on).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness.sim.process import stop_process
from tests.integration import daemons

CLIENT_TIMEOUT_S = 20


def labgrid_python() -> Path:
    """The labgrid venv's python; skips (fails in CI) without it."""
    value = os.environ.get("MEDSEC_LABGRID_PYTHON", "")
    daemons.require(
        bool(value) and Path(value).is_file(),
        "MEDSEC_LABGRID_PYTHON names no python with the labgrid extra "
        "(python3 -m venv .labgrid && .labgrid/bin/pip install -e '.[labgrid]')",
    )
    return Path(value)


@dataclass
class Lab:
    """A coordinator at `address` and the labgrid commands of the venv at `bin`."""

    bin: Path
    address: str
    folder: Path

    def client(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bin / "labgrid-client"), "-x", self.address, *args],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT_S,
            cwd=self.folder,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"labgrid-client {' '.join(args)}: {done.stdout}{done.stderr}")
        return done

    def acquired_by(self, place: str) -> str | None:
        """Who holds `place` now, as the coordinator says (None: nobody)."""
        for line in self.client("-p", place, "show").stdout.splitlines():
            if line.strip().startswith("acquired:"):
                holder = line.split(":", 1)[1].strip()
                return None if holder == "None" else holder
        raise RuntimeError(f"no 'acquired:' line for {place}")

    def wait_for_resources(self, exporter: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if f"{exporter}/" in self.client("resources").stdout:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the exporter {exporter} registered no resource in {timeout:.0f}s")


def _start(command: list[str], folder: Path, log: str) -> subprocess.Popen[bytes]:
    with open(folder / log, "wb") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=folder)


@contextlib.contextmanager
def coordinator(bin_dir: Path, host: str, folder: Path) -> Iterator[Lab]:
    """labgrid-coordinator listening on HOST (its places live in `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = daemons.free_port(host)
    process = _start(
        [str(bin_dir / "labgrid-coordinator"), "-l", f"{host}:{port}"], folder, "coordinator.log"
    )
    try:
        daemons.wait_listening(host, port, process, timeout=20)
        yield Lab(bin_dir, f"{host}:{port}", folder)
    finally:
        stop_process(process)


@contextlib.contextmanager
def exporter(lab: Lab, name: str, host: str, resources: str) -> Iterator[None]:
    """labgrid-exporter NAME publishing `resources` (its YAML) under HOST."""
    config = lab.folder / f"{name}.yaml"
    config.write_text(resources)
    command = [
        str(lab.bin / "labgrid-exporter"), "-c", lab.address, "-n", name, "--hostname", host,
        str(config),
    ]  # fmt: skip
    process = _start(command, lab.folder, f"exporter-{name}.log")
    try:
        lab.wait_for_resources(name)
        yield
    finally:
        stop_process(process)


@dataclass
class PowerSwitch:
    """labgrid's `rest` power model on HOST:PORT, switching the emulator process `pid`."""

    pid: int
    host: str
    port: int = 0
    on: bool = True
    switched: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/power/{{index}}"


@contextlib.contextmanager
def power_switch(pid: int, host: str) -> Iterator[PowerSwitch]:
    switch = PowerSwitch(pid, host)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: bytes, status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != "/power/0":
                self._answer(b"no such outlet", 404)
                return
            self._answer(b"1" if switch.on else b"0")

        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            value = self.rfile.read(length).strip()
            if self.path != "/power/0" or value not in (b"0", b"1"):
                self._answer(b"bad request", 400)
                return
            switch.on = value == b"1"
            switch.switched.append((time.monotonic(), switch.on))
            os.kill(switch.pid, signal.SIGUSR2 if switch.on else signal.SIGUSR1)
            self._answer(value)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    switch.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name="power-switch", daemon=True)
    thread.start()
    try:
        yield switch
    finally:
        server.shutdown()
        server.server_close()
