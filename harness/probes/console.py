"""Serial console sessions: prompts, what the console shows, one login, back to the login prompt.

Shared by the AUTH console checks and SURFACE-008. Every wait shares the caller's
`Deadline`.
"""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass

from harness.config import bootloaders
from harness.config.profile import Serial
from harness.core.deadline import Deadline
from harness.core.errors import DeviceTimeout, DeviceUnreachable
from harness.core.redact import Secret, reveal, shown
from harness.core.scope import Scope
from harness.transports.power import PowerPort, power_cycle
from harness.transports.serial import Console

ENTER_PRESSES = 3
SETTLE_S = 0.3  # after a boot log and its prompt: time for the prompt our own key asked for
Account = tuple[str, Secret]  # a profiled console login: user name, password
PROBE_USER = "medsec-probe"  # a user name no device has, to reach the password prompt
# Evidence of a command having run: its output alone on a line (the echo of the typed
# line starts with "echo"). No `$` or `#` in it, which could pass for a shell prompt.
CANARY_COMMAND = b"echo medsec42x\r"
CANARY_OUTPUT = re.compile(rb"(?:^|\n)medsec42x\r?\n")


KERNEL_BOOT = r"Booting Linux|Starting kernel|Linux version \d"


def boot_marks(serial: Serial) -> re.Pattern[bytes]:
    """What only a booting device prints: its bootloader's banner, or any known one, or the
    kernel's first lines."""
    banner = serial.bootloader.traits.banner if serial.bootloader else None
    if banner is None:
        banner = bootloaders.generic("any", "").banner
    return re.compile(f"{banner}|{KERNEL_BOOT}".encode())


class LoginOutcome(str, enum.Enum):
    SHELL = "shell"  # a shell prompt appeared: the pair was accepted
    REFUSED = "refused"  # the login prompt came back


class ConsoleState(str, enum.Enum):
    """What the console shows after a key or a line (the values are the evidence wording)."""

    SHELL = "shell prompt"
    LOGIN = "login prompt"
    PASSWORD = "password prompt"  # noqa: S105 - a prompt, not a password
    COMMAND_RAN = "command ran"  # no prompt, but the canary command's output
    NOTHING = "nothing"

    @property
    def shell(self) -> bool:
        """A shell is running: its prompt showed, or a typed command ran."""
        return self in (ConsoleState.SHELL, ConsoleState.COMMAND_RAN)


@dataclass(frozen=True)
class ConsolePrompts:
    """What the profile says the console prints."""

    login: str
    password: str
    shell: str

    @classmethod
    def of(cls, serial: Serial) -> ConsolePrompts:
        """The prompts the profile's serial section names."""
        return cls(serial.login_prompt, serial.password_prompt, serial.shell_prompt)

    def patterns(self) -> tuple[re.Pattern[bytes], re.Pattern[bytes], re.Pattern[bytes]]:
        # A prompt is the last thing a console prints before it waits: anchored at the end,
        # so "login: can't change directory" in a message is not taken for the login prompt.
        return (
            re.compile(re.escape(self.login.encode()) + rb"[ \t]*$"),
            re.compile(re.escape(self.password.encode()) + rb"[ \t]*$"),
            re.compile(self.shell.encode(), re.MULTILINE),
        )


@dataclass(frozen=True)
class ConsoleLogin:
    """One login attempt on the console; the password is kept only in redacted form."""

    password_shown: str
    outcome: LoginOutcome
    latency_s: float
    password_echoed: bool
    password_asked: bool = True  # False: the login prompt came back at once, no password typed

    @property
    def accepted(self) -> bool:
        return self.outcome is LoginOutcome.SHELL


def press_enter_until(
    console: Console, patterns: list[re.Pattern[bytes]], deadline: Deadline
) -> int:
    """Press Enter until one of `patterns` shows (three presses, each waiting one I/O
    timeout); the index of the one that did."""
    for press in range(1, ENTER_PRESSES + 1):
        console.forget()
        console.write(b"\r", "Enter")
        try:
            index, _ = console.expect(patterns, Deadline(deadline.step(console.timeout)))
            return index
        except DeviceTimeout:
            if press == ENTER_PRESSES or deadline.expired:
                raise
    raise AssertionError("unreachable: the last press raises")


def reach_login_prompt(console: Console, prompts: ConsolePrompts, deadline: Deadline) -> None:
    """Press Enter until the login prompt shows."""
    login, _, _ = prompts.patterns()
    press_enter_until(console, [login], deadline)


def try_login(
    console: Console,
    prompts: ConsolePrompts,
    username: str,
    password: Secret,
    deadline: Deadline,
) -> ConsoleLogin:
    """Type one pair at the login prompt (which must be showing) and classify the answer."""
    login, password_prompt, shell = prompts.patterns()
    console.write(username.encode() + b"\r", "username")
    started = time.monotonic()
    asked, _ = console.expect([password_prompt, login, shell], deadline)
    if asked > 0:  # no password asked: "Login incorrect" and a new prompt, or a shell at once
        outcome = LoginOutcome.REFUSED if asked == 1 else LoginOutcome.SHELL
        return ConsoleLogin(shown(password), outcome, time.monotonic() - started, False, False)
    console.forget()
    console.write_secret(reveal(password).encode() + b"\r", f"password {shown(password)}")
    started = time.monotonic()
    index, seen = console.expect([shell, login], deadline)
    latency = time.monotonic() - started
    outcome = LoginOutcome.SHELL if index == 0 else LoginOutcome.REFUSED
    echoed = len(reveal(password)) >= 3 and reveal(password).encode() in seen
    return ConsoleLogin(shown(password), outcome, latency, echoed)


