"""What a serial console lets through without a login: escape keys, lockout.

Builds on `probes.console` (prompts, one login, back to the login prompt). Every wait
shares the caller's `Deadline`; short settle times decide "nothing happened" so a silent
console costs seconds, not the whole budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.core.deadline import Deadline
from harness.core.redact import Secret
from harness.probes import console as console_probe
from harness.probes.auth.lockout import LoginTry, TryLogin
from harness.probes.console import CANARY_COMMAND, PROBE_USER, ConsolePrompts, ConsoleState
from harness.transports.serial import Console

SETTLE_S = 1.0
ESCAPES: tuple[tuple[str, bytes | None], ...] = (
    ("Enter", b"\r"),
    ("Ctrl-C", b"\x03"),
    ("Ctrl-D", b"\x04"),
    ("Ctrl-Z", b"\x1a"),
    ("BREAK", None),
)


@dataclass(frozen=True)
class KeyOutcome:
    """What the console showed after one key, at the login prompt or at the password prompt."""

    key: str
    where: ConsoleState  # LOGIN or PASSWORD: the prompt the key was pressed at
    shown: ConsoleState
    output: str
    test_command: bool = False  # nothing showed, so a test command was typed after the key

    @property
    def shell(self) -> bool:
        return self.shown.shell


def escape_keys(
    console: Console, prompts: ConsolePrompts, deadline: Deadline, settle_s: float = SETTLE_S
) -> tuple[KeyOutcome, ...]:
    """Each escape key at the login prompt and at the password prompt (mid-login)."""
    outcomes: list[KeyOutcome] = []
    console.forget()
    console.write(b"\r", "Enter")
    started = time.monotonic()
    first, seen = console_probe.classify(console, prompts, deadline, console.timeout)
    # A slow console (or a loaded machine) answers late: "nothing happened" needs longer.
    settle_s = min(console.timeout, max(settle_s, 10 * (time.monotonic() - started)))
    console.transcript.event(f"a key with no visible effect is judged after {settle_s:.1f}s")
    if first.shell:
        # No login prompt at all: the console is a shell. Nothing else to try.
        console.write(b"id\r", "what the shell runs as")
        seen += console.read_for(min(settle_s, deadline.remaining))
        return (KeyOutcome("Enter", ConsoleState.LOGIN, first, seen.decode("utf-8", "replace")),)
    if first is not ConsoleState.LOGIN:
        console_probe.back_to_login(
            console, prompts, deadline, at_password=first is ConsoleState.PASSWORD
        )
    _, password_prompt, _ = prompts.patterns()
    for name, key in ESCAPES:
        for where in (ConsoleState.LOGIN, ConsoleState.PASSWORD):
            if where is ConsoleState.PASSWORD:
                if name == "Enter":
                    continue  # Enter there is an ordinary failed login
                console.write(
                    PROBE_USER.encode() + b"\r", "a user name, to reach the password prompt"
                )
                console.expect([password_prompt], Deadline(deadline.step(console.timeout)))
            console.forget()
            _press(console, name, key)
            outcome, seen = console_probe.classify(console, prompts, deadline, settle_s)
            test_command = (
                outcome in (ConsoleState.NOTHING, ConsoleState.PASSWORD)
                and where is ConsoleState.LOGIN
            )
            if test_command:
                console.write(CANARY_COMMAND, "a command, to see whether anything runs it")
                outcome, more = console_probe.classify(console, prompts, deadline, settle_s)
                seen += more
            if outcome is ConsoleState.SHELL:
                console.write(b"id\r", "what the shell runs as")
                seen += console.read_for(min(settle_s, deadline.remaining))
            text = seen.decode("utf-8", "replace")
            outcomes.append(KeyOutcome(name, where, outcome, text, test_command))
            if outcome is not ConsoleState.LOGIN:
                console_probe.back_to_login(
                    console, prompts, deadline, at_password=outcome is not ConsoleState.SHELL
                )
    return tuple(outcomes)


def _press(console: Console, name: str, key: bytes | None) -> None:
    if key is None:
        console.send_break()
    else:
        console.write(key, name)


def password_logins(
    console: Console, prompts: ConsolePrompts, username: str, deadline: Deadline
) -> TryLogin:
    """Login attempts for one user at the console, for the lockout trial."""
    console_probe.back_to_login(console, prompts, deadline)

    def attempt(password: Secret, redacted: str) -> LoginTry:
        result = console_probe.try_login_and_leave(console, prompts, username, password, deadline)
        return LoginTry(result.accepted, result.latency_s, result.outcome.value)

    return attempt
