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


def read_ready_line(
    process: subprocess.Popen[bytes], what: str, stderr: Path, timeout: float = READY_TIMEOUT_S
) -> dict[str, Any]:
    """The first line a starting emulator process prints, as JSON with `ready: true`; a
    RuntimeError (with the tail of its `stderr` file) if it exits or is late instead."""
    if process.stdout is None:
        raise RuntimeError(f"{what}: its output is not piped")
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"{what} was not ready in {timeout:.0f} s")
        readable, _, _ = select.select([fd], [], [], min(left, 0.1))
        chunk = os.read(fd, 4096) if readable else b""
        if readable and not chunk:
            detail = stderr.read_text(errors="replace")[-2000:] if stderr.is_file() else ""
            raise RuntimeError(f"{what} exited before it was ready:\n{detail}")
        buffer += chunk
    ready: dict[str, Any] = json.loads(buffer.split(b"\n", 1)[0])
    if not ready.get("ready"):
        raise RuntimeError(f"{what} said {ready}")
    return ready


def stop_process(process: subprocess.Popen[bytes], timeout: float = 5.0) -> int | None:
    """SIGTERM, then SIGKILL after `timeout`; the exit status."""
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
        if self._process is None:
            raise RuntimeError(f"emulator {self.label} was not started")
        self.ready = read_ready_line(
            self._process, f"emulator {self.label}", self.folder / "sim.stderr", timeout
        )
        return self.ready

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit status."""
        return stop_process(self._process, timeout) if self._process is not None else None

    def signal_stop(self) -> None:
        """SIGTERM without waiting (a later `stop` waits), so that several emulators stop
        at once."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def __enter__(self) -> EmulatorProcess:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
