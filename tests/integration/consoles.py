"""Serial consoles on a pty for the console checks: a misbehaving fake, and real logins.

`FakeConsole` is a small login console whose faults are switched on one by one (a shell
without login, an echoed password, a key in the boot log, an interruptible bootloader, a
bootloader that asks a password, a boot that never ends, no delay after failures, a flood
of output, silence, a refusal before any password prompt). Its boot is a hook a subclass
replaces (`tests.integration.uboot` boots a real U-Boot there).
`real_console` runs a real program (busybox `login` in a respawn loop, or a bare shell) on
a pty through socat.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.integration import daemons

LOGIN = b"fake login: "
PASSWORD = b"Password: "
PROMPT = b"tester@fake:~$ "
BOOT_HEAD = b"\r\nU-Boot 2024.01 (fake)\r\nHit any key to stop autoboot:  1 \r\n"
BOOT_TAIL = b"Starting kernel ...\r\n[    0.000000] Booting Linux\r\n"
LEAKED_KEY = (
    b"-----BEGIN OPENSSH PRIVATE KEY-----\r\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\r\n"
    b"-----END OPENSSH PRIVATE KEY-----\r\n"
)
BOOTLOADER = b"=> "
BOOTLOADER_PASSWORD = b"\r\nautoboot stopped; Password: "


@dataclass(frozen=True)
class Faults:
    """What is wrong with a fake console (all off: a correct one)."""

    shell_without_login: bool = False
    echo_password: bool = False
    key_in_boot_log: bool = False
    interruptible_bootloader: bool = False
    locked_bootloader: bool = False  # a key stops the autoboot, but a password is asked
    boot_hangs: bool = False  # the kernel starts and the login prompt never comes
    # `reboot` returns to the shell at once and the system goes down this much later, as
    # under systemd or busybox init; the shell answers keys meanwhile.
    reboot_after_s: float = 0.0
    fail_delay_s: float = 0.0
    flood: bool = False
    silent: bool = False
    refuse_before_password: bool = False  # "Login incorrect" right after the user name
    reboots_every_s: float = 0.0  # reboots on its own (a watchdog, a crash loop)
    reboots_when_idle_s: float = 0.0  # a shell left idle this long crashes the device


class FakeConsole:
    """A pty console for `tester` / `password`, with `faults`; `path` is what a client opens."""

    boot_tail = BOOT_TAIL  # what the device prints from the kernel on

    def __init__(self, password: str, faults: Faults) -> None:
        self.password = password
        self.faults = faults
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._state = "shell" if faults.shell_without_login else "login"
        self._line = b""
        self._user = b""
        self._boot_until = 0.0
        self._going_down_at = 0.0
        every = faults.reboots_every_s
        self._next_own_reboot = time.monotonic() + every if every else 0.0
        self._last_key = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> FakeConsole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self._master, data)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.faults.flood:  # a console stuck in a message loop, at the wrong baud rate
                self._write((b"kernel: noisy driver \xfe\x80\xff " * 40) + b"\r\n")
            ready, _, _ = select.select([self._master], [], [], 0.05)
            self._tick()
            if not ready:
                continue
            try:
                data = os.read(self._master, 1024)
            except OSError:
                return
            for byte in data:
                self._key(bytes((byte,)))

    def _key(self, key: bytes) -> None:
        self._last_key = time.monotonic()
        if self.faults.silent or self.faults.flood or self._state == "hung":
            return
        if self._state == "booting":
            self._boot_key(key)
            return
        if key in (b"\x03", b"\x04", b"\x1a"):
            self._line = b""
            if self._state == "password":
                self._state = "login"
            prompt = {"shell": PROMPT, "bootloader": BOOTLOADER}.get(self._state, LOGIN)
            self._write(b"^" + bytes((key[0] + 0x40,)) + b"\r\n" + prompt)
            return
        if key not in (b"\r", b"\n"):
            self._line += key
            if self._state not in ("password", "unlock") or self.faults.echo_password:
                self._write(key)
            return
        line, self._line = self._line.decode(errors="replace"), b""
        self._write(b"\r\n")
        self._on_line(line)

    def _on_line(self, line: str) -> None:
        if self._state == "login":
            if line and self.faults.refuse_before_password:
                self._write(b"Login incorrect\r\n" + LOGIN)
            elif line:
                self._user, self._state = line.encode(), "password"
                self._write(PASSWORD)
            else:
                self._write(LOGIN)
        elif self._state == "password":
            if self._user == b"tester" and line == self.password:
                self._state = "shell"
                self._write(PROMPT)
            else:
                time.sleep(self.faults.fail_delay_s)
                self._state = "login"
                self._write(b"Login incorrect\r\n" + LOGIN)
        elif self._state == "bootloader":
            if line.strip() == "boot":
                self._finish_boot()
            else:
                self._write(BOOTLOADER)
        elif self._state == "unlock":
            self._write(b"\r\nwrong password\r\n")
            self._finish_boot()
        elif line.strip() == "reboot" and self.faults.reboot_after_s:
            self._going_down_at = time.monotonic() + self.faults.reboot_after_s
            self._write(PROMPT)
        elif line.strip() == "reboot":
            self._reboot()
        elif line.strip() == "exit":
            self._state = "shell" if self.faults.shell_without_login else "login"
            self._write(PROMPT if self.faults.shell_without_login else LOGIN)
        else:
            if line.strip() == "id":
                self._write(b"uid=1000(tester) gid=1000(tester)\r\n")
            elif line.startswith("echo "):
                self._write(line[5:].encode() + b"\r\n")
            self._write(PROMPT)

    def _reboot(self) -> None:
        """`reboot` at the shell: the bootloader's banner, then its 0.5 s autoboot window."""
        self._state, self._boot_until = "booting", time.monotonic() + 0.5
        self._write(BOOT_HEAD)

    def _boot_key(self, key: bytes) -> None:
        """A key pressed while the device boots."""
        if self.faults.interruptible_bootloader:
            self._state = "bootloader"
            self._write(b"\r\n" + BOOTLOADER)
        elif self.faults.locked_bootloader:
            self._state = "unlock"
            self._write(BOOTLOADER_PASSWORD)

    def _tick(self) -> None:
        """Called every 50 ms: a reboot that was due, the end of the autoboot window."""
        now = time.monotonic()
        if self._next_own_reboot and now >= self._next_own_reboot:
            self._next_own_reboot = now + self.faults.reboots_every_s
            self._reboot()
        elif (
            self.faults.reboots_when_idle_s
            and self._state == "shell"
            and now - self._last_key >= self.faults.reboots_when_idle_s
        ):
            self._reboot()
        elif self._going_down_at and now >= self._going_down_at:
            self._going_down_at = 0.0
            self._reboot()
        elif self._state == "booting" and time.monotonic() >= self._boot_until:
            self._finish_boot()

    def _finish_boot(self) -> None:
        tail = self.boot_tail + (LEAKED_KEY if self.faults.key_in_boot_log else b"")
        if self.faults.boot_hangs:
            self._state = "hung"
            self._write(tail)
            return
        self._state = "shell" if self.faults.shell_without_login else "login"
        self._write(tail + (PROMPT if self.faults.shell_without_login else b"\r\n" + LOGIN))


@contextlib.contextmanager
def real_console(folder: Path, program: str) -> Iterator[str]:
    """`program` (a shell command line) run again and again on a pty by socat; yields its path."""
    socat = shutil.which("socat")
    daemons.require(socat is not None, "socat is not installed (apt-get install socat)")
    assert socat is not None
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "console.sh"
    # Ctrl-C ends the program (a caught signal is reset in children), not the respawn
    # loop; Ctrl-Z would stop it for good, so it is ignored, as on a console without job control.
    script.write_text(f"#!/bin/sh\ntrap : INT\ntrap '' TSTP\nwhile true; do {program}; done\n")
    script.chmod(0o755)
    link = folder / "ttyS0"
    with open(folder / "socat.log", "wb") as log:
        process = subprocess.Popen(
            [socat, f"PTY,link={link},raw,echo=0", f"EXEC:{script},pty,setsid,ctty,stderr"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 10
        while not link.exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"socat did not create {link}")
            time.sleep(0.05)
        yield str(link)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
