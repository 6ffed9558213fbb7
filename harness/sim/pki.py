"""Key material the emulated pump generates at every start: CA, TLS leaf, SSH and update keys.

Everything is EC P-256 or Ed25519, so generation takes milliseconds. Private keys the
harness needs (the `service` account's SSH key, the update signing key) are written to
the work folder with mode 0600; the rest stay in memory except the TLS key, which
`ssl.SSLContext.load_cert_chain` can only read from a file.
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, now)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    tls_cert = _leaf_certificate(tls_key.public_key(), ca_key, ca_cert, host, now)

    pem = serialization.Encoding.PEM
    ca_path = workdir / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(pem))
    tls_cert_path = workdir / "tls-cert.pem"
    tls_cert_path.write_bytes(tls_cert.public_bytes(pem))
    tls_key_path = workdir / "tls-key.pem"
    write_private(
        tls_key_path,
        tls_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )

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
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
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
        ca_key=ca_key,
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


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = _name(CA_NAME)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf_certificate(
    public: ec.EllipticCurvePublicKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    host: str,
    now: dt.datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(DEVICE_DNS_NAME))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now - dt.timedelta(days=1) + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName(DEVICE_DNS_NAME)]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
