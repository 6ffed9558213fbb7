"""Debian's SWUpdate on loopback, as a device's update agent, for the update kit's tests.

`agent()` makes a test PKI (a CA, a code-signing certificate for CMS, a TLS certificate
for the web server), a `sw-description` template and payload, and starts
`swupdate -k CA -H ip100:1.0 -w "-p HOST:PORT -s ..."` installing through the `rawfile`
handler: `firmware.bin` into a scratch folder, `version.txt` into the web server's
document root (so `GET /version.txt` reports the running version). The hardened agent
also has `-N` and `-R` (no downgrade, no reinstall of the running version) and Digest
authentication on its web server; a weak agent lacks one of the two.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.integration import pki
from tests.integration.daemons import free_port, random_password, require, wait_listening

RUNNING = "2.0.0"
HARDWARE = "1.0"
BOARD = "ip100"
REALM = "medsec-swupdate"
USER = "medsec"

TEMPLATE = """software =
{{
    version = "{{version}}";
    description = "medsec-harness test image";
    hardware-compatibility: [ "{{hardware}}" ];
    files: (
        {{
            filename = "firmware.bin";
            path = "{scratch}/firmware.bin";
            sha256 = "{{sha256:firmware.bin}}";
        }},
        {{
            filename = "version.txt";
            path = "{www}/version.txt";
            sha256 = "{{sha256:version.txt}}";
        }}
    );
}}
"""


@dataclass(frozen=True)
class Agent:
    """A running SWUpdate and what a profile needs to reach it."""

    host: str
    port: int
    folder: Path
    password: str
    floor: bool  # -N and -R: no downgrade, no reinstall of the running version
    auth: bool  # Digest authentication on the web server

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def profile(self) -> dict[str, Any]:
        folder = self.folder
        label = {(True, True): "hardened", (False, True): "no floor", (True, False): "open"}.get(
            (self.floor, self.auth), "weak"
        )
        update: dict[str, Any] = {
            "channel": "swupdate",
            "url": self.url,
            "image_format": "swupdate",
            "signing_key": str(folder / "keys/vendor.key"),
            "signing_cert": str(folder / "keys/vendor.crt"),
            "description_template": str(folder / "swu/sw-description.in"),
            "payload": [str(folder / "swu/firmware.bin"), str(folder / "swu/version.txt.in")],
            "hardware": HARDWARE,
            "foreign_hw_revision": "9.9",
            "next_version": "3.0.0",
            "rollback_version": "1.0.0",
            "version_url": f"{self.url}/version.txt",
            "max_size": 4 * 1024 * 1024,
            "reboot_timeout_s": 10,
        }
        if self.auth:
            update |= {"username": USER, "password": self.password, "auth": "digest"}
        return {
            "schema": "medsec/profile/v1",
            "device": {
                "name": f"SWUpdate test agent ({label})",
                "vendor": "medsec-harness tests",
                "model": BOARD,
                "firmware": RUNNING,
                "hardware": HARDWARE,
            },
            "scope": {"allow": [f"{self.host}/32"], "destructive": True},
            "network": {
                "host": self.host,
                "expected_tcp": [self.port],
                "services": [{"name": "swupdate-web", "port": self.port, "protocol": "https"}],
            },
            "tls": {"ca_file": str(folder / "keys/tls.crt")},
            "update": update,
            "policy": {"update_timeout_s": 30, "timeout_s": 10},
        }


def prepare(folder: Path, host: str, password: str) -> None:
    """Keys, template, payload and the agent's folders."""
    keys = folder / "keys"
    for sub in ("keys", "swu", "www", "scratch", "t"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = pki.certificate("medsec test update CA", ca_key, days=30, ca=True)
    pki.write_certificate(keys / "ca.crt", ca)
    vendor_key = ec.generate_private_key(ec.SECP256R1())
    vendor = pki.certificate(
        "Example Medical update signing",
        vendor_key,
        days=30,
        issuer=pki.Authority(ca, ca_key),
        purpose=ExtendedKeyUsageOID.EMAIL_PROTECTION,  # SWUpdate's default --cert-purpose
    )
    pki.write_key(keys / "vendor.key", vendor_key)
    pki.write_certificate(keys / "vendor.crt", vendor)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    pki.write_key(keys / "tls.key", tls_key)
    pki.write_certificate(keys / "tls.crt", pki.certificate(host, tls_key, days=30, ip=host))
    ha1 = hashlib.md5(f"{USER}:{REALM}:{password}".encode(), usedforsecurity=False).hexdigest()
    (keys / "htdigest").write_text(f"{USER}:{REALM}:{ha1}\n")
    (folder / "swu/sw-description.in").write_text(
        TEMPLATE.format(scratch=folder / "scratch", www=folder / "www")
    )
    (folder / "swu/firmware.bin").write_bytes(
        b"".join(hashlib.sha256(b"ip100 firmware %d" % i).digest() for i in range(2048))
    )
    (folder / "swu/version.txt.in").write_text("{version}\n")
    (folder / "www/version.txt").write_text(f"{RUNNING}\n")


def command(folder: Path, host: str, port: int, *, floor: bool, auth: bool) -> list[str]:
    binary = shutil.which("swupdate") or "/usr/bin/swupdate"
    keys = folder / "keys"
    web = [
        f"-p {host}:{port}",  # without the address it listens on every interface
        f"-r {folder / 'www'}",
        f"-s -C {keys / 'tls.crt'} -K {keys / 'tls.key'}",
    ]
    if auth:
        web.append(f"--auth-domain {REALM} --global-auth-file {keys / 'htdigest'}")
    return [
        binary,
        "-v",
        "-k",
        str(keys / "ca.crt"),
        "-H",
        f"{BOARD}:{HARDWARE}",
        *(["-N", RUNNING, "-R", RUNNING] if floor else []),
        "-w",
        " ".join(web),
    ]


@contextlib.contextmanager
def agent(folder: Path, host: str, *, floor: bool = True, auth: bool = True) -> Iterator[Agent]:
    """A running SWUpdate on `host`; stopped (SIGTERM, then SIGKILL) afterwards."""
    binary = shutil.which("swupdate")
    require(binary is not None, "SWUpdate is not installed (apt-get install swupdate)")
    password = random_password()
    prepare(folder, host, password)
    port = free_port(host)
    # SWUpdate's sockets and scratch files live in TMPDIR: one short folder per agent.
    env = {**os.environ, "TMPDIR": str(folder / "t")}
    log = folder / "swupdate.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command(folder, host, port, floor=floor, auth=auth),
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its web server and helpers are its children
        )
    try:
        wait_listening(host, port, process)
        yield Agent(host, port, folder, password, floor, auth)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop SWUpdate and the helper processes it forked (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, 15)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        process.wait(timeout=5)
