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
    key = (
        rsa.generate_private_key(65537, 1024)  # noqa: S505 - the planted W-06
        if weak
        else ec.generate_private_key(ec.SECP256R1())
    )
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
        .sign(keys.ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    cert_path = workdir / "telemetry-cert.pem"
    if weak:
        cert = x509.load_der_x509_certificate(resign_with_sha1(cert, keys.ca_key))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path = workdir / "telemetry-key.pem"
    write_private(
        key_path,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return TelemetryCert(cert_path, key_path)


# AlgorithmIdentifier ecdsa-with-SHA1 (1.2.840.10045.4.1), no parameters.
ECDSA_WITH_SHA1 = bytes.fromhex("300906072a8648ce3d0401")


def resign_with_sha1(cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The certificate re-signed by `ca_key` with ECDSA over SHA-1 (W-06).

    cryptography no longer signs certificates with SHA-1, so the signature algorithm in
    the to-be-signed part is replaced in the DER and the whole is signed again.
    """
    tbs = cert.tbs_certificate_bytes
    _, start, _ = _tlv(tbs, 0)
    body = tbs[start:]
    at = 0
    parts = []
    for _ in range(3):  # version [0], serialNumber, signature AlgorithmIdentifier
        _, header, length = _tlv(body, at)
        parts.append(body[at : at + header + length])
        at += header + length
    new_body = parts[0] + parts[1] + ECDSA_WITH_SHA1 + body[at:]
    new_tbs = b"\x30" + _length(len(new_body)) + new_body
    signature = ca_key.sign(new_tbs, ec.ECDSA(hashes.SHA1()))  # noqa: S303 - the planted flaw
    bits = b"\x03" + _length(len(signature) + 1) + b"\x00" + signature
    content = new_tbs + ECDSA_WITH_SHA1 + bits
    return b"\x30" + _length(len(content)) + content


def _tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, header length, content length) of the DER element at `at`."""
    first = data[at + 1]
    if first < 0x80:
        return data[at], 2, first
    count = first & 0x7F
    return data[at], 2 + count, int.from_bytes(data[at + 2 : at + 2 + count], "big")


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


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
