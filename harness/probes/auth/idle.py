"""Idle sessions (AUTH-011): log in, leave the shell idle, then see whether it still runs `id`."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import paramiko

from harness.core.deadline import Deadline, pause
from harness.core.errors import inconclusive
from harness.core.transcript import Transcript
from harness.probes import console as console_probe
from harness.probes.console import ConsolePrompts, ConsoleState
from harness.transports.serial import Console
from harness.transports.ssh import SshTarget

READ_POLL_S = 0.1
PROMPT_WAIT_S = 1.0  # the longest the shell's banner and prompt are read for
PROMPT_QUIET_S = 0.3  # the prompt has been read once the shell has said nothing this long
SHELL_PROMPT = re.compile(r"[$#>%] ?$")  # how a shell's output ends when it waits for input


@dataclass(frozen=True)
class IdleFinding:
    """A logged-in shell left idle, then asked to run a command."""

    closed: bool  # the device ended the session (the command did not run)
    answer: str


def idle_ssh(target: SshTarget, idle_s: float, transcript: Transcript) -> IdleFinding:
    """Open a shell, read its prompt, idle `idle_s`, send `id`: did the device end the session?"""
    with target.login(transcript) as session:
        channel = session.open_shell()
        opened = time.monotonic()  # our last input: the shell request
        banner, ended, spoke = _read_for(channel, PROMPT_WAIT_S, transcript, quiet_s=PROMPT_QUIET_S)
        if ended or channel.closed or channel.exit_status_ready():
            if not SHELL_PROMPT.search(banner):
                # nologin, /bin/false, a ForceCommand that refuses shells: no shell ever
                # ran, which says nothing about an idle timeout.
                inconclusive(
                    f"{target.host}:{target.port}",
                    "the session ended before a shell prompt showed, so there was no idle "
                    f"shell to time out; it said: {banner.strip()[-200:]!r}",
                )
            # A prompt, then the end while we read on: an idle time shorter than our read.
            transcript.event("the device closed the session after its prompt, while idle")
            return IdleFinding(True, "")
        # Idle counts from the later of our last input and the device's last output (a
        # shell's timer may start when it prints its prompt), not from the end of the read.
        since = max(opened, spoke or opened)
        transcript.event(f"idle for {idle_s:.1f}s (from the shell's prompt on)")
        pause(idle_s - (time.monotonic() - since))
        if channel.closed or channel.exit_status_ready() or not session.active:
            transcript.event("the device closed the session while idle")
            return IdleFinding(True, "")
        try:
            channel.sendall(b"id\r")
            transcript.sent(b"id\r", "command after the idle time")
        except (OSError, EOFError, paramiko.SSHException):
            return IdleFinding(True, "")
        answer, eof, _ = _read_for(channel, min(target.timeout, 3.0), transcript)
        closed = eof or channel.closed or not session.active
        return IdleFinding(closed and "uid=" not in answer, answer)


def _read_for(
    channel: paramiko.Channel,
    seconds: float,
    transcript: Transcript,
    *,
    quiet_s: float | None = None,
) -> tuple[str, bool, float | None]:
    """What the channel sends within `seconds` (with `quiet_s`: until it has sent something
    and then nothing for that long); (text, whether it reached end of file, when its last
    byte arrived or None)."""
    end = time.monotonic() + seconds
    data = b""
    last: float | None = None
    channel.settimeout(READ_POLL_S if quiet_s is None else min(READ_POLL_S, quiet_s))
    while time.monotonic() < end and len(data) < 65536:
        if quiet_s is not None and last is not None and time.monotonic() - last >= quiet_s:
            break
        try:
            chunk = channel.recv(4096)
        except TimeoutError:
            continue
        except (OSError, EOFError, paramiko.SSHException):
            return data.decode("utf-8", "replace"), True, last
        if not chunk:
            transcript.received(data, "end of file")
            return data.decode("utf-8", "replace"), True, last
        data += chunk
        last = time.monotonic()
    if data:
        transcript.received(data)
    return data.decode("utf-8", "replace"), False, last


def idle_console(
    console: Console,
    prompts: ConsolePrompts,
    account: console_probe.Account,
    idle_s: float,
    deadline: Deadline,
    *,
    reboot: re.Pattern[bytes],
) -> IdleFinding:
    """Log in, idle `idle_s`, type `id`: does a shell still run it? A boot log (`reboot`)
    on the way means the session ended with a reboot, which proves no idle timeout."""
    console_probe.login_profiled(console, prompts, account, deadline)
    console.forget()
    console.transcript.event(f"idle for {idle_s:.1f}s")
    pause(idle_s)
    console.write(b"id\r", "command after the idle time")
    state, seen = console_probe.classify(console, prompts, deadline, min(console.timeout, 3.0))
    text = seen.decode("utf-8", "replace")
    if reboot.search(seen):
        inconclusive(
            console.target,
            "the console printed a boot log while idle or in answer to `id`: the session "
            "ended with a reboot, which says nothing about an idle timeout",
        )
    closed = state in (ConsoleState.LOGIN, ConsoleState.PASSWORD) or (
        state is ConsoleState.NOTHING and "uid=" not in text
    )
    console_probe.back_to_login(console, prompts, deadline)
    return IdleFinding(closed and "uid=" not in text, text)
