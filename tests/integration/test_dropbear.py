"""dropbear, the SSH server of most embedded Linux devices, weak and hardened.

Weak: passwords on, root allowed, the service account is uid 0 with its default
password, an RSA-1024 host key, no idle timeout. Hardened: keys only (`-s`), no root
(`-w`), idle sessions closed (`-I`), an Ed25519 key only. dropbear lists `ssh-rsa` and
`rsa-sha2-256` even without an RSA key and closes a key exchange that picks them:
CRYPTO-009 judges the key it serves and notes the others. Debian's dropbear offers
`hmac-sha1` and `diffie-hellman-group14-sha1` whatever its options, so only the legacy
policy passes its algorithms. Its limit of five unauthenticated connections per address
is the real "login refused although it worked before" that SshTarget.login retries.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from pydantic import SecretStr

from harness.core.errors import DeviceUnreachable
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.reporting.results import Outcome
from harness.transports.ssh import SshTarget
from tests.integration import daemons, embedded
from tests.integration.embedded import Account
from tests.integration.verdicts import concurrently, outcomes, reasons, run

CHECKS = ("--suite", "auth,crypto", "--allow-destructive", "--", "-k", "ssh or privileged")
UNAUTHENTICATED_PER_ADDRESS = 5  # dropbear's MAX_UNAUTH_PER_IP


@pytest.fixture(scope="module")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("keys") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def test_dropbear_weak_and_hardened(
    tmp_path: Path, loopback_address: str, private_network: None, client_key: Path
) -> None:
    weak_host, hardened_host = embedded.addresses(loopback_address, 2)
    keys = tmp_path / "host-keys"
    keys.mkdir()
    common_policy = {"timeout_s": 5, "session_idle_timeout_s": 3, "lockout_delay_s": 2}
    with ExitStack() as stack:
        weak_etc = stack.enter_context(
            embedded.private_etc(
                tmp_path / "weak",
                [Account("service", "service", uid=0), Account("root", "root", uid=0)],
            )
        )
        weak = stack.enter_context(
            embedded.dropbear(
                weak_host,
                tmp_path / "weak",
                weak_etc,
                [embedded.dropbear_key(keys, "ed25519"), embedded.dropbear_key(keys, "rsa", 1024)],
                [],
            )
        )
        hardened_etc = stack.enter_context(
            embedded.private_etc(
                tmp_path / "hardened",
                [
                    Account("service", daemons.random_password()),
                    Account("root", daemons.random_password(), uid=0),
                ],
            )
        )
        embedded.authorize(hardened_etc, "service", client_key.with_suffix(".pub").read_text())
        hardened = stack.enter_context(
            embedded.dropbear(
                hardened_host,
                tmp_path / "hardened",
                hardened_etc,
                [embedded.dropbear_key(keys, "ed25519")],
                ["-s", "-w", "-I", "2"],
            )
        )
        runs = concurrently(
            weak=lambda: run(
                tmp_path,
                weak_host,
                "dropbear-weak",
                *CHECKS,
                ssh={"host": weak_host, "port": weak, "username": "service", "password": "service"},
                auth={
                    "lockout_account": {"ssh": {"username": "service", "password": "service"}},
                    "privileged_commands": ["cat /etc/shadow"],
                },
                policy={**common_policy, "lockout_after_failures": 3},
            ),
            hardened=lambda: run(
                tmp_path,
                hardened_host,
                "dropbear-hardened",
                *CHECKS,
                ssh={
                    "host": hardened_host,
                    "port": hardened,
                    "username": "service",
                    "key_file": str(client_key),
                },
                auth={"privileged_commands": ["cat /etc/shadow"]},
                policy={**common_policy, "ssh_policy": "legacy", "ssh_auth_methods": ["publickey"]},
            ),
        )
    weak_run, hardened_run = runs["weak"], runs["hardened"]
    assert outcomes(weak_run) == {
        "AUTH-001[ssh]": Outcome.FAILED,  # service / service
        "AUTH-007[ssh]": Outcome.FAILED,  # password offered
        "AUTH-008[ssh]": Outcome.FAILED,  # root / root
        "AUTH-009[ssh]": Outcome.FAILED,  # no lockout, no delay
        "AUTH-011[ssh]": Outcome.FAILED,  # no idle timeout
        "AUTH-013[ssh]": Outcome.FAILED,  # the service account is uid 0
        "CRYPTO-008[ssh]": Outcome.FAILED,  # hmac-sha1, group14-sha1, ssh-rsa (strict)
        "CRYPTO-009[ssh]": Outcome.FAILED,  # RSA-1024
    }, reasons(weak_run)
    checks = weak_run["checks"]
    # (the profiled password `service` is also redacted where it names the user)
    assert "/ se***, root / ro***" in checks["AUTH-001[ssh]"].reason
    assert "RSA host key of 1024 bits" in checks["CRYPTO-009[ssh]"].reason
    assert "kexguess2" not in checks["CRYPTO-008[ssh]"].reason  # an extension, not a kex
    assert outcomes(hardened_run) == {
        "AUTH-001[ssh]": Outcome.PASSED,
        "AUTH-007[ssh]": Outcome.PASSED,
        "AUTH-008[ssh]": Outcome.PASSED,
        "AUTH-009[ssh]": Outcome.NOT_APPLICABLE,  # no password to lock
        "AUTH-011[ssh]": Outcome.PASSED,
        "AUTH-013[ssh]": Outcome.PASSED,
        "CRYPTO-008[ssh]": Outcome.PASSED,  # legacy policy
        "CRYPTO-009[ssh]": Outcome.PASSED,
    }, reasons(hardened_run)
    host_keys = hardened_run["checks"]["CRYPTO-009[ssh]"]
    assert "ssh-ed25519 256" in host_keys.reason
    assert "advertised without a key: ssh-rsa" in host_keys.reason


def _session_target(host: str, port: int, password: str) -> SshTarget:
    return SshTarget(Scope.of([f"{host}/32"]), host, port, 5, "service", None, SecretStr(password))


def _hold_unauthenticated(host: str, port: int) -> list[socket.socket]:
    """Connections dropbear counts as unauthenticated until they close (each has its
    banner, so dropbear has forked a child for it and counts it)."""
    held = []
    for _ in range(UNAUTHENTICATED_PER_ADDRESS):
        held.append(_one_unauthenticated(host, port))
    return held


def _one_unauthenticated(host: str, port: int) -> socket.socket:
    """A connection with its banner. dropbear counts a closed connection until it has
    reaped its child, so under load it may still turn the next one away (closed at once):
    that one is made again, a bounded number of times."""
    for _ in range(40):
        sock = socket.create_connection((host, port), timeout=5)
        banner = sock.recv(64)
        if banner:
            assert banner.startswith(b"SSH-"), banner
            return sock
        sock.close()
        time.sleep(0.05)
    raise AssertionError("dropbear turned every connection away for 2 s")


def test_a_login_refused_after_an_earlier_success_is_tried_once_more(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    host = loopback_address
    password = daemons.random_password()
    keys = tmp_path / "host-keys"
    keys.mkdir()
    with (
        embedded.private_etc(tmp_path, [Account("service", password)]) as etc,
        embedded.dropbear(
            host, tmp_path, etc, [embedded.dropbear_key(keys, "ed25519")], []
        ) as port,
    ):
        target = _session_target(host, port, password)
        with pytest.raises(DeviceUnreachable, match="cannot log in") as never:
            _session_target(host, port, "wrong-" + password).login(Transcript("never"))
        assert "first try" not in str(never.value)  # never logged in: no second try
        target.login(Transcript("first")).close()

        held = _hold_unauthenticated(host, port)
        releaser = threading.Timer(1.0, lambda: [s.close() for s in held])
        releaser.start()
        retried = Transcript("retried")
        target.login(retried).close()
        releaser.join()
        events = " ".join(item.note for item in retried.items)
        assert "trying once more" in events
        assert "the second try logged in" in events

        held = _hold_unauthenticated(host, port)
        try:
            with pytest.raises(DeviceUnreachable) as persistent:
                target.login(Transcript("refused"))
        finally:
            for sock in held:
                sock.close()
    message = str(persistent.value)
    assert "cannot log in: no connection" in message
    assert "the first try: no connection" in message
    assert "earlier in this run" in message
