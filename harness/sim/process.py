"""Running an emulated pump as its own process, as a real device would be: start, wait, stop."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 30.0


@dataclass
class EmulatorProcess:
    """`python -m harness sim ...` in a child process, writing its profile into `folder`."""

    label: str
    host: str
    folder: Path
    variant: str = "hardened"
    weaknesses: tuple[str, ...] = ()
    ready: dict[str, Any] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def profile(self) -> Path:
        return self.folder / f"{self.label}.yaml"

    def start(self) -> EmulatorProcess:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "harness",
            "sim",
            "--variant",
            self.variant,
            "--host",
            self.host,
            "--write-profile",
            str(self.profile),
            "--workdir",
            str(self.folder / "device"),
        ]
        for weakness in self.weaknesses:
            command += ["--weakness", weakness]
        with open(self.folder / "sim.stderr", "wb") as stderr:
            self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
        """Read the emulator's one JSON ready line (bounded by `timeout`)."""
        process = self._process
        if process is None or process.stdout is None:
            raise RuntimeError(f"emulator {self.label} was not started")
        fd = process.stdout.fileno()
        deadline = time.monotonic() + timeout
        buffer = b""
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"emulator {self.label} was not ready in {timeout:.0f} s")
            readable, _, _ = select.select([fd], [], [], min(left, 0.1))
            chunk = os.read(fd, 4096) if readable else b""
            if readable and not chunk:
                detail = (self.folder / "sim.stderr").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"emulator {self.label} exited before it was ready:\n{detail}")
            buffer += chunk
        self.ready = json.loads(buffer.split(b"\n", 1)[0])
        if not self.ready.get("ready"):
            raise RuntimeError(f"emulator {self.label} said {self.ready}")
        return self.ready

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode

    def __enter__(self) -> EmulatorProcess:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
