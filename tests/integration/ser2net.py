"""A real ser2net (Debian's 4.x, on gensio) exporting a pty over RFC 2217 on loopback.

gensio resolves its accepter's address with `AI_ADDRCONFIG`, which glibc answers with
nothing for IPv4 when the only IPv4 address is 127.0.0.1 (as in the tests' private network
namespace): the address ser2net listens on is therefore also added to `lo` while it runs.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.integration import daemons


def require_ser2net() -> str:
    """ser2net's path; skips (fails in CI) when it is not installed."""
    binary = shutil.which("ser2net") or "/usr/sbin/ser2net"
    daemons.require(Path(binary).is_file(), "ser2net is not installed (apt-get install ser2net)")
    daemons.require(shutil.which("ip") is not None, "ip (iproute2) is not installed")
    return binary


def config(pty: str, host: str, port: int, baudrate: int = 115200) -> str:
    """ser2net.yaml for one connection: RFC 2217 on HOST:PORT to the pty."""
    return (
        "connection: &console\n"
        f"  accepter: telnet(rfc2217),tcp,{host},{port}\n"
        f"  connector: serialdev,{pty},{baudrate}n81,local\n"
    )


@contextlib.contextmanager
def _on_loopback(host: str) -> Iterator[None]:
    added = subprocess.run(
        ["ip", "addr", "add", f"{host}/32", "dev", "lo"], capture_output=True, check=False
    )
    try:
        yield
    finally:
        if added.returncode == 0:
            subprocess.run(
                ["ip", "addr", "del", f"{host}/32", "dev", "lo"], capture_output=True, check=False
            )


@contextlib.contextmanager
def rfc2217_console(pty: str, host: str, folder: Path) -> Iterator[str]:
    """ser2net exporting `pty` on `host`; yields the console's `rfc2217://HOST:PORT`."""
    binary = require_ser2net()
    folder.mkdir(parents=True, exist_ok=True)
    port = daemons.free_port(host)
    path = folder / "ser2net.yaml"
    path.write_text(config(pty, host, port))
    # -n: stay in the foreground; -u: no UUCP lock files in /var/lock.
    command = [binary, "-n", "-u", "-c", str(path), "-P", str(folder / "ser2net.pid")]
    with _on_loopback(host), daemons.running(command, host, port, folder / "ser2net.log"):
        yield f"rfc2217://{host}:{port}"
