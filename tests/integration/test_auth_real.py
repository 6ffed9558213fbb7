"""The AUTH checks against real daemons configured weak and strong, and against faulty devices.

OpenSSH sshd, busybox telnetd and httpd, and busybox `login` on a pty (through socat)
each run once weak and once strong; the checks must follow the configuration. Fake
consoles and SSH servers show the findings no real daemon here can be configured to
make (an echoed password, a key in the boot log, an interruptible bootloader) and the
faults that must end as `error` on time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.results import Outcome, load
from tests.integration import consoles, daemons, fakes

REPO = Path(__file__).resolve().parents[2]
USER = f"medsec{os.getpid()}a"  # unique per test process: sessions share /etc/passwd
WEAK = "medsecweak"  # the "vendor default" of this fake product


def run(tmp_path: Path, host: str, name: str, *args: str, **sections: Any) -> dict[str, Any]:
    """`medsec run` on a profile of `sections`; {check id[target]: record} and the exit code."""
    document = {
        "schema": "medsec/profile/v1",
        "device": {"name": name, "vendor": "real daemon", "model": "loopback", "firmware": "n/a"},
        "scope": {"allow": [f"{host}/32"], "destructive": True},
        **sections,
    }
    profile = tmp_path / f"{name}.yaml"
    profile.write_text(yaml.safe_dump(document, sort_keys=False))
    out = tmp_path / f"run-{name}"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(profile), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    checks = {f"{c.id}[{c.target}]": c for c in load(out / "results.json").checks}
    return {"code": done.returncode, "checks": checks, "out": out, "s": time.monotonic() - started}


def outcomes(result: dict[str, Any]) -> dict[str, Outcome]:
    return {key: check.outcome for key, check in result["checks"].items()}


def reasons(result: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {c.outcome.value}: {c.reason}" for k, c in result["checks"].items())


# --- OpenSSH -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def account() -> Iterator[str]:
    with daemons.local_account(USER, WEAK, crypt="SHA512") as name:
        yield name


@pytest.fixture(scope="module")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    key = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


SSH_CHECKS = (
    "ssh_authentication_methods or root_login or (lockout and ssh) or privileged or (idle and ssh)"
)


@pytest.fixture
def authorized_keys() -> Iterator[Path]:
    """A folder sshd can read as the test user (pytest's own tmp folders are root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="medsec-keys-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_ssh_posture_checks_against_openssh_weak_and_strong(
    tmp_path: Path,
    loopback_address: str,
    private_network: None,
    account: str,
    client_key: Path,
    authorized_keys: Path,
) -> None:
    host = loopback_address
    keys = authorized_keys
    public = client_key.with_suffix(".pub").read_text()
    for user in (account, "root"):
        (keys / f"{user}.keys").write_text(public)
        (keys / f"{user}.keys").chmod(0o644)
    common = {"policy": {"session_idle_timeout_s": 1, "lockout_delay_s": 2}}
    # Weak: password login on, root may log in by key and is the service account, no
    # lockout, no idle timeout.
    with daemons.sshd(
        host,
        tmp_path / "weak",
        password_auth=True,
        allow=f"{account} root",
        permit_root_login="prohibit-password",
        extra=f"AuthorizedKeysFile {keys}/%u.keys\n",
    ) as port:
        weak = run(
            tmp_path,
            host,
            "sshd-weak",
            "--suite",
            "auth",
            "--allow-destructive",
            "--",
            "-k",
            SSH_CHECKS,
            ssh={"host": host, "port": port, "username": "root", "key_file": str(client_key)},
            auth={
                "lockout_account": {"ssh": {"username": account, "password": WEAK}},
                "privileged_commands": ["cat /etc/shadow"],
            },
            **common,
        )
    # Strong: keys only, root refused, sessions end when idle.
    with daemons.sshd(
        host,
        tmp_path / "strong",
        password_auth=False,
        allow=f"{account} root",
        extra=f"AuthorizedKeysFile {keys}/%u.keys\nChannelTimeout session:*=1\n",
    ) as port:
        strong = run(
            tmp_path,
            host,
            "sshd-strong",
            "--suite",
            "auth",
            "--allow-destructive",
            "--",
            "-k",
            SSH_CHECKS,
            ssh={"host": host, "port": port, "username": account, "key_file": str(client_key)},
            auth={"privileged_commands": ["cat /etc/shadow"]},
            **common,
        )
    assert outcomes(weak) == {
        "AUTH-007[ssh]": Outcome.FAILED,  # password offered; strict policy wants publickey only
        "AUTH-008[ssh]": Outcome.FAILED,  # root by the profiled key
        "AUTH-009[ssh]": Outcome.FAILED,  # OpenSSH alone neither locks nor delays
        "AUTH-011[ssh]": Outcome.FAILED,
        "AUTH-013[ssh]": Outcome.FAILED,  # the service account is uid 0
    }, reasons(weak)
    assert "id -u" in " ".join(weak["checks"]["AUTH-008[ssh]"].summary)
    assert outcomes(strong) == {
        "AUTH-007[ssh]": Outcome.PASSED,
        "AUTH-008[ssh]": Outcome.PASSED,
        "AUTH-009[ssh]": Outcome.NOT_APPLICABLE,  # no password account to lock
        "AUTH-011[ssh]": Outcome.PASSED,
        "AUTH-013[ssh]": Outcome.PASSED,
    }, reasons(strong)
    curve = (weak["out"] / "evidence/AUTH-009/ssh/attempts.json").read_text()
    assert '"step": "wrong 6"' in curve
    assert WEAK not in curve


