"""Certificates for the tests' own servers and update agent.

Built on `cryptography` directly and apart from `harness/core/certificates.py` on purpose:
these certificates are what the harness's probes are checked against, so a fault in the
harness's builder must not be able to shape them too.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Authority:
    """A CA certificate and its key, to sign others with."""

    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes


def certificate(
    common_name: str,
    key: CertificateIssuerPrivateKeyTypes,
    *,
    days: int,
    issuer: Authority | None = None,
    ca: bool | None = False,
    path_length: int | None = None,
    ip: str | None = None,
    purpose: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    """A SHA-256 certificate for `key` named `common_name`, valid from a day ago for `days`.

    Self-signed without `issuer`. Basic constraints (critical) say `ca`, or are left out
    when it is None; `ip` becomes the only SAN and `purpose` the only extended key usage.
    """
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name if issuer is None else issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca, path_length), critical=True)
    if purpose is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
    if ip is not None:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(key if issuer is None else issuer.key, hashes.SHA256())


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    """`cert` as PEM."""
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def write_key(path: Path, key: CertificateIssuerPrivateKeyTypes) -> None:
    """`key` as unencrypted PKCS #8 PEM."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
