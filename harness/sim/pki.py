"""Key material the emulated pump generates at every start: CA, TLS leaf, SSH and update keys.

Everything is EC P-256 or Ed25519, so generation takes milliseconds. Private keys the
harness needs (the `service` account's SSH key, the update signing key) are written to
the work folder with mode 0600; the rest stay in memory except the TLS key, which
`ssl.SSLContext.load_cert_chain` can only read from a file.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.core import certificates

CA_NAME = "Example Medical Test CA"
DEVICE_DNS_NAME = "ip100.local"
ORGANIZATION = "Example Medical"


@dataclass(frozen=True)
class PumpKeys:
    """Paths of the files written to the work folder, and the in-memory keys."""

    ca_path: Path
    tls_cert_path: Path
    tls_key_path: Path
    service_key_path: Path
    signing_key_path: Path
    host_key: paramiko.Ed25519Key
    service_public_key: paramiko.Ed25519Key
    update_public_key: Ed25519PublicKey
    ca_key: ec.EllipticCurvePrivateKey | None = None  # signs further leaves (telemetry)


def generate(workdir: Path, host: str) -> PumpKeys:
    """Create every key and certificate of one pump start in `workdir`."""
    ca = certificates.issue(
        key=certificates.Ec(),
        subject=subject_name(CA_NAME),
        days=3 * 365,
        ca=True,
        path_length=0,
        key_usage={"key_cert_sign", "crl_sign"},
        subject_key_id=True,
    )
    tls = certificates.issue(
        key=certificates.Ec(),
        subject=subject_name(DEVICE_DNS_NAME),
        issuer=ca,
        days=364,
        ip_addresses=[host],
        dns_names=[DEVICE_DNS_NAME],
        key_usage={"digital_signature"},
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        subject_key_id=True,
        authority_key_id=True,
    )
    ca_path = workdir / "ca.pem"
    ca_path.write_bytes(ca.certificate_pem)
    tls_cert_path = workdir / "tls-cert.pem"
    tls_cert_path.write_bytes(tls.certificate_pem)
    tls_key_path = workdir / "tls-key.pem"
    write_private(tls_key_path, tls.key_pem)

    host_key = _paramiko_key(Ed25519PrivateKey.generate())
    service_private = Ed25519PrivateKey.generate()
    service_key_path = workdir / "service_ed25519"
    write_private(service_key_path, _openssh_private(service_private))
    service_public_key = _paramiko_key(service_private)
    (workdir / "service_ed25519.pub").write_text(
        f"{service_public_key.get_name()} {service_public_key.get_base64()} service@ip100\n"
    )

    signing_key = Ed25519PrivateKey.generate()
    signing_key_path = workdir / "signing-key.pem"
    write_private(
        signing_key_path,
        signing_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return PumpKeys(
        ca_path=ca_path,
        tls_cert_path=tls_cert_path,
        tls_key_path=tls_key_path,
        service_key_path=service_key_path,
        signing_key_path=signing_key_path,
        host_key=host_key,
        service_public_key=service_public_key,
        update_public_key=signing_key.public_key(),
        ca_key=ca.key,
    )


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only, even if it existed before."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def _openssh_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )


def _paramiko_key(key: Ed25519PrivateKey) -> paramiko.Ed25519Key:
    return paramiko.Ed25519Key(file_obj=io.StringIO(_openssh_private(key).decode()))


def subject_name(common_name: str) -> x509.Name:
    """The name of a certificate the pump makes: its organisation and `common_name`."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
