"""A device whose bootloader is Debian's real U-Boot, in QEMU, on the serial console.

U-Boot has no OS to boot here, so the device is built around it: a login and shell on a
pty (`consoles.FakeConsole`) whose `reboot` starts `qemu-system-aarch64` with Debian's
`qemu_arm64` U-Boot and relays its serial line both ways. U-Boot reads its environment
from the second flash bank (written here, as a board's environment partition would be):
`bootcmd` prints U-Boot's usual "Starting kernel ..." and powers the machine off, and when
QEMU exits the "kernel" takes over, prints its log and the login prompt comes back. So
U-Boot's own banner, autoboot countdown, key handling, line editor and prompt are what
AUTH-006 meets; `bootdelay` decides how hardened it is.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import struct
import subprocess
import threading
import zlib
from pathlib import Path

from tests.integration import consoles, daemons

QEMU = "qemu-system-aarch64"
FIRMWARE = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
ENV_SIZE = 0x40000  # CONFIG_ENV_SIZE of qemu_arm64: the environment at the start of flash 1
FLASH_SIZE = 64 << 20  # the virt machine's flash bank
BOOTCMD = "echo Starting kernel ...; poweroff"
REBOOT_AFTER_S = 0.5  # `reboot` returns to the shell's prompt first, as under busybox init
KERNEL_LOG = (
    b"[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x411fd070]\r\n"
    b"[    0.000000] Linux version 6.1.0-medsec (gcc 12.2.0) #1 SMP\r\n"
    b"[    0.000000] Kernel command line: console=ttyAMA0 root=/dev/vda2 rootwait ro\r\n"
    b"[    1.733540] random: crng init done\r\n"
)


def require() -> None:
    """Skip (or, in CI, fail) without QEMU and Debian's U-Boot for qemu_arm64."""
    daemons.require(
        shutil.which(QEMU) is not None and FIRMWARE.is_file(),
        f"{QEMU} and {FIRMWARE} are needed (apt-get install qemu-system-arm u-boot-qemu)",
    )


def environment_image(path: Path, variables: dict[str, str]) -> Path:
    """A flash bank holding a U-Boot environment: CRC32, then `name=value` strings."""
    data = b"".join(f"{k}={v}".encode() + b"\0" for k, v in variables.items()) + b"\0"
    data = data.ljust(ENV_SIZE - 4, b"\0")
    with open(path, "wb") as flash:
        flash.write(struct.pack("<I", zlib.crc32(data)) + data)
        flash.truncate(FLASH_SIZE)
    return path


class UBootConsole(consoles.FakeConsole):
    """`tester`'s login and shell on a pty; `reboot` boots the real U-Boot with `env`."""

    boot_tail = KERNEL_LOG

    def __init__(self, password: str, folder: Path, env: dict[str, str]) -> None:
        super().__init__(password, consoles.Faults(reboot_after_s=REBOOT_AFTER_S))
        folder.mkdir(parents=True, exist_ok=True)
        self._flash = environment_image(folder / "flash1.img", {"bootcmd": BOOTCMD, **env})
        self._log = folder / "qemu.log"
        self._qemu: subprocess.Popen[bytes] | None = None
        self._relay: threading.Thread | None = None
        self.boots = 0

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._power_off()

    def _reboot(self) -> None:
        self._write(b"\r\nreboot: Restarting system\r\n")
        self._state, self._boot_until = "booting", math.inf  # until QEMU powers off
        with open(self._log, "ab") as log:
            self._qemu = subprocess.Popen(
                [
                    QEMU,
                    *("-M", "virt", "-cpu", "cortex-a57", "-m", "128", "-no-reboot"),
                    *("-nodefaults", "-display", "none", "-monitor", "none", "-nic", "none"),
                    *("-bios", str(FIRMWARE)),
                    *("-drive", f"if=pflash,unit=1,format=raw,file={self._flash}"),
                    *("-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console"),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        self.boots += 1
        self._relay = threading.Thread(target=self._relay_output, args=(self._qemu,), daemon=True)
        self._relay.start()

    def _relay_output(self, qemu: subprocess.Popen[bytes]) -> None:
        assert qemu.stdout is not None
        while chunk := os.read(qemu.stdout.fileno(), 4096):
            self._write(chunk)

    def _boot_key(self, key: bytes) -> None:
        if self._qemu is not None and self._qemu.stdin is not None:
            with contextlib.suppress(OSError):
                self._qemu.stdin.write(key)
                self._qemu.stdin.flush()

    def _tick(self) -> None:
        """U-Boot powered off: the kernel it started takes over the console."""
        super()._tick()
        if self._state == "booting" and self._qemu is not None and self._qemu.poll() is not None:
            assert self._relay is not None
            self._relay.join(5)
            self._power_off()
            self._finish_boot()

    def _power_off(self) -> None:
        qemu, self._qemu = self._qemu, None
        if qemu is None:
            return
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait(5)
        for pipe in (qemu.stdin, qemu.stdout):
            if pipe is not None:
                pipe.close()
