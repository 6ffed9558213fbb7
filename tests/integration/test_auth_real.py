"""The AUTH checks against real daemons configured weak and strong, and against faulty devices.

OpenSSH sshd, busybox httpd, and busybox `login` on a pty (through socat) each run once
weak and once strong; the checks must follow the configuration (busybox telnetd is
`test_busybox_telnetd`'s). Fake
consoles and SSH servers show the findings no real daemon here can be configured to
make (an echoed password, a key in the boot log, an interruptible bootloader) and the
faults that must end as `error` on time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from harness.reporting.results import Outcome
from tests.integration import consoles, daemons, fakes
from tests.integration.verdicts import concurrently, outcomes, reasons, run

USER = f"medsec{os.getpid()}a"  # unique per test process: sessions share /etc/passwd
WEAK = "medsecweak"  # the "vendor default" of this fake product


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
    with (
        # Weak: password login on, root may log in by key and is the service account, no
        # lockout, no idle timeout.
        daemons.sshd(
            host,
            tmp_path / "weak",
            password_auth=True,
            allow=f"{account} root",
            permit_root_login="prohibit-password",
            extra=f"AuthorizedKeysFile {keys}/%u.keys\n",
        ) as weak_port,
        # Strong: keys only, root refused, sessions end when idle.
        daemons.sshd(
            host,
            tmp_path / "strong",
            password_auth=False,
            allow=f"{account} root",
            extra=f"AuthorizedKeysFile {keys}/%u.keys\nChannelTimeout session:*=1\n",
        ) as strong_port,
    ):
        args = ("--suite", "auth", "--allow-destructive", "--", "-k", SSH_CHECKS)
        runs = concurrently(
            weak=lambda: run(
                tmp_path,
                host,
                "sshd-weak",
                *args,
                ssh={
                    "host": host,
                    "port": weak_port,
                    "username": "root",
                    "key_file": str(client_key),
                },
                auth={
                    "lockout_account": {"ssh": {"username": account, "password": WEAK}},
                    "privileged_commands": ["cat /etc/shadow"],
                },
                **common,
            ),
            strong=lambda: run(
                tmp_path,
                host,
                "sshd-strong",
                *args,
                ssh={
                    "host": host,
                    "port": strong_port,
                    "username": account,
                    "key_file": str(client_key),
                },
                auth={"privileged_commands": ["cat /etc/shadow"]},
                **common,
            ),
        )
    weak, strong = runs["weak"], runs["strong"]
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
    args = ("--suite", "auth,surface", "--", "-k")
    with (
        consoles.real_console(tmp_path / "login", f"{busybox} login") as login_path,
        consoles.real_console(tmp_path / "login2", f"{busybox} login") as second_path,
        consoles.real_console(tmp_path / "shell", "/bin/sh -i") as shell_path,
    ):
        # Two login consoles, so the slow key presses and the rest run side by side.
        runs = concurrently(
            keys=lambda: run(
                tmp_path,
                host,
                "console-login",
                *args,
                "requires_login or bootloader",
                **_console_profile(login_path, account, password),
            ),
            rest=lambda: run(
                tmp_path,
                host,
                "console-login2",
                *args,
                "console_output_free or (idle and serial)",
                **_console_profile(second_path, account, password),
            ),
            bare_shell=lambda: run(
                tmp_path,
                host,
                "console-shell",
                *args,
                "requires_login",
                **_console_profile(shell_path, account, password),
            ),
        )
    login = {**runs["keys"], "checks": {**runs["keys"]["checks"], **runs["rest"]["checks"]}}
    shell = runs["bare_shell"]
    assert outcomes(login) == {
        "AUTH-005[serial]": Outcome.PASSED,
        "AUTH-006[serial]": Outcome.NOT_APPLICABLE,  # no reset command for a login on a pty
        "AUTH-011[serial]": Outcome.FAILED,  # the shell after login never times out
        "SURFACE-008[serial]": Outcome.PASSED,  # login turns echo off for the password
    }, reasons(login)
    assert shell["checks"]["AUTH-005[serial]"].outcome is Outcome.FAILED, reasons(shell)
    assert "Enter at the login prompt" in shell["checks"]["AUTH-005[serial]"].reason


FAKE_CHECKS = "requires_login or console_output_free or bootloader or (lockout and serial)"


FAKE_CASES: dict[str, tuple[consoles.Faults, dict[str, str]]] = {
    # A correct console: 1.2 s after each failure is its rate limit (policy: 1 s).
    "correct": (consoles.Faults(fail_delay_s=1.2), {}),
    "no-rate-limit": (consoles.Faults(), {"AUTH-009[serial]": "the right one was accepted"}),
    "echo": (consoles.Faults(echo_password=True), {"SURFACE-008[serial]": "echoed"}),
    "key-in-boot-log": (
        consoles.Faults(key_in_boot_log=True),
        {"SURFACE-008[serial]": "private key block"},
    ),
    "bootloader": (
        consoles.Faults(interruptible_bootloader=True),
        {"AUTH-006[serial]": "stopped at its prompt"},
    ),
}


def _fake_console_run(
    tmp_path: Path, host: str, name: str, console: consoles.FakeConsole, lockout: bool
) -> dict[str, Any]:
    checks = FAKE_CHECKS if lockout else FAKE_CHECKS.replace(" or (lockout and serial)", "")
    account = {"username": "tester", "password": console.password}
    return run(
        tmp_path,
        host,
        f"fake-{name}",
        "--suite",
        "auth,surface",
        "--allow-destructive",
        "--",
        "-k",
        checks,
        serial={
            "url": console.path,
            "login_prompt": "login:",
            **account,
            "reset_command": "reboot",
            "bootloader": {"name": "U-Boot", "prompt": "=> $", "interrupt": [" "]},
        },
        auth={"lockout_account": {"serial": account}},
        policy={"timeout_s": 3, "lockout_delay_s": 1, "lockout_after_failures": 2},
    )


def test_console_findings_against_fake_consoles(tmp_path: Path, loopback_address: str) -> None:
    with ExitStack() as stack:
        fakes_by_name = {
            name: stack.enter_context(consoles.FakeConsole(daemons.random_password(), faults))
            for name, (faults, _) in FAKE_CASES.items()
        }
        results = concurrently(
            **{
                name: (
                    lambda name=name, console=console: _fake_console_run(
                        tmp_path,
                        loopback_address,
                        name,
                        console,
                        console.faults.fail_delay_s > 0 or name == "no-rate-limit",
                    )
                )
                for name, console in fakes_by_name.items()
            }
        )
    for name, (faults, expected) in FAKE_CASES.items():
        result = results[name]
        checks = result["checks"]
        failed = {k: c.reason for k, c in checks.items() if c.outcome is Outcome.FAILED}
        assert set(failed) == set(expected), f"{name}:\n{reasons(result)}"
        for key, words in expected.items():
            assert words in failed[key], failed[key]
        ran = {k for k, c in checks.items() if c.outcome is not Outcome.NOT_APPLICABLE}
        assert {"AUTH-005[serial]", "AUTH-006[serial]", "SURFACE-008[serial]"} <= ran, name
        errors = [k for k, c in checks.items() if c.outcome is Outcome.ERROR]
        assert not errors, f"{name}:\n{reasons(result)}"
        if faults.key_in_boot_log:
            text = (result["out"] / "evidence/SURFACE-008/serial/console-output.txt").read_text()
            assert "BEGIN OPENSSH PRIVATE KEY" in text  # the evidence shows what was printed


def test_a_flooding_or_silent_console_is_an_error_on_time(
    tmp_path: Path, loopback_address: str
) -> None:
    with (
        consoles.FakeConsole("x" * 12, consoles.Faults(flood=True)) as flood,
        consoles.FakeConsole("x" * 12, consoles.Faults(silent=True)) as silent,
    ):
        started = time.monotonic()
        results = concurrently(
            **{
                name: (
                    lambda name=name, console=console: run(
                        tmp_path,
                        loopback_address,
                        f"bad-console-{name}",
                        "--suite",
                        "auth,surface",
                        "--",
                        "-k",
                        "requires_login or console_output_free",
                        serial={"url": console.path, "login_prompt": "login:"},
                        policy={"timeout_s": 1},
                    )
                )
                for name, console in (("flood", flood), ("silent", silent))
            }
        )
        elapsed = time.monotonic() - started
    for name, result in results.items():
        for key in ("AUTH-005[serial]", "SURFACE-008[serial]"):
            assert result["checks"][key].outcome is Outcome.ERROR, f"{name}:\n{reasons(result)}"
            assert result["checks"][key].evidence
        transcript = result["out"] / "evidence/AUTH-005/serial/console.txt"
        assert transcript.stat().st_size < 3 * 1024 * 1024  # bounded, however much it printed
    assert elapsed < 60


def test_a_reboot_proves_neither_an_idle_timeout_nor_a_crash_by_garbage(
    tmp_path: Path, loopback_address: str
) -> None:
    """A console whose idle shell crashes the device ends the session, with a boot log:
    no evidence of an idle timeout (AUTH-011 was `passed`). A console that reboots every
    0.6 s on its own reboots after ROBUST-006's garbage, and just as well with nothing
    typed (ROBUST-006 was `failed`). Both are `error`; the same console without the fault
    fails AUTH-011 (it has no idle timeout) and passes ROBUST-006."""
    faults = {
        "idle-crash": consoles.Faults(reboots_when_idle_s=1.0),
        "crash-loop": consoles.Faults(reboots_every_s=0.6),
        "plain": consoles.Faults(),
    }
    with ExitStack() as stack:
        fake = {
            name: stack.enter_context(consoles.FakeConsole(daemons.random_password(), f))
            for name, f in faults.items()
        }
        results = concurrently(
            **{
                name: (
                    lambda name=name, console=console: run(
                        tmp_path,
                        loopback_address,
                        f"reboots-{name}",
                        "--suite",
                        "auth,robust",
                        "--",
                        "-k",
                        "(idle and serial) or serial_garbage",
                        serial={
                            "url": console.path,
                            "login_prompt": "login:",
                            "username": "tester",
                            "password": console.password,
                        },
                        policy={"timeout_s": 2, "session_idle_timeout_s": 1.5},
                    )
                )
                for name, console in fake.items()
            }
        )
    expected = {
        "idle-crash": {"AUTH-011[serial]": Outcome.ERROR, "ROBUST-006[serial]": Outcome.PASSED},
        "crash-loop": {"AUTH-011[serial]": Outcome.ERROR, "ROBUST-006[serial]": Outcome.ERROR},
        "plain": {"AUTH-011[serial]": Outcome.FAILED, "ROBUST-006[serial]": Outcome.PASSED},
    }
    for name, outcome in expected.items():
        assert outcomes(results[name]) == outcome, f"{name}:\n{reasons(results[name])}"
    idle = results["idle-crash"]["checks"]["AUTH-011[serial]"].reason
    assert "boot log" in idle, idle
    garbage = results["crash-loop"]["checks"]["ROBUST-006[serial]"].reason
    assert "also rebooted with nothing typed" in garbage, garbage


def test_a_console_that_never_asks_a_password_is_judged_at_its_own_pace(
    tmp_path: Path, loopback_address: str
) -> None:
    """`Login incorrect` and `login:` right after the user name: each pair is refused at
    once, not after waiting out the I/O timeout for a password prompt (140 s before)."""
    faults = consoles.Faults(refuse_before_password=True)
    with consoles.FakeConsole("x" * 12, faults) as console:
        result = run(
            tmp_path,
            loopback_address,
            "no-password-prompt",
            "--suite",
            "auth",
            "--",
            "-k",
            "default_credentials_refused_on_serial",
            serial={"url": console.path, "login_prompt": "login:"},
            policy={"timeout_s": 5},
        )
    check = result["checks"]["AUTH-002[serial]"]
    assert check.outcome is Outcome.PASSED, reasons(result)
    assert check.duration_s < 5
    attempts = (result["out"] / "evidence/AUTH-002/serial/attempts.json").read_text()
    assert "before any password prompt" in attempts