def test_ssh_faults_none_accepted_any_key_and_hang_ups(
    tmp_path: Path, loopback_address: str, private_network: None, client_key: Path
) -> None:
    host = loopback_address
    ssh = {"host": host, "username": "service", "key_file": str(client_key)}
    with (
        fakes.tcp_server(host, fakes.ssh_server(accept_none=True)) as none_port,
        fakes.tcp_server(host, fakes.ssh_server("publickey", accept_any_key=True)) as any_key,
        fakes.tcp_server(host, fakes.ssh_server("password", drop_after_attempt=True)) as drops,
        fakes.tcp_server(host, fakes.ssh_server("publickey,keyboard-interactive")) as kbd,
    ):
        results = {
            name: run(
                tmp_path,
                host,
                name,
                "--suite",
                "auth",
                "--",
                "-k",
                "ssh_authentication_methods or refused_over_ssh",
                ssh={**ssh, "port": port},
                policy={"ssh_auth_methods": ["password"] if name == "drops" else ["publickey"]},
            )
            for name, port in (
                ("none", none_port),
                ("any-key", any_key),
                ("drops", drops),
                ("kbd", kbd),
            )
        }
    assert results["none"]["checks"]["AUTH-007[ssh]"].outcome is Outcome.FAILED
    assert "method none" in results["none"]["checks"]["AUTH-007[ssh]"].reason
    assert results["any-key"]["checks"]["AUTH-007[ssh]"].outcome is Outcome.FAILED
    assert "never seen" in results["any-key"]["checks"]["AUTH-007[ssh]"].reason
    # A server that hangs up after every attempt: each pair on a fresh connection.
    drops = results["drops"]["checks"]
    assert drops["AUTH-001[ssh]"].outcome is Outcome.PASSED, reasons(results["drops"])
    assert drops["AUTH-007[ssh]"].outcome is Outcome.PASSED
    # Password login off, keyboard-interactive on: the defaults are typed at its prompt.
    kbd = results["kbd"]["checks"]["AUTH-001[ssh]"]
    assert kbd.outcome is Outcome.FAILED, reasons(results["kbd"])
    assert "service / se***" in kbd.reason


# --- busybox telnetd -----------------------------------------------------------------------


def _telnetd(folder: Path, host: str, login: str) -> Any:
    busybox = shutil.which("busybox")
    daemons.require(
        busybox is not None, "busybox is not installed (apt-get install busybox-static)"
    )
    assert busybox is not None
    listing = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout
    daemons.require(
        "telnetd" in listing.split(), "this busybox has no telnetd (use busybox-static)"
    )
    folder.mkdir(parents=True, exist_ok=True)
    if login == "login":
        link = folder / "login"  # busybox picks the applet by the name it is started as
        link.symlink_to(busybox)
        login = str(link)
    port = daemons.free_port(host)
    command = [busybox, "telnetd", "-F", "-b", f"{host}:{port}", "-l", login]
    return daemons.running(command, host, port, folder / "telnetd.log")


def test_auth004_against_busybox_telnetd(
    tmp_path: Path, loopback_address: str, private_network: None, account: str
) -> None:
    host = loopback_address
    results = {}
    for name, login, password in (
        ("weak", "login", WEAK),
        ("strong", "login", daemons.random_password()),
        ("no-login", "/bin/sh", WEAK),
    ):
        subprocess.run(
            ["chpasswd", "-c", "SHA512"], input=f"{account}:{password}".encode(), check=True
        )
        with _telnetd(tmp_path / name, host, login) as port:
            results[name] = run(
                tmp_path,
                host,
                f"telnet-{name}",
                "--suite",
                "auth",
                "--",
                "-k",
                "telnet",
                network={
                    "host": host,
                    "expected_tcp": [port],
                    "services": [{"name": "console", "port": port, "protocol": "telnet"}],
                },
                auth={"default_credentials": [{"username": account, "password": WEAK}]},
                policy={"lockout_after_failures": 2, "timeout_s": 8},
            )
    weak = results["weak"]["checks"]["AUTH-004[network]"]
    assert weak.outcome is Outcome.FAILED, reasons(results["weak"])
    assert f"{account} / me***" in weak.reason
    strong = results["strong"]["checks"]["AUTH-004[network]"]
    assert strong.outcome is Outcome.PASSED, reasons(results["strong"])
    no_login = results["no-login"]["checks"]["AUTH-004[network]"]
    assert no_login.outcome is Outcome.FAILED, reasons(results["no-login"])
    assert "(no login)" in no_login.reason


