"""Serial console logins: reach the login prompt, type a pair, classify what comes back."""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass

from harness.core.deadline import Deadline
from harness.core.errors import DeviceTimeout
from harness.core.redact import shown
from harness.transports.serial import Console

ENTER_PRESSES = 3


class LoginOutcome(str, enum.Enum):
    SHELL = "shell"  # a shell prompt appeared: the pair was accepted
    REFUSED = "refused"  # the login prompt came back


@dataclass(frozen=True)
class ConsolePrompts:
    """What the profile says the console prints."""

    login: str
    password: str
    shell: str

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

    username: str
    password_shown: str
    outcome: LoginOutcome
    latency_s: float
    password_echoed: bool
    output: str


def reach_login_prompt(console: Console, prompts: ConsolePrompts, deadline: Deadline) -> None:
    """Press Enter until the login prompt shows: three presses, each waiting one I/O timeout."""
    login, _, _ = prompts.patterns()
    for press in range(1, ENTER_PRESSES + 1):
        console.forget()
        console.write(b"\r", "Enter")
        try:
            console.expect([login], Deadline(deadline.step(console.timeout)))
            return
        except DeviceTimeout:
            if press == ENTER_PRESSES or deadline.expired:
                raise


def try_login(
    console: Console,
    prompts: ConsolePrompts,
    username: str,
    password: str,
    deadline: Deadline,
) -> ConsoleLogin:
    """Type one pair at the login prompt (which must be showing) and classify the answer."""
    login, password_prompt, shell = prompts.patterns()
    console.write(username.encode() + b"\r", "username")
    console.expect([password_prompt], deadline)
    console.forget()
    console.write_secret(password.encode() + b"\r", f"password {shown(password)}")
    started = time.monotonic()
    index, seen = console.expect([shell, login], deadline)
    latency = time.monotonic() - started
    outcome = LoginOutcome.SHELL if index == 0 else LoginOutcome.REFUSED
    echoed = len(password) >= 3 and password.encode() in seen
    text = seen.decode("utf-8", "replace")
    if password:
        text = text.replace(password, shown(password))
    return ConsoleLogin(username, shown(password), outcome, latency, echoed, text)


def log_out(console: Console, prompts: ConsolePrompts, deadline: Deadline) -> None:
    """Leave a shell that a test login opened, and wait for the login prompt."""
    login, _, _ = prompts.patterns()
    console.write(b"exit\r", "exit")
    console.expect([login], deadline)
