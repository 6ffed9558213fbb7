"""Certificates of the telemetry broker (W-06 makes its key RSA-1024 and its signature SHA-1)
and the cloud CA the pump's uplink client trusts."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.sim.pki import DEVICE_DNS_NAME, ORGANIZATION, PumpKeys, write_private

CLOUD_NAME = "cloud.ip100.example"  # the name the uplink expects its server to prove


@dataclass(frozen=True)
class TelemetryCert:
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class CloudCa:
    cert_path: Path
    key_path: Path


def telemetry_certificate(workdir: Path, keys: PumpKeys, host: str, *, weak: bool) -> TelemetryCert:
    """A broker leaf from the pump CA: EC P-256/SHA-256, or (W-06) RSA-1024/SHA-1.

    Chain, dates and names are equally valid in both, so only key and hash strength differ.
    """
    if keys.ca_key is None:
        raise ValueError("the pump keys carry no CA key")
    ca_cert = x509.load_pem_x509_certificate(keys.ca_path.read_bytes())
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    key = rsa.generate_private_key(65537, 1024) if weak else ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"telemetry.{DEVICE_DNS_NAME}"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=364))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName(DEVICE_DNS_NAME)]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(keys.ca_key.public_key()),
            critical=False,
        )
        .sign(keys.ca_key, hashes.SHA1() if weak else hashes.SHA256())  # noqa: S303 - W-06
    )
    pem = serialization.Encoding.PEM
    cert_path = workdir / "telemetry-cert.pem"
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path = workdir / "telemetry-key.pem"
    write_private(
        key_path,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return TelemetryCert(cert_path, key_path)


def cloud_ca(workdir: Path) -> CloudCa:
    """The test CA the uplink trusts; its key goes into the profile so the harness can
    issue a valid control certificate (CRYPTO-012)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Medical Cloud Test CA")])
    issuer_key: CertificateIssuerPrivateKeyTypes = key
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    cert_path = workdir / "cloud-ca.pem"
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path = workdir / "cloud-ca-key.pem"
    write_private(
        key_path,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return CloudCa(cert_path, key_path)
