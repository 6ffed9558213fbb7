"""The update kit over a real SSH channel: OpenSSH's sshd, SFTP, and a vendor-style installer.

The device is a test account on a loopback sshd. Images are `detached`: a text firmware
file (model, version, hardware) and a raw Ed25519 signature, uploaded by SFTP; the
installer verifies the signature with `openssl pkeyutl`, the hardware revision and (when
hardened) that the version is newer, then records the version that `cat` reports. The
hardened installer passes every UPDATE check; the one without the version comparison
fails exactly UPDATE-005.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.reporting.results import Outcome, RunResults, load
from tests.integration import daemons
from tests.integration.cli import medsec_run

USER = f"medsecupd{os.getpid()}"
RUNNING = "2.0.0"
LABELS = ("hardened", "weak")

INSTALLER = """#!/bin/sh
# A vendor's installer: install.sh IMAGE SIGNATURE
img=$1; sig=$2; state={state}
[ -s "$sig" ] || {{ echo "refused: no signature"; exit 1; }}
openssl pkeyutl -verify -pubin -inkey "$state/trusted.pem" -rawin -in "$img" -sigfile "$sig" \\
    >/dev/null 2>&1 || {{ echo "refused: signature does not verify"; exit 2; }}
version=$(sed -n 's/^version=//p' "$img"); hardware=$(sed -n 's/^hardware=//p' "$img")
[ "$hardware" = "1.0" ] || {{ echo "refused: hardware $hardware"; exit 3; }}
current=$(cat "$state/version")
if [ {check_newer} = yes ]; then
    newest=$(printf '%s\\n%s\\n' "$current" "$version" | sort -V | tail -n 1)
    if [ "$version" = "$current" ] || [ "$newest" != "$version" ]; then
        echo "refused: $version is not newer than $current"; exit 4
    fi
fi
printf '%s\\n' "$version" > "$state/version"
echo "installed $version"
"""


def _device(state: Path, key: Ed25519PrivateKey, *, check_newer: bool) -> None:
    """The device's files, writable by the test account (pytest's tmp_path is root's only)."""
    state.mkdir(mode=0o777)
    state.chmod(0o777)
    (state / "trusted.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (state / "version").write_text(f"{RUNNING}\n")
    (state / "version").chmod(0o666)
    script = INSTALLER.format(state=state, check_newer="yes" if check_newer else "no")
    (state / "install.sh").write_text(script)
    (state / "install.sh").chmod(0o755)


def _profile(folder: Path, state: Path, host: str, port: int, password: str) -> dict[str, Any]:
    return {
        "schema": "medsec/profile/v1",
        "device": {
            "name": "SSH-updated test device",
            "vendor": "medsec-harness tests",
            "model": "ip100",
            "firmware": RUNNING,
            "hardware": "1.0",
        },
        "scope": {"allow": [f"{host}/32"], "destructive": True},
        "network": {
            "host": host,
            "expected_tcp": [port],
            "services": [{"name": "ssh", "port": port, "protocol": "ssh"}],
        },
        "ssh": {"host": host, "port": port, "username": USER, "password": password},
        "update": {
            "channel": "ssh",
            "image_format": "detached",
            "signing_key": str(folder / "signing.pem"),
            "payload": str(folder / "firmware.txt.in"),
            "upload_path": f"{state}/update.img",
            "install_command": f"sh {state}/install.sh {{image}} {{signature}}",
            "version_command": f"cat {state}/version",
            "hardware": "1.0",
            "next_version": "3.0.0",
            "rollback_version": "1.0.0",
            "max_size": 256 * 1024,
            "reboot_timeout_s": 5,
        },
        "policy": {"update_timeout_s": 20, "timeout_s": 10},
    }


@pytest.fixture(scope="module")
def runs(
    private_network: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[int, RunResults]]]:
    daemons.require(shutil.which("openssl") is not None, "the openssl command is not installed")
    base = tmp_path_factory.mktemp("sshupd")
    password = daemons.random_password()
    key = Ed25519PrivateKey.generate()
    (base / "signing.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (base / "firmware.txt.in").write_text(
        "model=ip100\nversion={version}\nhardware={hardware}\n" + "payload line\n" * 200
    )
    host = "127.0.11.2"
    states = {label: Path(f"/tmp/medsec-ssh-{os.getpid()}-{label}") for label in LABELS}
    try:
        with (
            daemons.local_account(USER, password),
            daemons.sshd(host, base / "sshd", password_auth=True, allow=USER) as port,
        ):
            jobs = {}
            for label, state in states.items():
                _device(state, key, check_newer=label == "hardened")
                profile = base / f"{label}.yaml"
                profile.write_text(yaml.safe_dump(_profile(base, state, host, port, password)))
                jobs[label] = (profile, base / label)
            with ThreadPoolExecutor(len(jobs)) as pool:
                codes = list(pool.map(lambda job: _run(*job), jobs.values()))
        yield {
            label: (code, load(out / "results.json"))
            for (label, (_, out)), code in zip(jobs.items(), codes, strict=True)
        }
    finally:
        for state in states.values():
            shutil.rmtree(state, ignore_errors=True)


def _run(profile: Path, out: Path) -> int:
    done = medsec_run(
        profile, out, "--suite", "update", "--allow-destructive", "--quiet", timeout=240
    )
    return done.returncode


def test_the_hardened_installer_over_ssh_passes_every_update_check(runs) -> None:
    code, results = runs["hardened"]
    outcomes = {c.id: c.outcome for c in results.checks}
    assert len(outcomes) == 11
    assert [(c.id, c.reason) for c in results.checks if c.outcome is not Outcome.PASSED] == []
    assert code == 0
    checks = {c.id: c for c in results.checks}
    assert "refused: signature does not verify" in "\n".join(checks["UPDATE-002"].summary)
    assert "SSH authentication refused" in "\n".join(checks["UPDATE-008"].summary)
    assert "ssh" in "\n".join(checks["UPDATE-010"].summary)


def test_an_installer_without_a_version_check_fails_exactly_update_005(runs) -> None:
    code, results = runs["weak"]
    failed = {c.id for c in results.checks if c.outcome is Outcome.FAILED}
    assert failed == {"UPDATE-005"}, [(c.id, c.outcome.value, c.reason) for c in results.checks]
    assert code == 1
