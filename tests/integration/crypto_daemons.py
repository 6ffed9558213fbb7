"""Real TLS and SSH servers configured weak and strong, and the peer auditors (sslyze,
ssh-audit) that must agree with our probes about them.

The peers live in a venv of their own (their pins clash with ours): `$MEDSEC_PEERS_BIN`,
else `<repo>/.peers/bin` (what `.ci/run` creates), else `/opt/sslyze-venv/bin`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.integration import daemons, pki

REPO = Path(__file__).resolve().parents[2]
TLS13_ALL = (
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
    "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"
)
SSH_KINDS = ("kex", "host_keys", "ciphers", "macs")
SSLYZE_KEYS = {
    0x0300: "ssl_3_0_cipher_suites",
    0x0301: "tls_1_0_cipher_suites",
    0x0302: "tls_1_1_cipher_suites",
    0x0303: "tls_1_2_cipher_suites",
    0x0304: "tls_1_3_cipher_suites",
}


def peer(tool: str) -> str:
    """The path of a peer auditor's CLI; skips (fails in CI) when it is not installed."""
    folders = [os.environ.get("MEDSEC_PEERS_BIN"), str(REPO / ".peers/bin"), "/opt/sslyze-venv/bin"]
    for folder in folders:
        if folder and (Path(folder) / tool).is_file():
            return str(Path(folder) / tool)
    found = shutil.which(tool)
    daemons.require(found is not None, f"{tool} is not installed (see .ci/run: .peers venv)")
    assert found is not None
    return found


@dataclass(frozen=True)
class Pki:
    ca: Path
    rsa_cert: Path
    rsa_key: Path
    ec_cert: Path
    ec_key: Path


