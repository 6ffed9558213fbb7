"""What a serial console lets through without a login: escape keys, bootloader, idle shells.

Builds on `console` (prompts, one login). Every wait shares the caller's `Deadline`;
short settle times decide "nothing happened" so a silent console costs seconds, not the
whole budget.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from harness.config.profile import Bootloader
from harness.core.deadline import Deadline
from harness.core.errors import DeviceTimeout, DeviceUnreachable
from harness.core.redact import shown
from harness.probes import console as console_probe
from harness.probes.auth.lockout import LoginTry, TryLogin
from harness.probes.console import ConsolePrompts, LoginOutcome
from harness.transports.serial import Console

SETTLE_S = 1.0
PROBE_USER = "medsec-probe"
INTERRUPT_EVERY_S = 0.1
ESCAPES: tuple[tuple[str, bytes | None], ...] = (
    ("Enter", b"\r"),
    ("Ctrl-C", b"\x03"),
    ("Ctrl-D", b"\x04"),
    ("Ctrl-Z", b"\x1a"),
    ("BREAK", None),
)
# Evidence of a command having run: its output alone on a line (the echo of the typed
# line starts with "echo"). No `$` or `#` in it, which could pass for a shell prompt.
CANARY_COMMAND = b"echo medsec42x\r"
CANARY_OUTPUT = re.compile(rb"(?:^|\n)medsec42x\r?\n")


@dataclass(frozen=True)
class KeyOutcome:
    """What the console showed after one key, at the login prompt or at the password prompt."""

    key: str
    where: str  # "login prompt" | "password prompt"
    shown: str  # "login prompt" | "password prompt" | "shell prompt" | "command ran" | "nothing"
    output: str
    test_command: bool = False  # nothing showed, so a test command was typed after the key

    @property
    def shell(self) -> bool:
        return self.shown in ("shell prompt", "command ran")


def _classify(
    console: Console, prompts: ConsolePrompts, deadline: Deadline, settle_s: float
) -> tuple[str, bytes]:
    login, password, shell = prompts.patterns()
    try:
        index, seen = console.expect([shell, login, password], Deadline(deadline.step(settle_s)))
    except DeviceTimeout:
        seen = console.pending
        console.forget()
        if CANARY_OUTPUT.search(seen):
            return "command ran", seen
        return "nothing", seen
    return ("shell prompt", "login prompt", "password prompt")[index], seen


def back_to_login(
    console: Console, prompts: ConsolePrompts, deadline: Deadline, *, at_password: bool = False
) -> bytes:
    """Leave whatever state the console is in (shell, password prompt) for the login prompt.

    Returns what the console printed on the way.
    """
    output = b""
    shown_now = "password prompt" if at_password else "unknown"
    for _ in range(3):
        console.forget()
        if shown_now == "password prompt":
            console.write(b"\x03", "Ctrl-C: leave the password prompt without a failed login")
        else:
            console.write(b"\r", "Enter")
        shown_now, seen = _classify(console, prompts, deadline, console.timeout)
        output += seen
        if shown_now == "login prompt":
            return output
        if shown_now in ("shell prompt", "command ran"):
            console.write(b"exit\r", "leave the shell")
            login, _, _ = prompts.patterns()
            try:
                _, seen = console.expect([login], Deadline(deadline.step(console.timeout)))
                return output + seen
            except DeviceTimeout:
                continue
    if shown_now == "password prompt":  # Ctrl-C did nothing there: end it as a failed login
        console.write(b"\r", "Enter")
        _, seen = console.expect([prompts.patterns()[0]], Deadline(deadline.step(console.timeout)))
        return output + seen
    raise DeviceTimeout(console.target, "the console did not return to its login prompt")


def escape_keys(
    console: Console, prompts: ConsolePrompts, deadline: Deadline, settle_s: float = SETTLE_S
) -> tuple[KeyOutcome, ...]:
    """Each escape key at the login prompt and at the password prompt (mid-login)."""
    outcomes: list[KeyOutcome] = []
    console.forget()
    console.write(b"\r", "Enter")
    started = time.monotonic()
    first, seen = _classify(console, prompts, deadline, console.timeout)
    # A slow console (or a loaded machine) answers late: "nothing happened" needs longer.
    settle_s = min(console.timeout, max(settle_s, 10 * (time.monotonic() - started)))
    console.transcript.event(f"a key with no visible effect is judged after {settle_s:.1f}s")
    if first in ("shell prompt", "command ran"):
        # No login prompt at all: the console is a shell. Nothing else to try.
        console.write(b"id\r", "what the shell runs as")
        seen += console.read_for(min(settle_s, deadline.remaining))
        return (KeyOutcome("Enter", "login prompt", first, seen.decode("utf-8", "replace")),)
    if first != "login prompt":
        back_to_login(console, prompts, deadline, at_password=first == "password prompt")
    _, password_prompt, _ = prompts.patterns()
    for name, key in ESCAPES:
        for where in ("login prompt", "password prompt"):
            if where == "password prompt":
                if name == "Enter":
                    continue  # Enter there is an ordinary failed login
                console.write(
                    PROBE_USER.encode() + b"\r", "a user name, to reach the password prompt"
                )
                console.expect([password_prompt], Deadline(deadline.step(console.timeout)))
            console.forget()
            _press(console, name, key)
            outcome, seen = _classify(console, prompts, deadline, settle_s)
            test_command = outcome in ("nothing", "password prompt") and where == "login prompt"
            if test_command:
                console.write(CANARY_COMMAND, "a command, to see whether anything runs it")
                outcome, more = _classify(console, prompts, deadline, settle_s)
                seen += more
            if outcome == "shell prompt":
                console.write(b"id\r", "what the shell runs as")
                seen += console.read_for(min(settle_s, deadline.remaining))
            text = seen.decode("utf-8", "replace")
            outcomes.append(KeyOutcome(name, where, outcome, text, test_command))
            if outcome != "login prompt":
                back_to_login(console, prompts, deadline, at_password=outcome != "shell prompt")
    return tuple(outcomes)


def _press(console: Console, name: str, key: bytes | None) -> None:
    if key is None:
        console.send_break()
    else:
        console.write(key, name)


def login_profiled(
    console: Console, prompts: ConsolePrompts, username: str, password: str, deadline: Deadline
) -> None:
    """Log in with the profiled console account; DeviceUnreachable if it is refused."""
    back_to_login(console, prompts, deadline)
    result = console_probe.try_login(console, prompts, username, password, deadline)
    if result.outcome is not LoginOutcome.SHELL:
        raise DeviceUnreachable(
            console.target, f"the profiled console account {username!r} cannot log in"
        )


@dataclass(frozen=True)
class BootFinding:
    """What the console showed while the harness pressed interrupt keys through a reboot."""

    outcome: str  # "booted" | "bootloader asked for a password" | "bootloader prompt"
    keys_sent: int
    boot_s: float
    booted_after: bool  # the login prompt came back in the end
    output: str

    @property
    def interrupted(self) -> bool:
        return self.outcome == "bootloader prompt"


def boot_interrupt(
    console: Console,
    prompts: ConsolePrompts,
    bootloader: Bootloader,
    reset_command: str,
    account: tuple[str, str],
    deadline: Deadline,
) -> BootFinding:
    """Reset the device from its shell and press the interrupt keys until something shows."""
    login_profiled(console, prompts, *account, deadline)
    console.forget()
    console.write(reset_command.encode() + b"\r", "reset")
    login, _, shell = prompts.patterns()
    loader = re.compile(bootloader.prompt.encode(), re.MULTILINE)
    asks = re.compile(re.escape(bootloader.password_prompt.encode()))
    keys = b"".join(k.encode() for k in bootloader.interrupt)
    console.transcript.event(
        f"pressing {bootloader.interrupt!r} every {INTERRUPT_EVERY_S:.1f}s until a prompt shows"
    )
    started = time.monotonic()
    sent = 0
    output = b""
    index = -1
    while index < 0:
        if deadline.expired:
            raise DeviceTimeout(
                console.target, f"no prompt within the boot budget after {sent} key presses"
            )
        console.write(keys, record=False)
        sent += 1
        try:
            # A shell also ends the boot: our keys can reach a login prompt that drops to a
            # shell on Ctrl-C (that is AUTH-005's finding, not a bootloader one).
            index, seen = console.expect([loader, asks, login, shell], Deadline(INTERRUPT_EVERY_S))
            output += seen
        except DeviceTimeout:
            continue
    boot_s = time.monotonic() - started
    console.transcript.event(f"{sent} key presses sent in {boot_s:.1f}s")
    outcome = ("bootloader prompt", "bootloader asked for a password", "booted", "booted")[index]
    booted = index >= 2
    if index == 0:
        console.write(bootloader.boot_command.encode() + b"\r", "let the device boot")
    elif index == 1:
        console.write(b"\r", "an empty bootloader password")
    if not booted:
        try:
            more_index, seen = console.expect(
                [login, loader], Deadline(deadline.step(deadline.remaining))
            )
            output += seen
            booted = more_index == 0
            if more_index == 1 and index == 1:
                outcome = "bootloader prompt"  # an empty password opened it
        except DeviceTimeout:
            booted = False
    back_to_login(console, prompts, deadline)
    return BootFinding(outcome, sent, boot_s, booted, output.decode("utf-8", "replace"))


def capture_boot(
    console: Console,
    prompts: ConsolePrompts,
    reset_command: str,
    account: tuple[str, str],
    deadline: Deadline,
) -> bytes:
    """Reset the device from its shell and record everything up to the login prompt."""
    login_profiled(console, prompts, *account, deadline)
    console.forget()
    console.write(reset_command.encode() + b"\r", "reset")
    login, _, _ = prompts.patterns()
    _, seen = console.expect([login], deadline)
    return seen


@dataclass(frozen=True)
class EchoFinding:
    """A canary typed at the password prompt: was it printed back?"""

    echoed: bool
    canary_shown: str
    output: str


def echo_canary(console: Console, prompts: ConsolePrompts, deadline: Deadline) -> EchoFinding:
    """Type a random canary as the password of a made-up user; look for it in the output."""
    canary = secrets.token_hex(8)
    back_to_login(console, prompts, deadline)
    login, password, _ = prompts.patterns()
    console.write(PROBE_USER.encode() + b"\r", "a made-up user name")
    console.expect([password], Deadline(deadline.step(console.timeout)))
    console.forget()
    console.write_secret(canary.encode() + b"\r", f"canary password {shown(canary)}")
    _, seen = console.expect([login], Deadline(deadline.step(console.timeout)))
    text = seen.decode("utf-8", "replace").replace(canary, shown(canary))
    return EchoFinding(canary.encode() in seen, shown(canary), text)


@dataclass(frozen=True)
class ConsoleIdleFinding:
    idle_s: float
    closed: bool
    answer: str


def idle_console(
    console: Console,
    prompts: ConsolePrompts,
    account: tuple[str, str],
    idle_s: float,
    deadline: Deadline,
) -> ConsoleIdleFinding:
    """Log in, idle `idle_s`, type `id`: does a shell still run it?"""
    login_profiled(console, prompts, *account, deadline)
    console.forget()
    console.transcript.event(f"idle for {idle_s:.1f}s")
    time.sleep(idle_s)
    console.write(b"id\r", "command after the idle time")
    outcome, seen = _classify(console, prompts, deadline, min(console.timeout, 3.0))
    text = seen.decode("utf-8", "replace")
    closed = outcome in ("login prompt", "password prompt") or (
        outcome == "nothing" and "uid=" not in text
    )
    back_to_login(console, prompts, deadline)
    return ConsoleIdleFinding(idle_s, closed and "uid=" not in text, text)


def password_logins(
    console: Console, prompts: ConsolePrompts, username: str, deadline: Deadline
) -> TryLogin:
    """Login attempts for one user at the console, for the lockout trial."""
    back_to_login(console, prompts, deadline)

    def attempt(password: str, redacted: str) -> LoginTry:
        result = console_probe.try_login(console, prompts, username, password, deadline)
        accepted = result.outcome is LoginOutcome.SHELL
        if accepted:
            console_probe.log_out(console, prompts, deadline)
        return LoginTry(accepted, result.latency_s, result.outcome.value)

    return attempt
