"""The checks against real daemons configured weak and strong: OpenSSH sshd, OpenSSL s_server.

The verdict must follow the configuration, and for TLS it must agree with OpenSSL's own
client on every protocol version.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import tls
from harness.reporting.results import Outcome, load
from harness.sim import pki
from tests.integration import daemons
from tests.integration.cli import medsec_run

# Unique per test process: parallel test sessions on one machine share /etc/passwd.
WEAK_USER = f"medsec{os.getpid()}"
WEAK_PASSWORD = "medsecweak"  # the "vendor default" this fake product ships with


def run_check(
    tmp_path: Path, suite: str, host: str, *pytest_args: str, **sections: Any
) -> dict[str, Any]:
    document = {
        "schema": "medsec/profile/v1",
        "device": {
            "name": "real daemon",
            "vendor": "OpenSSH/OpenSSL",
            "model": "loopback",
            "firmware": "n/a",
        },
        "scope": {"allow": [f"{host}/32"]},
        **sections,
    }
    profile = tmp_path / f"{suite}.yaml"
    profile.write_text(yaml.safe_dump(document, sort_keys=False))
    out = tmp_path / f"run-{suite}"
    extra = ["--", *pytest_args] if pytest_args else []
    done = medsec_run(profile, out, "--suite", suite, *extra, timeout=180)
    results = load(out / "results.json")
    return {"code": done.returncode, "checks": results.checks, "stderr": done.stderr}


def _ssh_profile(host: str, port: int) -> dict[str, Any]:
    return {
        "ssh": {"host": host, "port": port, "username": WEAK_USER},
        "auth": {"default_credentials": [{"username": WEAK_USER, "password": WEAK_PASSWORD}]},
    }


@pytest.fixture(scope="module")
def weak_account() -> Any:
    with daemons.local_account(WEAK_USER, WEAK_PASSWORD) as name:
        yield name


@pytest.mark.parametrize(
    ("password_auth", "account_password", "expected"),
    [
        (True, WEAK_PASSWORD, Outcome.FAILED),  # the vendor default works: caught
        (True, None, Outcome.PASSED),  # password login on, but a strong password
        (False, WEAK_PASSWORD, Outcome.PASSED),  # key-only server
    ],
    ids=["weak-default-password", "strong-password", "key-only"],
)
def test_auth001_against_openssh(
    tmp_path: Path,
    loopback_address: str,
    private_network: None,
    weak_account: str,
    password_auth: bool,
    account_password: str | None,
    expected: Outcome,
) -> None:
    password = account_password or daemons.random_password()
    subprocess.run(["chpasswd"], input=f"{weak_account}:{password}".encode(), check=True)
    with daemons.sshd(
        loopback_address, tmp_path / "sshd", password_auth=password_auth, allow=weak_account
    ) as port:
        run = run_check(
            tmp_path,
            "auth",
            loopback_address,
            "-k",
            "default_credentials_refused_over_ssh",
            **_ssh_profile(loopback_address, port),
        )
    check = next(c for c in run["checks"] if c.id == "AUTH-001")
    assert check.outcome is expected, check.reason
    if expected is Outcome.FAILED:
        assert f"{WEAK_USER} / me***" in check.reason
        attempts = (tmp_path / "run-auth" / "evidence/AUTH-001/ssh/attempts.json").read_text()
        assert '"password_shown": "me***"' in attempts
        assert '"password":' not in attempts
    assert run["code"] == (1 if expected is Outcome.FAILED else 0)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> pki.PumpKeys:
    return pki.generate(tmp_path_factory.mktemp("pki"), "127.0.0.1")


@pytest.mark.parametrize(
    ("min_protocol", "expected"),
    [("TLSv1", Outcome.FAILED), ("TLSv1.1", Outcome.FAILED), ("TLSv1.2", Outcome.PASSED)],
)
def test_crypto001_against_openssl_s_server(
    tmp_path: Path,
    loopback_address: str,
    private_network: None,
    certificate: pki.PumpKeys,
    min_protocol: str,
    expected: Outcome,
) -> None:
    with daemons.s_server(
        loopback_address,
        tmp_path,
        certificate.tls_cert_path,
        certificate.tls_key_path,
        min_protocol=min_protocol,
    ) as port:
        run = run_check(
            tmp_path,
            "crypto",
            loopback_address,
            network={
                "host": loopback_address,
                "expected_tcp": [port],
                "services": [{"name": "s_server", "port": port, "protocol": "https"}],
            },
        )
    check = next(c for c in run["checks"] if c.id == "CRYPTO-001")
    assert check.outcome is expected, check.reason


@pytest.mark.parametrize("min_protocol", ["TLSv1", "TLSv1.2", "TLSv1.3"])
def test_tls_probe_agrees_with_openssl_s_client(
    tmp_path: Path,
    loopback_address: str,
    private_network: None,
    certificate: pki.PumpKeys,
    min_protocol: str,
) -> None:
    flags = {
        tls.TlsVersion.TLS1_0: "-tls1",
        tls.TlsVersion.TLS1_1: "-tls1_1",
        tls.TlsVersion.TLS1_2: "-tls1_2",
        tls.TlsVersion.TLS1_3: "-tls1_3",
    }
    scope = Scope.of([f"{loopback_address}/32"])
    with daemons.s_server(
        loopback_address,
        tmp_path,
        certificate.tls_cert_path,
        certificate.tls_key_path,
        min_protocol=min_protocol,
    ) as port:
        for version, flag in flags.items():
            ours = tls.probe_version(
                scope,
                loopback_address,
                port,
                version,
                timeout=5,
                server_name=None,
                transcript=Transcript("t"),
            ).accepted
            assert ours is daemons.s_client_accepts(loopback_address, port, flag), version.label
