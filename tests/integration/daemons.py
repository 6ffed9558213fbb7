"""Real daemons on loopback for the tests: OpenSSH sshd and OpenSSL s_server.

In CI (`MEDSEC_REQUIRE_DAEMONS=1`) a missing daemon or privilege fails the test instead
of skipping it, so a missing install step cannot hide.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def require(condition: bool, reason: str) -> None:
    """Skip without `condition`, or fail when CI demands the daemons."""
    if condition:
        return
    if os.environ.get("MEDSEC_REQUIRE_DAEMONS"):
        pytest.fail(f"CI requires this test to run: {reason}")
    pytest.skip(reason)


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_listening(
    host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 10
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


@contextlib.contextmanager
def running(command: list[str], host: str, port: int, log: Path) -> Iterator[int]:
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_listening(host, port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.contextmanager
def local_account(name: str, password: str, *, crypt: str | None = None) -> Iterator[str]:
    """A throwaway system account (root only), removed afterwards.

    `crypt="SHA512"` stores a hash busybox's `login` can check (it predates yescrypt).
    """
    require(os.geteuid() == 0, "creating a test account needs root")
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/bin/sh", name],
        check=False,
        capture_output=True,
    )
    method = ["-c", crypt] if crypt else []
    subprocess.run(["chpasswd", *method], input=f"{name}:{password}".encode(), check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@contextlib.contextmanager
def sshd(
    host: str,
    folder: Path,
    *,
    password_auth: bool,
    allow: str,
    permit_root_login: str = "no",
    extra: str = "",
) -> Iterator[int]:
    """OpenSSH's sshd on `host`, with its own config and host key (`extra`: more lines)."""
    binary = shutil.which("sshd") or "/usr/sbin/sshd"
    require(
        Path(binary).is_file(), "OpenSSH sshd is not installed (apt-get install openssh-server)"
    )
    require(os.geteuid() == 0, "sshd authenticates system accounts only as root")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    host_key = folder / "ssh_host_ed25519_key"
    if not host_key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True
        )
    port = free_port(host)
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {host}\nHostKey {host_key}\nPidFile {folder}/sshd.pid\n"
        f"UsePAM no\nPasswordAuthentication {'yes' if password_auth else 'no'}\n"
        f"KbdInteractiveAuthentication no\nPermitRootLogin {permit_root_login}\n"
        f"PermitEmptyPasswords no\nAllowUsers {allow}\nStrictModes no\nMaxAuthTries 6\n"
        f"LoginGraceTime 20\nSubsystem sftp internal-sftp\n{extra}"
    )
    with running([binary, "-D", "-e", "-f", str(config)], host, port, folder / "sshd.log"):
        yield port


@contextlib.contextmanager
def s_server(host: str, folder: Path, cert: Path, key: Path, *, min_protocol: str) -> Iterator[int]:
    """`openssl s_server` accepting from `min_protocol` up (weak ones need SECLEVEL=0)."""
    binary = shutil.which("openssl")
    require(binary is not None, "the openssl command is not installed")
    assert binary is not None
    port = free_port(host)
    command = [
        binary,
        "s_server",
        "-accept",
        f"{host}:{port}",
        "-cert",
        str(cert),
        "-key",
        str(key),
        "-www",
        "-min_protocol",
        min_protocol,
        "-cipher",
        "DEFAULT@SECLEVEL=0",
    ]
    with running(command, host, port, folder / f"s_server-{min_protocol}.log"):
        yield port


def s_client_accepts(host: str, port: int, flag: str) -> bool:
    """OpenSSL's own verdict: does a handshake limited to `flag` (-tls1, -tls1_2...) complete?"""
    done = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{host}:{port}",
            flag,
            "-cipher",
            "DEFAULT@SECLEVEL=0",
            "-brief",
        ],
        input=b"",
        capture_output=True,
        timeout=20,
    )
    return done.returncode == 0 and b"Protocol version" in done.stderr + done.stdout


def random_password() -> str:
    return secrets.token_urlsafe(18)
