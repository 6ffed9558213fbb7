"""The pump's serial console on a pty: boot log, login prompt, a tiny shell.

The sim keeps the slave end open itself, so the master never sees EIO when a client
(pyserial on the slave path) closes. Writes to the master are non-blocking with a short
wait, so a client that never reads cannot stall the console.

pyserial flushes its input when it opens a port, so a boot log written at start would
never be seen. The master runs in pty packet mode instead, where a client's input flush
arrives as a `TIOCPKT_FLUSHREAD` packet: the pump "powers on" (prints its boot log and
first login prompt) at the first such flush or the first typed byte, whichever comes first.

`power(False)` and `power(True)` are the pump's power switch (a lab power port, as a labgrid
place has): off, the console reads and answers nothing and a shell session is lost; on, the
boot log comes again from its first line, as after power-on.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hmac
import logging
import os
import queue
import select
import struct
import termios
import threading
import time
import tty
from collections.abc import Collection

from harness.sim import shell
from harness.sim.firmware import FirmwareState
from harness.sim.lockout import FailedLogins

LOGIN_PROMPT = b"IP-100 login: "
PASSWORD_PROMPT = b"Password: "
FAILED_LOGIN_DELAY_S = 0.05  # login(1) waits ~3 s; shorter keeps CI and the demo fast
WRITE_WAIT_S = 0.5
POLL_S = 0.1  # after an error reading the pty
# The reader sleeps until input, a wake-up (power, stop) or the next timer is due, and at
# most this long: an idle pump then wakes once a second, not ten times.
IDLE_TICK_S = 1.0
TIMER_SLACK_S = 0.001  # a timer is looked at just after it is due, not just before
AUTOBOOT = b"Hit any key to stop autoboot:  0\r\n"
BOOT_WINDOW_S = 0.5  # after a reboot: typed keys are read and ignored (no bootloader shell)
IDLE_LOGOUT = b"\r\ntimed out waiting for input: auto-logout\r\n"
CRASH_LINE_BYTES = 4096  # W-16: a longer line without newline crashes the console
CRASH_DOWN_S = 1.0  # W-16: silence until the watchdog reboots the console


def boot_log() -> bytes:
    """What the pump prints from power-on to its first login prompt (no secrets)."""
    lines = (
        "",
        "U-Boot SPL (Example Medical IP-100)",
        "DRAM:  256 MiB",
        "Loading Environment from MMC... OK",
        "Hit any key to stop autoboot:  0",
        "Starting kernel ...",
        "",
        "[    0.000000] Booting Linux on physical CPU 0x0",
        "[    0.412203] mmcblk0: mmc0:0001 8GTF4R 7.28 GiB",
        "[    1.208817] EXT4-fs (mmcblk0p2): mounted filesystem with ordered data mode",
        "[    1.733540] random: crng init done",
        "pumpd: therapy services ready",
    )
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + LOGIN_PROMPT


class _State(enum.Enum):
    LOGIN = "login"
    PASSWORD = "password"  # noqa: S105 - a state name
    SHELL = "shell"
    BOOTING = "booting"
    CRASHED = "crashed"  # W-16: reads nothing, prints nothing until the watchdog reboots
    OFF = "off"  # the power is cut: reads nothing, prints nothing until it is on again


class SerialConsole:
    """A login console on a fresh pty; `path` is what a client opens."""

    def __init__(
        self,
        *,
        firmware: FirmwareState,
        password: str,
        weaknesses: Collection[str],
        log: logging.Logger,
        failed_logins: FailedLogins | None = None,
        idle_timeout_s: float | None = None,
    ) -> None:
        self._firmware = firmware
        self._password = password
        self._root_without_password = "W-18" in weaknesses
        self._ctrl_c_root_shell = "W-02" in weaknesses
        self._crashes_on_long_line = "W-16" in weaknesses
        self._line_bytes = 0  # typed since the last line end, whatever the editor kept
        self._crashed_until = 0.0
        self._failed = failed_logins or FailedLogins(after=1, lock_s=0.0, enabled=False)
        self._idle_timeout_s = idle_timeout_s
        self._last_input = time.monotonic()
        self._boot_rest = b""
        self._boot_until = 0.0
        self._log = log
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        fcntl.ioctl(self._master, termios.TIOCPKT, struct.pack("i", 1))
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._editor = shell.LineEditor()
        self._state = _State.LOGIN
        self._username = ""
        self._account = shell.SERVICE
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._read_loop, name="sim-console", daemon=True)
        self._closed = False
        self._booted = False
        self._power_switch: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    def power(self, on: bool) -> None:
        """Switch the pump's power (any thread): applied by the console's reader at once."""
        self._power_switch.put(on)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (a wake-up is pending anyway) or closed
            os.write(self._wake_write, b"!")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader and close both pty ends; safe to call twice."""
        self._stopping.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        if not self._closed:
            self._closed = True
            for fd in (self._master, self._slave, self._wake_read, self._wake_write):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _read_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select(
                    [self._master, self._wake_read], [], [], self._until_next_timer()
                )
                if self._wake_read in ready:
                    os.read(self._wake_read, 64)
                self._on_tick()
                if self._master not in ready:
                    continue
                packet = os.read(self._master, 1 + shell.LINE_LIMIT)
            except BlockingIOError:
                continue
            except OSError:
                time.sleep(POLL_S)
                continue
            if not packet:
                continue
            if packet[0] != termios.TIOCPKT_DATA:
                if packet[0] & termios.TIOCPKT_FLUSHREAD:
                    self._boot()  # a client opened the port (pyserial flushes at open)
                continue
            self._boot()
            self._last_input = time.monotonic()
            if self._state in (_State.BOOTING, _State.CRASHED, _State.OFF):
                continue  # the bootloader ignores keys in its window; a dead console reads none
            for byte in packet[1:]:
                if not self._on_byte(byte):
                    break  # a failed login discards what was typed meanwhile

    def _until_next_timer(self) -> float:
        """How long the reader may wait for input before one of `_on_tick`'s timers is due."""
        now = time.monotonic()
        due = [IDLE_TICK_S]
        if self._state is _State.CRASHED:
            due.append(self._crashed_until - now)
        if self._state is _State.BOOTING:
            due.append(self._boot_until - now)
        if self._state is _State.SHELL and self._idle_timeout_s is not None:
            due.append(self._last_input + self._idle_timeout_s - now)
        return max(0.0, min(due)) + TIMER_SLACK_S

    def _on_tick(self) -> None:
        """Timers: the end of the boot window, and the shell's idle logout."""
        self._apply_power()
        now = time.monotonic()
        if self._state is _State.CRASHED and now >= self._crashed_until:
            self._log.info("console watchdog: reboot after the crash (W-16)")
            self._reboot(b"\r\n")
        if self._state is _State.BOOTING and now >= self._boot_until:
            with contextlib.suppress(termios.error):
                termios.tcflush(self._master, termios.TCIFLUSH)
            self._state = _State.LOGIN
            self._editor.clear()
            self._write(self._boot_rest)
        idle = self._idle_timeout_s
        if self._state is _State.SHELL and idle is not None and now - self._last_input > idle:
            self._log.info("console shell idle for %.0f s: logged out", idle)
            self._write(IDLE_LOGOUT)
            self._log_out()

    def _apply_power(self) -> None:
        while not self._power_switch.empty():
            on = self._power_switch.get_nowait()
            if not on and self._state is not _State.OFF:
                self._log.info("console power off")
                self._booted = True  # no boot log until the power is back
                self._editor.clear()
                self._account = shell.SERVICE
                self._state = _State.OFF
            elif on and self._state is _State.OFF:
                self._log.info("console power on")
                self._reboot(b"")

    def _reboot(self, message: bytes = b"\r\nreboot: Restarting system\r\n") -> None:
        """`reboot` in the shell (or the watchdog after a crash): the boot log again, with a
        boot window that ignores keys."""
        self._log.info("console reboot")
        self._editor.clear()
        self._line_bytes = 0
        self._account = shell.SERVICE
        head, sep, rest = boot_log().partition(AUTOBOOT)
        self._boot_rest = rest
        self._boot_until = time.monotonic() + BOOT_WINDOW_S
        self._state = _State.BOOTING
        self._write(message + head + sep)

    def _boot(self) -> None:
        if not self._booted:
            self._booted = True
            self._log.info("console opened: boot log sent")
            self._write(boot_log())

    def _on_byte(self, byte: int) -> bool:
        """Handle one typed byte; False means drop the rest of the input read so far."""
        self._line_bytes = 0 if byte in (0x0A, 0x0D) else self._line_bytes + 1
        if self._crashes_on_long_line and self._line_bytes > CRASH_LINE_BYTES:
            self._log.warning(
                "console line of %d bytes: the console crashed (W-16)", CRASH_LINE_BYTES
            )
            self._state = _State.CRASHED
            self._crashed_until = time.monotonic() + CRASH_DOWN_S
            return False
        key = self._editor.feed(byte)
        if self._state is not _State.PASSWORD and key.echo:
            self._write(key.echo)
        if key.control is not None:
            self._on_control(key.control)
        elif key.line is not None:
            return self._on_line(key.line)
        return True

    def _on_control(self, control: int) -> None:
        if self._state is _State.SHELL:
            if control == shell.CTRL_D:
                if self._editor.empty:
                    self._log_out()
                return
            self._editor.clear()
            self._write(shell.caret(control) + b"\r\n" + self._account.prompt.encode())
            return
        self._editor.clear()
        if self._ctrl_c_root_shell and control == shell.CTRL_C and self._state is _State.LOGIN:
            self._log.info("console Ctrl-C at the login prompt: root shell (W-02)")
            self._account = shell.ROOT
            self._state = _State.SHELL
            self._write(shell.caret(control) + b"\r\n" + shell.ROOT.prompt.encode())
            return
        self._state = _State.LOGIN
        self._write(shell.caret(control) + b"\r\n\r\n" + LOGIN_PROMPT)

    def _on_line(self, line: str) -> bool:
        if self._state is _State.LOGIN:
            if not line:
                self._write(b"\r\n" + LOGIN_PROMPT)
            else:
                self._username = line
                self._state = _State.PASSWORD
                self._write(b"\r\n" + PASSWORD_PROMPT)
            return True
        if self._state is _State.PASSWORD:
            return self._check_login(self._username, line)
        self._write(b"\r\n")
        if line.strip() == "reboot":
            self._reboot()
            return False
        result = shell.execute(line, self._account, self._firmware.version)
        out = b"".join(text.encode() + b"\r\n" for text in result.lines)
        self._write(out)
        if result.logout:
            self._log_out()
        else:
            self._write(self._account.prompt.encode())
        return True

    def _check_login(self, username: str, password: str) -> bool:
        account = None if self._failed.locked(username) else self._authenticate(username, password)
        if account is None:
            self._failed.failed(username)
        else:
            self._failed.succeeded(username)
        self._log.info(
            "console login user=%r %s",
            shell.printable(username, 32),
            "accepted" if account else "refused",
        )
        if account is not None:
            self._account = account
            self._state = _State.SHELL
            self._write(b"\r\n" + account.prompt.encode())
            return True
        self._stopping.wait(FAILED_LOGIN_DELAY_S)
        with contextlib.suppress(termios.error):
            termios.tcflush(self._master, termios.TCIFLUSH)
        self._state = _State.LOGIN
        self._write(b"\r\nLogin incorrect\r\n\r\n" + LOGIN_PROMPT)
        return False

    def _authenticate(self, username: str, password: str) -> shell.Account | None:
        if username == shell.SERVICE.name and hmac.compare_digest(
            password.encode(), self._password.encode()
        ):
            return shell.SERVICE
        if username == shell.ROOT.name and self._root_without_password and password == "":
            return shell.ROOT
        return None

    def _log_out(self) -> None:
        self._editor.clear()
        self._state = _State.LOGIN
        self._account = shell.SERVICE
        self._write(b"logout\r\n\r\n" + LOGIN_PROMPT)

    def _write(self, data: bytes) -> None:
        deadline = time.monotonic() + WRITE_WAIT_S
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._master, view)
                view = view[written:]
                continue
            except BlockingIOError:
                pass
            except OSError:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return  # nobody reads: drop the rest, as a line without a listener would
            select.select([], [self._master], [], left)