# --- busybox httpd (HTTP Basic) ------------------------------------------------------------


def test_auth003_against_busybox_httpd_basic_auth(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    busybox = shutil.which("busybox")
    daemons.require(busybox is not None, "busybox is not installed")
    assert busybox is not None
    host = loopback_address
    results = {}
    for name, password in (("weak", "admin"), ("strong", daemons.random_password())):
        folder = tmp_path / name
        (folder / "www").mkdir(parents=True)
        (folder / "www" / "index.html").write_text("pump status\n")
        (folder / "httpd.conf").write_text(f"/:admin:{password}\n")
        port = daemons.free_port(host)
        command = [
            busybox, "httpd", "-f", "-p", f"{host}:{port}", "-h", str(folder / "www"),
            "-c", str(folder / "httpd.conf"),
        ]  # fmt: skip
        with daemons.running(command, host, port, folder / "httpd.log"):
            results[name] = run(
                tmp_path,
                host,
                f"httpd-{name}",
                "--suite",
                "auth",
                "--reveal-secrets",
                "--",
                "-k",
                "refused_by_http_api",
                http={
                    "base_url": f"http://{host}:{port}",
                    "login": {"path": "/index.html", "method": "GET", "style": "basic"},
                    "account": {"username": "admin", "password": password},
                },
            )
    weak = results["weak"]["checks"]["AUTH-003[http]"]
    assert weak.outcome is Outcome.FAILED, reasons(results["weak"])
    assert "/ ad***" in weak.reason  # (the profile's password "admin" redacts the name too)
    # --reveal-secrets: the full pair beside the run folder, never inside it.
    revealed = tmp_path / "run-httpd-weak.revealed-secrets.txt"
    assert "AUTH-003\t" in revealed.read_text()
    assert "\tadmin\tadmin\n" in revealed.read_text()
    assert not (tmp_path / "run-httpd-strong.revealed-secrets.txt").exists()
    folder = results["weak"]["out"]
    assert all(b"admin:admin" not in f.read_bytes() for f in folder.rglob("*") if f.is_file())
    assert results["strong"]["checks"]["AUTH-003[http]"].outcome is Outcome.PASSED, reasons(
        results["strong"]
    )


def test_http_endpoint_that_times_out_is_an_error_on_time(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    host = loopback_address
    with fakes.tcp_server(host, fakes.silent) as port:
        result = run(
            tmp_path,
            host,
            "http-hangs",
            "--suite",
            "auth",
            "--",
            "-k",
            "http_api or state_changing",
            http={
                "base_url": f"http://{host}:{port}",
                "account": {"username": "admin", "password": "x" * 16},
                "protected": [{"name": "config", "method": "PUT", "path": "/api/config"}],
            },
            policy={"timeout_s": 1},
        )
    for key in ("AUTH-003[http]", "AUTH-010[http]"):
        check = result["checks"][key]
        assert check.outcome is Outcome.ERROR, reasons(result)
        assert "timed out" in check.reason
        assert check.duration_s < 10
        assert check.evidence
    assert result["code"] == 1


# --- consoles ------------------------------------------------------------------------------

CONSOLE_CHECKS = "requires_login or console_output_free or (idle and serial) or bootloader"


def _console_profile(path: str, username: str, password: str, **serial: Any) -> dict[str, Any]:
    return {
        "serial": {"url": path, "username": username, "password": password, **serial},
        "policy": {"timeout_s": 5, "session_idle_timeout_s": 1},
    }


def test_console_checks_against_a_real_login_and_a_bare_shell(
    tmp_path: Path, loopback_address: str, private_network: None, account: str
) -> None:
    password = daemons.random_password()
    subprocess.run(["chpasswd", "-c", "SHA512"], input=f"{account}:{password}".encode(), check=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    host = loopback_address
    with consoles.real_console(tmp_path / "login", f"{busybox} login") as path:
        login = run(
            tmp_path,
            host,
            "console-login",
            "--suite",
            "auth,surface",
            "--",
            "-k",
            CONSOLE_CHECKS,
            **_console_profile(path, account, password),
        )
    with consoles.real_console(tmp_path / "shell", "/bin/sh -i") as path:
        shell = run(
            tmp_path,
            host,
            "console-shell",
            "--suite",
            "auth",
            "--",
            "-k",
            "requires_login",
            **_console_profile(path, account, password),
        )
    assert outcomes(login) == {
        "AUTH-005[serial]": Outcome.PASSED,
        "AUTH-006[serial]": Outcome.NOT_APPLICABLE,  # no reset command for a login on a pty
        "AUTH-011[serial]": Outcome.FAILED,  # the shell after login never times out
        "SURFACE-008[serial]": Outcome.PASSED,  # login turns echo off for the password
    }, reasons(login)
    assert shell["checks"]["AUTH-005[serial]"].outcome is Outcome.FAILED, reasons(shell)
    assert "Enter at the login prompt" in shell["checks"]["AUTH-005[serial]"].reason


FAKE_CHECKS = "requires_login or console_output_free or bootloader or (lockout and serial)"


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        # A correct console: 1.2 s after each failure is its rate limit (policy: 1 s).
        (consoles.Faults(fail_delay_s=1.2), {}),
        (consoles.Faults(), {"AUTH-009[serial]": "the right one was accepted"}),
        (consoles.Faults(echo_password=True), {"SURFACE-008[serial]": "echoed"}),
        (consoles.Faults(key_in_boot_log=True), {"SURFACE-008[serial]": "private key block"}),
        (
            consoles.Faults(interruptible_bootloader=True),
            {"AUTH-006[serial]": "stopped at its prompt"},
        ),
    ],
    ids=["correct", "no-rate-limit", "echo", "key-in-boot-log", "bootloader"],
)
def test_console_findings_against_a_fake_console(
    tmp_path: Path, loopback_address: str, faults: consoles.Faults, expected: dict[str, str]
) -> None:
    password = daemons.random_password()
    lockout = faults.fail_delay_s > 0 or "AUTH-009[serial]" in expected  # slow: only there
    with consoles.FakeConsole(password, faults) as console:
        result = run(
            tmp_path,
            loopback_address,
            "fake-console",
            "--suite",
            "auth,surface",
            "--allow-destructive",
            "--",
            "-k",
            FAKE_CHECKS if lockout else FAKE_CHECKS.replace(" or (lockout and serial)", ""),
            serial={
                "url": console.path,
                "login_prompt": "login:",
                "username": "tester",
                "password": password,
                "reset_command": "reboot",
                "bootloader": {"name": "U-Boot", "prompt": "=> $", "interrupt": [" "]},
            },
            auth={"lockout_account": {"serial": {"username": "tester", "password": password}}},
            policy={"timeout_s": 3, "lockout_delay_s": 1, "lockout_after_failures": 2},
        )
    failed = {k: c.reason for k, c in result["checks"].items() if c.outcome is Outcome.FAILED}
    assert set(failed) == set(expected), reasons(result)
    for key, words in expected.items():
        assert words in failed[key], failed[key]
    ran = [k for k, c in result["checks"].items() if c.outcome is not Outcome.NOT_APPLICABLE]
    assert {"AUTH-005[serial]", "AUTH-006[serial]", "SURFACE-008[serial]"} <= set(ran)
    errors = [k for k, c in result["checks"].items() if c.outcome is Outcome.ERROR]
    assert not errors, reasons(result)
    if faults.key_in_boot_log:
        text = (result["out"] / "evidence/SURFACE-008/serial/console-output.txt").read_text()
        assert "BEGIN OPENSSH PRIVATE KEY" in text  # the evidence shows what was printed


@pytest.mark.parametrize(
    "faults", [consoles.Faults(flood=True), consoles.Faults(silent=True)], ids=["flood", "silent"]
)
def test_a_flooding_or_silent_console_is_an_error_on_time(
    tmp_path: Path, loopback_address: str, faults: consoles.Faults
) -> None:
    with consoles.FakeConsole("x" * 12, faults) as console:
        started = time.monotonic()
        result = run(
            tmp_path,
            loopback_address,
            "bad-console",
            "--suite",
            "auth,surface",
            "--",
            "-k",
            "requires_login or console_output_free",
            serial={"url": console.path, "login_prompt": "login:"},
            policy={"timeout_s": 1},
        )
        elapsed = time.monotonic() - started
    for key in ("AUTH-005[serial]", "SURFACE-008[serial]"):
        assert result["checks"][key].outcome is Outcome.ERROR, reasons(result)
        assert result["checks"][key].evidence
    assert elapsed < 60
    transcript = result["out"] / "evidence/AUTH-005/serial/console.txt"
    assert transcript.stat().st_size < 3 * 1024 * 1024  # bounded, however much it printed