def try_login_and_leave(
    console: Console,
    prompts: ConsolePrompts,
    username: str,
    password: Secret,
    deadline: Deadline,
) -> ConsoleLogin:
    """`try_login`, then log out again if it opened a shell, so the login prompt shows."""
    result = try_login(console, prompts, username, password, deadline)
    if result.accepted:
        log_out(console, prompts, deadline)
    return result


def log_out(console: Console, prompts: ConsolePrompts, deadline: Deadline) -> None:
    """Leave a shell that a test login opened, and wait for the login prompt."""
    login, _, _ = prompts.patterns()
    console.write(b"exit\r", "exit")
    console.expect([login], deadline)


def classify(
    console: Console, prompts: ConsolePrompts, deadline: Deadline, settle_s: float
) -> tuple[ConsoleState, bytes]:
    """What the console shows within `settle_s`, and the output it printed on the way."""
    login, password, shell = prompts.patterns()
    try:
        index, seen = console.expect([shell, login, password], Deadline(deadline.step(settle_s)))
    except DeviceTimeout:
        seen = console.pending
        console.forget()
        if CANARY_OUTPUT.search(seen):
            return ConsoleState.COMMAND_RAN, seen
        return ConsoleState.NOTHING, seen
    return (ConsoleState.SHELL, ConsoleState.LOGIN, ConsoleState.PASSWORD)[index], seen


def back_to_login(
    console: Console, prompts: ConsolePrompts, deadline: Deadline, *, at_password: bool = False
) -> bytes:
    """Leave whatever state the console is in (shell, password prompt) for the login prompt.

    Returns what the console printed on the way.
    """
    output = b""
    state: ConsoleState | None = ConsoleState.PASSWORD if at_password else None
    for _ in range(3):
        output += console.drain()  # a prompt printed before our key would answer for it
        if state is ConsoleState.PASSWORD:
            console.write(b"\x03", "Ctrl-C: leave the password prompt without a failed login")
        else:
            console.write(b"\r", "Enter")
        state, seen = classify(console, prompts, deadline, console.timeout)
        output += seen
        if state is ConsoleState.LOGIN:
            if seen.count(b"\n") > 2:  # more than the prompt: a boot log came with it
                output += _answer_to_our_key(console)
            return output
        if state.shell:
            console.write(b"exit\r", "leave the shell")
            login, _, _ = prompts.patterns()
            try:
                _, seen = console.expect([login], Deadline(deadline.step(console.timeout)))
                return output + seen
            except DeviceTimeout:
                continue
    if state is ConsoleState.PASSWORD:  # Ctrl-C did nothing there: end it as a failed login
        console.write(b"\r", "Enter")
        _, seen = console.expect([prompts.patterns()[0]], Deadline(deadline.step(console.timeout)))
        return output + seen
    raise DeviceTimeout(console.target, "the console did not return to its login prompt")


def _answer_to_our_key(console: Console) -> bytes:
    """A console that printed its boot log and a login prompt when we pressed Enter (it
    powered on as the port opened) prints the prompt our Enter asked for right after:
    read it now, or the user name typed next would meet it and look refused."""
    extra = console.read_for(SETTLE_S)
    console.forget()
    return extra


def login_profiled(
    console: Console, prompts: ConsolePrompts, account: Account, deadline: Deadline
) -> None:
    """Log in with the profiled console account; DeviceUnreachable if it is refused."""
    back_to_login(console, prompts, deadline)
    username, password = account
    if not try_login(console, prompts, username, password, deadline).accepted:
        raise DeviceUnreachable(
            console.target, f"the profiled console account {username!r} cannot log in"
        )


def reset_from_shell(
    console: Console,
    prompts: ConsolePrompts,
    reset_command: str,
    account: Account,
    deadline: Deadline,
) -> None:
    """Log in with the profiled account and type the reset command: the device reboots."""
    login_profiled(console, prompts, account, deadline)
    console.forget()
    console.write(reset_command.encode() + b"\r", "reset")


@dataclass(frozen=True)
class DeviceReset:
    """How a check restarts the device: a power cycle where the run holds the device's
    power switch (a labgrid place's power port), else `command` typed in a console shell
    logged in with `account`."""

    command: str | None = None
    account: Account | None = None
    power: PowerPort | None = None
    scope: Scope | None = None  # where the power switch may be reached
    off_s: float = 2.0
    timeout: float = 10.0

    @property
    def possible(self) -> bool:
        return self.power is not None or (self.command is not None and self.account is not None)

    @property
    def described(self) -> str:
        """How the reset is done, for the evidence."""
        if self.power is not None:
            return f"power cycle ({self.off_s:.1f}s off) of {self.power.described}"
        if self.command is not None:
            return f"`{self.command}` typed at the console"
        return "no way to reset the device"

    def run(self, console: Console, prompts: ConsolePrompts, deadline: Deadline) -> None:
        """Restart the device now; output from here on is the restart and the boot."""
        console.transcript.event(f"reset: {self.described}")
        if self.power is not None and self.scope is not None:
            console.forget()
            power_cycle(self.power, self.scope, self.off_s, self.timeout, console.transcript)
            return
        if self.command is None or self.account is None:
            raise ValueError("no reset command and console account, and no power switch")
        reset_from_shell(console, prompts, self.command, self.account, deadline)
