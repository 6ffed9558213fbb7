"""AUTH-006: reset the device, press the bootloader's interrupt keys, boot it again.

No key is pressed before the reset has really begun and the bootloader has shown its
banner, so none reaches the old shell; keys go one at a time, at the bootloader's pace,
until its prompt, a password prompt or the kernel shows; an open prompt gets its line
cleared before the boot command, so no key is left in front of it; and the device must
come back to its login prompt. A shell prompt counts only after the kernel has started
(U-Boot's progress hashes end lines in `#` too).
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import re
import time
from dataclasses import dataclass, field

from harness.config.bootloaders import BootloaderTraits, key_name
from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout
from harness.probes import console as console_probe
from harness.probes.console import ConsolePrompts
from harness.transports.serial import Console

PRESS_EVERY_S = 0.1
RESET_WAIT_S = 60.0  # a device may take this long to shut down before it restarts
BANNER_WAIT_S = 15.0  # after a restart message; a bootloader silent this long gets keys anyway
SETTLE_S = 0.3  # no output for this long: the bootloader has read every key pressed
SETTLE_MAX_S = 3.0
BOOT_TRIES = 2
OUTPUT_CAP = 256 * 1024
# What a Linux system prints when it really goes down (the shell is gone).
RESTART = re.compile(
    rb"Restarting system|The system is going down|Requesting system reboot"
    rb"|Sent SIGTERM to all processes"
)
# The bootloader has handed over to the kernel: its window is over, keys would reach Linux.
HANDOFF = re.compile(
    rb"Starting kernel|Booting Linux|Linux version \d|Uncompressing Linux|EFI stub: Booting"
    rb"|Loading Linux|Booting `|(?i:booting kernel)"
)


class BootOutcome(str, enum.Enum):
    """Where the interrupt keys left the boot (the values are the evidence wording)."""

    INTERRUPTED = "stopped at the bootloader prompt"
    LOCKED = "the bootloader asked for a password"
    BOOTED = "the bootloader went on to boot"
    NOT_RESET = "the reset never began"
    SILENT = "no prompt, kernel or login prompt showed in time"


@dataclass(frozen=True)
class KeyPress:
    """One key pressed, `at_s` seconds after the reset command."""

    key: str
    at_s: float


@dataclass(frozen=True)
class BootFinding:
    """What the console showed from the reset command to the login prompt again."""

    outcome: BootOutcome
    keys: tuple[KeyPress, ...]
    reset_began_s: float | None  # a restart message or the banner, after the reset command
    banner: str | None  # the line the bootloader announced itself with
    prompt: str | None  # the bootloader's prompt (or password prompt) line that showed
    booted_after: bool  # the login prompt came back in the end
    output: str

    @property
    def interrupted(self) -> bool:
        return self.outcome is BootOutcome.INTERRUPTED

    @property
    def pressed(self) -> str:
        """`25 presses of Ctrl-C/space`, or `no key pressed`."""
        if not self.keys:
            return "no key pressed"
        presses = "1 press" if len(self.keys) == 1 else f"{len(self.keys)} presses"
        return f"{presses} of {'/'.join(dict.fromkeys(k.key for k in self.keys))}"

    def summary(self) -> list[str]:
        """The evidence lines: when the reset began, the banner, the keys, the prompt."""
        began = (
            "no sign of the reset (restart message, banner or kernel)"
            if self.reset_began_s is None
            else f"the reset began {self.reset_began_s:.2f}s after it was asked for"
        )
        lines = [began, f"banner: {self.banner or '(none recognised)'}"]
        if self.keys:
            first, last = self.keys[0].at_s, self.keys[-1].at_s
            lines.append(f"{self.pressed} from +{first:.2f}s to +{last:.2f}s (keys.json)")
        lines.append(self.outcome.value + (f": {self.prompt!r}" if self.prompt else ""))
        lines.append(f"back at the login prompt: {'yes' if self.booted_after else 'NO'}")
        return lines


@dataclass
class _Boot:
    """One boot being watched: the patterns, the output so far, the keys pressed."""

    console: Console
    traits: BootloaderTraits
    prompts: ConsolePrompts
    deadline: Deadline
    started: float = field(default_factory=time.monotonic)
    output: bytes = b""
    keys: list[KeyPress] = field(default_factory=list)
    began: float | None = None  # seconds after the reset command: it showed

    def __post_init__(self) -> None:
        self.loader = re.compile(self.traits.prompt.encode(), re.MULTILINE)
        self.asks = re.compile(re.escape(self.traits.password_prompt.encode()), re.IGNORECASE)
        self.banner = re.compile(self.traits.banner.encode(), re.MULTILINE)
        self.login, _, self.shell = self.prompts.patterns()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def keep(self, data: bytes) -> bytes:
        self.output += data[: max(0, OUTPUT_CAP - len(self.output))]
        return data

    def expect(self, patterns: list[re.Pattern[bytes]], seconds: float) -> tuple[int, bytes]:
        """`Console.expect`, but a shell prompt counts only if the line ends there."""
        limit = Deadline(self.deadline.step(seconds))
        while True:
            index, seen = self.console.expect(patterns, limit)
            self.keep(seen)
            if patterns[index] is not self.shell or self._line_ends(limit):
                return index, seen

    def _line_ends(self, limit: Deadline) -> bool:
        # `[#$] ?$` also matches a read that stopped inside "Linux version 6.1 #1 SMP".
        more = self.console.read_for(min(SETTLE_S, limit.remaining))
        return more[:1] in (b"", b"\r", b"\n")

    def press(self, key: str) -> None:
        pressed = KeyPress(key_name(key), round(self.elapsed, 3))
        self.keys.append(pressed)
        self.console.write(key.encode(), f"{pressed.key} at +{pressed.at_s:.2f}s")

    def clear(self) -> None:
        """Keep the output read but not yet matched, and forget it."""
        self.keep(self.console.pending)
        self.console.forget()

    def settle(self) -> None:
        """Read until the console is quiet: every key pressed has been read and echoed."""
        self.clear()
        limit = Deadline(self.deadline.step(SETTLE_MAX_S))
        while not limit.expired:
            if not self.keep(self.console.read_for(min(SETTLE_S, limit.remaining))):
                break
        self.console.forget()

    def finding(self, outcome: BootOutcome, prompt: str | None, booted: bool) -> BootFinding:
        match = self.banner.search(self.output)
        banner = _line(self.output, match.start(), match.end()) if match else None
        return BootFinding(
            outcome,
            tuple(self.keys),
            self.began,
            banner,
            prompt,
            booted,
            self.output.decode("utf-8", "replace"),
        )


def boot_interrupt(
    console: Console,
    prompts: ConsolePrompts,
    traits: BootloaderTraits,
    reset: console_probe.DeviceReset,
    deadline: Deadline,
    boot_s: float,
) -> BootFinding:
    """Reset (from the shell, or by a power cycle), press the interrupt keys through the
    boot window, boot again.

    `boot_s` bounds everything from the reset to the login prompt; `deadline` also covers
    the login before it and the return to the login prompt after it.
    """
    reset.run(console, prompts, deadline)
    boot = _Boot(console, traits, prompts, Deadline(deadline.step(boot_s)))
    start = _start(boot)
    if start is _Start.NEVER:
        with contextlib.suppress(DeviceError):  # leave the shell the reset did not end
            console_probe.back_to_login(console, prompts, deadline)
        return boot.finding(BootOutcome.NOT_RESET, None, False)
    outcome, prompt, booted = BootOutcome.BOOTED, None, start is _Start.LOGIN
    if start is _Start.BOOTLOADER:
        outcome, prompt, booted = _press_keys(boot)
    if outcome is BootOutcome.BOOTED and not booted:
        booted = _wait_for_login(boot)
    if outcome is BootOutcome.LOCKED:
        boot.clear()
        console.write(b"\r", "an empty answer to the bootloader's password prompt")
        opened = _boots(boot)
        if opened is None:  # its prompt: the password was empty
            outcome = BootOutcome.INTERRUPTED
        booted = bool(opened)
    if outcome is BootOutcome.INTERRUPTED:
        booted = _boot_from_prompt(boot)
    console.transcript.event(
        f"{len(boot.keys)} keys pressed; {outcome.value}; "
        f"{'back at the login prompt' if booted else 'the device did NOT come back'}"
    )
    if booted:
        console_probe.back_to_login(console, prompts, deadline)
    return boot.finding(outcome, prompt, booted)


class _Start(enum.Enum):
    """What the reset command led to, before any key."""

    NEVER = "the reset did not begin"
    BOOTLOADER = "the bootloader showed itself, or stayed silent: press keys"
    KERNEL = "the kernel came before any banner: no key can be pressed"
    LOGIN = "the login prompt came before any banner: no key can be pressed"


def _start(boot: _Boot) -> _Start:
    """Wait until the reset has really begun, and then for the bootloader's banner.

    The shell's prompt may well come back first (`reboot` under systemd or busybox init
    returns at once): no key goes to that shell, nor to a system still shutting down. A
    bootloader that stays silent for BANNER_WAIT_S after a restart message gets them in
    the dark.
    """
    starts = {boot.banner: _Start.BOOTLOADER, HANDOFF: _Start.KERNEL, boot.login: _Start.LOGIN}
    patterns = [boot.banner, RESTART, HANDOFF, boot.login]
    try:
        index, _ = boot.expect(patterns, RESET_WAIT_S)
    except DeviceTimeout:
        boot.clear()
        boot.console.transcript.event("no restart message, banner or kernel: no reset")
        return _Start.NEVER
    boot.began = round(boot.elapsed, 3)
    boot.console.transcript.event(f"the reset began after {boot.began:.2f}s")
    if patterns[index] is RESTART:
        patterns = [boot.banner, HANDOFF, boot.login]
        try:
            index, _ = boot.expect(patterns, BANNER_WAIT_S)
        except DeviceTimeout:
            boot.console.transcript.event(f"no banner in {BANNER_WAIT_S:.0f}s: pressing keys")
            return _Start.BOOTLOADER
    start = starts[patterns[index]]
    boot.console.transcript.event(start.value)
    return start


def _press_keys(boot: _Boot) -> tuple[BootOutcome, str | None, bool]:
    """Press the keys in turn until the bootloader or the kernel shows what it does.

    (outcome, the prompt line seen, whether the login prompt already showed)
    """
    keys = itertools.cycle(boot.traits.interrupt)
    next_press = 0.0
    patterns = [boot.loader, boot.asks, HANDOFF, boot.login]
    while not boot.deadline.expired:
        if time.monotonic() >= next_press:
            boot.press(next(keys))
            next_press = time.monotonic() + PRESS_EVERY_S
        try:
            index, seen = boot.expect(patterns, max(0.0, next_press - time.monotonic()))
        except DeviceTimeout:
            continue
        if index == 0:
            return BootOutcome.INTERRUPTED, _last_line(seen), False
        if index == 1:
            return BootOutcome.LOCKED, _last_line(seen), False
        if index in (2, 3):
            boot.console.transcript.event("the kernel started: no more keys")
            return BootOutcome.BOOTED, None, index == 3
    boot.clear()
    return BootOutcome.SILENT, None, False


def _boots(boot: _Boot) -> bool | None:
    """After the bootloader lets go: the login prompt came back (True), its prompt (None),
    or nothing in time (False)."""
    try:
        index, _ = boot.expect([HANDOFF, boot.login, boot.loader], boot.deadline.remaining)
    except DeviceTimeout:
        boot.clear()
        return False
    if index == 2:
        return None
    return index == 1 or _wait_for_login(boot)


def _boot_from_prompt(boot: _Boot) -> bool:
    """At an open prompt: clear the line, type the boot command, wait for the login prompt."""
    for _ in range(BOOT_TRIES):
        boot.settle()
        boot.console.write(boot.traits.clear_line.encode(), "empty the command line")
        boot.settle()
        boot.console.write(boot.traits.boot_command.encode() + b"\r", "let the device boot")
        booted = _boots(boot)
        if booted is not None:
            return booted
        boot.console.transcript.event("the prompt came back: the boot command did not boot")
    return False


def _wait_for_login(boot: _Boot) -> bool:
    """After the kernel started: its login prompt, or (a device without login) a shell."""
    try:
        boot.expect([boot.login, boot.shell], boot.deadline.remaining)
    except DeviceTimeout:
        boot.clear()
        return False
    return True


def _line(text: bytes, start: int, end: int) -> str:
    """The whole line around text[start:end], as shown."""
    head = text.rfind(b"\n", 0, start) + 1
    tail = text.find(b"\n", end)
    line = text[head : tail if tail >= 0 else len(text)]
    return line.decode("utf-8", "replace").strip()


def _last_line(seen: bytes) -> str:
    return seen.rsplit(b"\n", 1)[-1].decode("utf-8", "replace").strip()
