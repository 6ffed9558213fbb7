"""Serial console garbage (ROBUST-006): random bytes, a long line without newline, a BREAK.

Each case is typed at the login prompt; then Enter must bring a prompt within the I/O
timeout, and nothing the console printed may be a boot log (a silent reboot). A console
that shows no prompt is pressed again every `RETRY_S` until it does or the wait is over,
so the evidence says when it came back.

The random bytes leave out what other checks are about or what would disturb the test
itself: the interrupt keys AUTH-005 sends (Ctrl-C, Ctrl-D, Ctrl-Z), line ends (every line
would be a login attempt, counted towards a lockout) and XON/XOFF (an XOFF from us would
pause the device's output and look like a hang).
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, replace

from harness.core.deadline import Deadline
from harness.probes.console import ConsolePrompts, ConsoleState, back_to_login, classify
from harness.probes.robust.cases import Case, Reaction, Reply
from harness.transports.serial import Console

RANDOM_BYTES = 1024
MAX_OUTPUT = 4096  # of the console's output after a case, kept with the reply
LONG_LINE = 8 * 1024
BREAK_S = 0.25
BREAK = "break"  # the case that sends a BREAK instead of bytes
SETTLE_S = 0.2  # how long the console's own reaction to a case is read before Enter
RETRY_S = 1.0  # between Enter presses at a console that shows no prompt
# The tty's signal keys (Ctrl-C, Ctrl-\ and Ctrl-Z: intr, quit, susp), Ctrl-D, line ends, XON/XOFF:
# garbage must not be mistaken for a user who asks to stop the login.
LEFT_OUT = frozenset({0x03, 0x1C, 0x1A, 0x04, 0x0A, 0x0D, 0x11, 0x13})


def garbage(seed: int) -> list[Case]:
    """ROBUST-006's cases; the random bytes come from `seed` (recorded with the evidence)."""
    rng = random.Random(seed)
    allowed = [b for b in range(256) if b not in LEFT_OUT]
    noise = bytes(rng.choice(allowed) for _ in range(RANDOM_BYTES))
    return [
        Case(
            "random-bytes",
            f"{RANDOM_BYTES} random bytes (seed {seed}) without interrupt keys, line ends or "
            "XON/XOFF",
            noise,
            "console",
        ),
        Case(
            "long-line",
            f"{LONG_LINE // 1024} KiB of printable characters without a newline",
            b"A" * LONG_LINE,
            "console",
        ),
        Case(BREAK, f"a serial BREAK of {BREAK_S}s", b"", "console"),
    ]


# Typed nothing, watched CONTROL_WATCH_S, then Enter: does the console reboot anyway?
CONTROL = Case("control", "nothing typed (a control: does the console reboot anyway?)", b"")
CONTROL_WATCH_S = 1.0


@dataclass(frozen=True)
class ConsoleReply(Reply):
    """A console's reaction: the state Enter brought, after how many presses, and whether
    a boot log went by on the way."""

    state: ConsoleState = ConsoleState.NOTHING
    presses: int = 0
    rebooted: bool = False
    unattributed: str = ""  # a reboot seen, but not the case's doing (see `attributed`)


def type_case(
    console: Console,
    prompts: ConsolePrompts,
    case: Case,
    *,
    reboot: re.Pattern[bytes],
    timeout: float,
    wait_s: float,
    deadline: Deadline,
) -> ConsoleReply:
    """From the login prompt: the case, then Enter until a prompt shows (up to `wait_s`);
    a password prompt (the case became a user name) is left without a failed login. No
    wait outlasts `deadline` (the check's)."""

    def within(seconds: float) -> Deadline:
        return Deadline(deadline.step(seconds))

    back_to_login(console, prompts, within(timeout * 4))
    console.forget()
    if case.name == BREAK:
        console.send_break(BREAK_S)
    elif case.payload:
        console.write(case.payload, case.name)
    typed = time.monotonic()
    output = console.read_for(CONTROL_WATCH_S if case is CONTROL else SETTLE_S)
    console.forget()  # an echoed `#` or `$` at the end of the garbage is no shell prompt
    wait = within(wait_s)
    settle, presses = timeout, 0
    while True:
        console.write(b"\r", "Enter")
        presses += 1
        state, seen = classify(console, prompts, wait, settle)
        output += seen
        if state is not ConsoleState.NOTHING or wait.expired:
            break
        settle = RETRY_S
    elapsed = time.monotonic() - typed
    rebooted = bool(reboot.search(output))
    if state is ConsoleState.PASSWORD:
        output += back_to_login(console, prompts, within(timeout * 4), at_password=True)
    elif state.shell:
        back_to_login(console, prompts, within(timeout * 4))
    return ConsoleReply(
        Reaction.SILENT if state is ConsoleState.NOTHING else Reaction.ANSWERED,
        output[-MAX_OUTPUT:],
        elapsed_s=elapsed,
        detail=f"{state.value} after {presses} Enter"
        + ("; a boot log went by" if rebooted else ""),
        accepted=state.shell,
        state=state,
        presses=presses,
        rebooted=rebooted,
    )


def attributed(first: ConsoleReply, control: ConsoleReply, again: ConsoleReply) -> ConsoleReply:
    """A reboot after a case, checked: the case typed again must reboot the console again,
    and the control (nothing typed) must not. Otherwise the reply says the reboot is not
    the case's doing (`unattributed`), which decides nothing."""
    if again.rebooted and not control.rebooted:
        return replace(
            first, detail=first.detail + "; it rebooted again when the case was typed again, "
            "and not when nothing was typed",
        )  # fmt: skip
    why = (
        "it also rebooted with nothing typed"
        if control.rebooted
        else "typed again, the case did not reboot it"
    )
    return replace(
        first,
        rebooted=False,
        unattributed=f"the console rebooted after the case, but {why}: a reboot the case "
        "may not have caused",
    )


def problem(case: Case, reply: Reply) -> str | None:
    """ROBUST-006: the first Enter brings a prompt; no shell without a login; no reboot."""
    assert isinstance(reply, ConsoleReply)
    if reply.unattributed:
        return None  # undecided: the check says so (`RobustSteps.judge`)
    came = f"{reply.elapsed_s:.1f}s after the case"
    if reply.state is ConsoleState.NOTHING:
        return f"Enter brought no prompt ({reply.presses} presses, up to {came})"
    if reply.rebooted:
        return (
            f"the console rebooted: it printed a boot log, and its {reply.state.value} came "
            f"{came} (typed again, the case rebooted it again; nothing typed did not)"
        )
    if reply.presses > 1:
        return (
            f"the console stopped answering: its {reply.state.value} came after "
            f"{reply.presses} presses of Enter, {came}"
        )
    if reply.accepted:
        return "a shell prompt without a login"
    return None
