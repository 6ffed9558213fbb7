"""What the serial console prints unasked (the boot log) and whether it echoes a password typed.

SURFACE-008 scans both for secrets (`console_secrets`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from harness.core.deadline import Deadline
from harness.core.redact import shown
from harness.probes import console as console_probe
from harness.probes.console import PROBE_USER, ConsolePrompts
from harness.transports.serial import Console


@dataclass(frozen=True)
class ConsoleCapture:
    """Console output, and where in the device's life it came from."""

    output: bytes
    source: str


def capture(
    console: Console,
    prompts: ConsolePrompts,
    reset: console_probe.DeviceReset,
    *,
    opening_s: float,
    deadline: Deadline,
) -> ConsoleCapture:
    """The boot log after a reset, or (no reset possible) what opening the console shows.

    The boot needs a power switch (a labgrid place's) or serial.reset_command with
    serial.username and serial.password; without them the console is read for
    `opening_s` and brought back to its login prompt.
    """
    if reset.possible:
        reset.run(console, prompts, deadline)
        login, _, _ = prompts.patterns()
        _, output = console.expect([login], deadline)
        return ConsoleCapture(output, f"boot log after the reset ({reset.described})")
    return ConsoleCapture(
        opening(console, prompts, opening_s=opening_s, deadline=deadline),
        "output on opening the console (no serial.reset_command to see a boot)",
    )


def opening(
    console: Console, prompts: ConsolePrompts, *, opening_s: float, deadline: Deadline
) -> bytes:
    """What the console prints on opening and on the way to its login prompt (SURFACE-004
    reads it for versions: what anyone at the console sees before logging in)."""
    output = console.read_for(opening_s)
    return output + console_probe.back_to_login(console, prompts, deadline)


@dataclass(frozen=True)
class EchoFinding:
    """A canary typed at the password prompt: was it printed back?"""

    echoed: bool
    canary_shown: str
    output: str


def echo_canary(console: Console, prompts: ConsolePrompts, deadline: Deadline) -> EchoFinding:
    """Type a random canary as the password of a made-up user; look for it in the output."""
    canary = secrets.token_hex(8)
    console_probe.back_to_login(console, prompts, deadline)
    login, password, _ = prompts.patterns()
    console.write(PROBE_USER.encode() + b"\r", "a made-up user name")
    console.expect([password], Deadline(deadline.step(console.timeout)))
    console.forget()
    console.write_secret(canary.encode() + b"\r", f"canary password {shown(canary)}")
    _, seen = console.expect([login], Deadline(deadline.step(console.timeout)))
    text = seen.decode("utf-8", "replace").replace(canary, shown(canary))
    return EchoFinding(canary.encode() in seen, shown(canary), text)
