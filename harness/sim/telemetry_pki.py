"""Certificates of the telemetry broker (W-06 makes its key RSA-1024 and its signature SHA-1)
and the cloud CA the pump's uplink client trusts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness.core import certificates
from harness.sim.pki import DEVICE_DNS_NAME, PumpKeys, subject_name, write_private

CLOUD_NAME = "cloud.ip100.example"  # the name the uplink expects its server to prove


@dataclass(frozen=True)
class CertificateFiles:
    """Where a certificate (PEM) and its private key (PKCS #8 PEM, mode 0600) were written."""

    cert_path: Path
    key_path: Path


def telemetry_certificate(
    workdir: Path, keys: PumpKeys, host: str, *, weak: bool
) -> CertificateFiles:
    """A broker leaf from the pump CA: EC P-256/SHA-256, or (W-06) RSA-1024/SHA-1.

    Chain, dates and names are equally valid in both, so only key and hash strength differ.
    """
    if keys.ca_key is None:
        raise ValueError("the pump keys carry no CA key")
    ca = certificates.Issued(x509.load_pem_x509_certificate(keys.ca_path.read_bytes()), keys.ca_key)
    key: certificates.KeySpec[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]
    key = certificates.Rsa(1024) if weak else certificates.Ec()  # RSA-1024: the planted W-06
    leaf = certificates.issue(
        key=key,
        subject=subject_name(f"telemetry.{DEVICE_DNS_NAME}"),
        issuer=ca,
        days=364,
        ip_addresses=[host],
        dns_names=[DEVICE_DNS_NAME],
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        authority_key_id=True,
        signature_hash="sha1" if weak else "sha256",
    )
    return _write(leaf, workdir / "telemetry-cert.pem", workdir / "telemetry-key.pem")


def cloud_ca(workdir: Path) -> CertificateFiles:
    """The test CA the uplink trusts; its key goes into the profile so the harness can
    issue a valid control certificate (CRYPTO-012)."""
    ca = certificates.issue(
        key=certificates.Ec(),
        subject="Example Medical Cloud Test CA",
        days=3 * 365,
        ca=True,
        path_length=0,
    )
    return _write(ca, workdir / "cloud-ca.pem", workdir / "cloud-ca-key.pem")


def _write(
    issued: certificates.Issued[certificates.PrivateKey], cert_path: Path, key_path: Path
) -> CertificateFiles:
    cert_path.write_bytes(issued.certificate_pem)
    write_private(key_path, issued.key_pem)
    return CertificateFiles(cert_path, key_path)
