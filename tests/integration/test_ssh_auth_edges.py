"""SSH logins as embedded devices configure them, where a careless client decides wrong.

- OpenSSH with keyboard-interactive only and `MaxAuthTries 3`: a `password` request it
  does not offer still counts as a failure, and on the third it hangs up before the real
  attempt is made. A hang-up without an answer judges no password: the attempt is made
  again on a fresh connection, so default passwords are found, and strong ones are
  refused without an `error`.
- dropbear `-B` with a blank root password: root is let in by method `none`, without
  any password request (a password request for a blank account is refused).
- An SFTP-only account (`ForceCommand internal-sftp`): its shell ends at once, so there
  is no idle session to time out (AUTH-011) and no command runs at all (AUTH-013):
  `error`, not `passed`. OpenSSH's `ChannelTimeout` is the control that passes both.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from harness.reporting.results import Outcome
from tests.integration import daemons, embedded
from tests.integration.embedded import Account, Etc
from tests.integration.verdicts import concurrently, outcomes, reasons, run

PRIVSEP = Account("sshd", None, uid=74)  # OpenSSH's privilege separation user
ROOT_CHECKS = ("--suite", "auth", "--", "-k", "default_credentials_refused_over_ssh or root_login")


@contextlib.contextmanager
def sshd_in(etc: Etc, host: str, folder: Path, config: str) -> Iterator[int]:
    """OpenSSH's sshd in `etc`'s mount namespace (its accounts and PAM), with `config`."""
    folder.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_key = folder / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    port = daemons.free_port(host)
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress {host}\nHostKey {host_key}\nPidFile {folder}/sshd.pid\n"
        f"StrictModes no\nSubsystem sftp internal-sftp\n{config}"
    )
    command = etc.wrap([embedded.program("sshd", "openssh-server"), "-D", "-e"])
    command += ["-f", str(folder / "sshd_config")]
    with embedded.started(command, folder / "sshd.log", embedded.listening(host, port)):
        yield port


def _root_checks(
    tmp_path: Path, prefix: str, targets: dict[str, tuple[str, int]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """AUTH-001 and AUTH-008 against the weak and the strong server at once, as the
    profiled `service` user: (weak run, strong run)."""
    runs = concurrently(
        **{
            name: lambda name=name, host=host, port=port: run(
                tmp_path,
                host,
                f"{prefix}-{name}",
                *ROOT_CHECKS,
                ssh={"host": host, "port": port, "username": "service"},
                policy={"timeout_s": 5},
            )
            for name, (host, port) in targets.items()
        }
    )
    return runs["weak"], runs["strong"]


@pytest.fixture(scope="module")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("keys") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def test_keyboard_interactive_only_with_three_tries_finds_defaults_and_refuses_the_rest(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    weak_host, strong_host = embedded.addresses(loopback_address, 2)
    config = (
        "UsePAM yes\nPasswordAuthentication no\nKbdInteractiveAuthentication yes\n"
        "PermitRootLogin yes\nMaxAuthTries 3\n"
    )
    with ExitStack() as stack:
        ports = {}
        for name, host, service, root in (
            ("weak", weak_host, "password", "12345"),  # both in the built-in list
            ("strong", strong_host, daemons.random_password(), daemons.random_password()),
        ):
            etc = stack.enter_context(
                embedded.private_etc(
                    tmp_path / name,
                    [Account("service", service), Account("root", root, uid=0), PRIVSEP],
                )
            )
            ports[name] = stack.enter_context(sshd_in(etc, host, tmp_path / name, config))
        weak, strong = _root_checks(
            tmp_path,
            "kbd",
            {"weak": (weak_host, ports["weak"]), "strong": (strong_host, ports["strong"])},
        )
    assert outcomes(weak) == {
        "AUTH-001[ssh]": Outcome.FAILED,
        "AUTH-008[ssh]": Outcome.FAILED,
    }, reasons(weak)
    found = weak["checks"]["AUTH-001[ssh]"].reason
    assert "service / pa***" in found, found
    assert "root / 12***" in found, found
    assert outcomes(strong) == {
        "AUTH-001[ssh]": Outcome.PASSED,
        "AUTH-008[ssh]": Outcome.PASSED,
    }, reasons(strong)


def test_dropbear_lets_a_blank_root_in_by_method_none(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    weak_host, strong_host = embedded.addresses(loopback_address, 2)
    keys = tmp_path / "host-keys"
    keys.mkdir()
    with ExitStack() as stack:
        ports = {}
        root_passwords = {"weak": "", "strong": daemons.random_password()}
        for name, host in (("weak", weak_host), ("strong", strong_host)):
            etc = stack.enter_context(
                embedded.private_etc(
                    tmp_path / name,
                    [
                        Account("service", daemons.random_password()),
                        Account("root", root_passwords[name], uid=0),
                    ],
                )
            )
            ports[name] = stack.enter_context(
                embedded.dropbear(
                    host, tmp_path / name, etc, [embedded.dropbear_key(keys, "ed25519")], ["-B"]
                )
            )
        weak, strong = _root_checks(
            tmp_path,
            "blank",
            {"weak": (weak_host, ports["weak"]), "strong": (strong_host, ports["strong"])},
        )
    assert outcomes(weak) == {
        "AUTH-001[ssh]": Outcome.FAILED,
        "AUTH-008[ssh]": Outcome.FAILED,
    }, reasons(weak)
    assert weak["checks"]["AUTH-001[ssh]"].reason.endswith("root / (empty)"), reasons(weak)
    assert "root / (empty)" in weak["checks"]["AUTH-008[ssh]"].reason, reasons(weak)
    assert outcomes(strong) == {
        "AUTH-001[ssh]": Outcome.PASSED,
        "AUTH-008[ssh]": Outcome.PASSED,
    }, reasons(strong)


def test_an_sftp_only_account_has_no_idle_session_and_runs_no_command(
    tmp_path: Path, loopback_address: str, private_network: None, client_key: Path
) -> None:
    sftp_host, timed_host = embedded.addresses(loopback_address, 2)
    common = "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
    configs = {
        "sftp": common + "ForceCommand internal-sftp\n",
        "timed": common + "ChannelTimeout session:*=2s\n",
    }
    hosts = {"sftp": sftp_host, "timed": timed_host}
    with ExitStack() as stack:
        ports = {}
        for name, host in hosts.items():
            etc = stack.enter_context(
                embedded.private_etc(
                    tmp_path / name, [Account("service", daemons.random_password()), PRIVSEP]
                )
            )
            embedded.authorize(etc, "service", client_key.with_suffix(".pub").read_text())
            ports[name] = stack.enter_context(sshd_in(etc, host, tmp_path / name, configs[name]))
        runs = concurrently(
            **{
                name: lambda name=name, host=host: run(
                    tmp_path,
                    host,
                    f"shell-{name}",
                    "--suite",
                    "auth",
                    "--",
                    "-k",
                    "(idle and ssh) or privileged",
                    ssh={
                        "host": host,
                        "port": ports[name],
                        "username": "service",
                        "key_file": str(client_key),
                    },
                    auth={"privileged_commands": ["cat /etc/shadow"]},
                    policy={"timeout_s": 5, "session_idle_timeout_s": 3},
                )
                for name, host in hosts.items()
            }
        )
    sftp, timed = runs["sftp"], runs["timed"]
    assert outcomes(sftp) == {
        "AUTH-011[ssh]": Outcome.ERROR,
        "AUTH-013[ssh]": Outcome.ERROR,
    }, reasons(sftp)
    assert "ended before a shell prompt showed" in sftp["checks"]["AUTH-011[ssh]"].reason
    assert "printed no uid" in sftp["checks"]["AUTH-013[ssh]"].reason
    assert outcomes(timed) == {
        "AUTH-011[ssh]": Outcome.PASSED,
        "AUTH-013[ssh]": Outcome.PASSED,
    }, reasons(timed)