def make_pki(folder: Path, host: str) -> Pki:
    """A test CA with an RSA-2048 and an EC P-256 leaf for `host`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = pki.certificate("medsec daemon test CA", ca_key, days=60, ca=True, path_length=0)
    pki.write_certificate(folder / "ca.pem", ca)
    paths = {}
    for label, key in (
        ("rsa", rsa.generate_private_key(65537, 2048)),
        ("ec", ec.generate_private_key(ec.SECP256R1())),
    ):
        leaf = pki.certificate(
            host, key, days=60, issuer=pki.Authority(ca, ca_key), ca=None, ip=host
        )
        pki.write_certificate(folder / f"{label}.pem", leaf)
        pki.write_key(folder / f"{label}.key", key)
        paths[label] = (folder / f"{label}.pem", folder / f"{label}.key")
    return Pki(folder / "ca.pem", *paths["rsa"], *paths["ec"])


TLS_CONFIGS = {
    # Everything OpenSSL 3 still builds: TLS 1.0-1.3, NULL, anonymous, 3DES, CBC, kRSA,
    # client-initiated renegotiation allowed.
    "weak": (
        "rsa",
        ["-min_protocol", "TLSv1", "-cipher", "ALL:eNULL:@SECLEVEL=0",
         "-ciphersuites", TLS13_ALL, "-client_renegotiation"],
    ),
    # What the strict policy wants: TLS 1.2 ECDHE+AEAD and TLS 1.3, no renegotiation.
    "strong": (
        "ec",
        ["-min_protocol", "TLSv1.2", "-cipher", "ECDHE+AESGCM:ECDHE+CHACHA20",
         "-no_renegotiation"],
    ),
}  # fmt: skip


@contextlib.contextmanager
def tls_server(host: str, folder: Path, pki: Pki, config: str) -> Iterator[int]:
    """`openssl s_server` in one of TLS_CONFIGS."""
    binary = shutil.which("openssl")
    daemons.require(binary is not None, "the openssl command is not installed")
    assert binary is not None
    key_kind, options = TLS_CONFIGS[config]
    cert, key = (pki.rsa_cert, pki.rsa_key) if key_kind == "rsa" else (pki.ec_cert, pki.ec_key)
    port = daemons.free_port(host)
    command = [
        binary, "s_server", "-accept", f"{host}:{port}", "-cert", str(cert), "-key", str(key),
        "-www", "-quiet", *options,
    ]  # fmt: skip
    with daemons.running(command, host, port, folder / f"s_server-{config}.log"):
        yield port


SSHD_CONFIGS = {
    "weak": (
        ("rsa", "ed25519"),
        "KexAlgorithms +diffie-hellman-group14-sha1,diffie-hellman-group1-sha1,"
        "diffie-hellman-group-exchange-sha1\n"
        "Ciphers +aes128-cbc,aes256-cbc,3des-cbc\n"
        "MACs +hmac-sha1,hmac-sha1-96,hmac-md5\n"
        "HostKeyAlgorithms +ssh-rsa\n",
    ),
    "strong": (
        ("ed25519",),
        "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,"
        "curve25519-sha256@libssh.org\n"
        "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com\n"
        "MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com\n"
        "HostKeyAlgorithms ssh-ed25519\n",
    ),
}


@contextlib.contextmanager
def ssh_server(host: str, folder: Path, config: str) -> Iterator[int]:
    """OpenSSH sshd with its own host keys and one of SSHD_CONFIGS."""
    binary = shutil.which("sshd") or "/usr/sbin/sshd"
    daemons.require(Path(binary).is_file(), "OpenSSH sshd is not installed")
    daemons.require(os.geteuid() == 0, "sshd needs root to start")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    kinds, algorithms = SSHD_CONFIGS[config]
    lines = []
    for kind in kinds:
        key = folder / f"ssh_host_{kind}_key"
        if not key.exists():
            bits = ["-b", "2048"] if kind == "rsa" else []
            subprocess.run(
                ["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-f", str(key)], check=True
            )
        lines.append(f"HostKey {key}")
    port = daemons.free_port(host)
    conf = folder / "sshd_config"
    conf.write_text(
        f"Port {port}\nListenAddress {host}\n" + "\n".join(lines) + "\n"
        f"PidFile {folder}/sshd.pid\nUsePAM no\nPasswordAuthentication yes\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin no\nStrictModes no\n"
        "AllowUsers nobody-medsec\nLoginGraceTime 20\n" + algorithms
    )
    with daemons.running([binary, "-D", "-e", "-f", str(conf)], host, port, folder / "sshd.log"):
        yield port


def sslyze_suites(host: str, port: int, folder: Path) -> dict[int, set[str]]:
    """sslyze's accepted suites per version (IANA names), from its JSON output."""
    out = folder / f"sslyze-{port}.json"
    subprocess.run(
        [peer("sslyze"), f"--json_out={out}", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2",
         "--tlsv1_3", f"{host}:{port}"],
        capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    result = json.loads(out.read_text())["server_scan_results"][0]["scan_result"]
    return {
        version: {
            s["cipher_suite"]["name"] for s in result[key]["result"]["accepted_cipher_suites"]
        }
        for version, key in SSLYZE_KEYS.items()
    }


def ssh_audit_lists(host: str, port: int) -> dict[str, set[str]]:
    """ssh-audit's view of the server's kex, host-key, cipher and MAC lists."""
    done = subprocess.run(
        [peer("ssh-audit"), "-j", "-p", str(port), host],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    document = json.loads(done.stdout)
    return {
        "kex": {a["algorithm"] for a in document["kex"]},
        "host_keys": {a["algorithm"] for a in document["key"]},
        "ciphers": {a["algorithm"] for a in document["enc"]},
        "macs": {a["algorithm"] for a in document["mac"]},
    }


def openssl_names() -> dict[str, str]:
    """IANA suite name -> OpenSSL name, from the local `openssl ciphers -stdname`."""
    done = subprocess.run(
        ["openssl", "ciphers", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    names = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "-":
            names[parts[0]] = parts[2]
    return names


def s_client_accepts_suite(host: str, port: int, flag: str, openssl_name: str) -> bool:
    """OpenSSL's own verdict on exactly one suite at one version."""
    option = (
        ["-ciphersuites", openssl_name]
        if flag == "-tls1_3"
        else ["-cipher", f"{openssl_name}@SECLEVEL=0"]
    )
    done = subprocess.run(
        ["openssl", "s_client", "-connect", f"{host}:{port}", flag, *option, "-brief"],
        input=b"", capture_output=True, timeout=20, check=False,
    )  # fmt: skip
    return done.returncode == 0 and b"Ciphersuite" in done.stdout + done.stderr


def ssh_client_accepts(host: str, port: int, kind: str, algorithm: str) -> bool:
    """OpenSSH's client decides one algorithm: does a key exchange with exactly it work?"""
    option = {
        "kex": "KexAlgorithms", "host_keys": "HostKeyAlgorithms",
        "ciphers": "Ciphers", "macs": "MACs",
    }[kind]  # fmt: skip
    done = subprocess.run(
        ["ssh", "-o", f"{option}={algorithm}", "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=10", "-p", str(port), f"nobody-medsec@{host}", "true"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    # Past the key exchange the server asks for authentication, which BatchMode refuses.
    return "Permission denied" in done.stderr
