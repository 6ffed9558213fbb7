"""The certificate chain a TLS server sends: what each certificate says, and whether the
chain reaches the profile's trust anchor.

The chain is built by hand from the certificates as sent (leaf first) plus the anchors,
each link checked with the issuer's key, so a report can say exactly which link fails.
Key strength, dates and names are read here; `cert_rules` and the crypto policy judge them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

MAX_PATH = 8


class MalformedCertificate(ValueError):
    """A certificate that does not parse as X.509 DER."""


@dataclass(frozen=True)
class CertInfo:
    """One certificate, as the checks judge it."""

    index: int  # position in the chain as sent, 0 = leaf
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str  # RSA, EC, Ed25519, Ed448, DSA, other
    key_bits: int
    curve: str | None
    signature_hash: str | None  # sha256, sha1, md5; None for Ed25519/Ed448
    signature_algorithm: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    has_san: bool
    common_name: str | None
    self_signed: bool
    is_ca: bool
    sha256: str
    pem: str

    def describe(self) -> str:
        curve = f" {self.curve}" if self.curve else ""
        signature = self.signature_hash or self.signature_algorithm
        return (
            f"#{self.index} {self.subject}: {self.key_type}-{self.key_bits}{curve}, "
            f"signed {signature} by {self.issuer}, "
            f"valid {self.not_before:%Y-%m-%d} to {self.not_after:%Y-%m-%d}"
            + (", self-signed" if self.self_signed else "")
        )


def load(ders: Sequence[bytes]) -> tuple[list[x509.Certificate], list[CertInfo]]:
    """Parse every DER certificate; MalformedCertificate names the one that fails."""
    certificates = []
    for index, der in enumerate(ders):
        try:
            certificates.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise MalformedCertificate(
                f"certificate #{index} ({len(der)} bytes, starts {der[:16].hex()}) "
                f"is not valid X.509: {exc}"
            ) from None
    return certificates, [_info(i, c) for i, c in enumerate(certificates)]


def _info(index: int, cert: x509.Certificate) -> CertInfo:
    key_type, bits, curve = _key(cert)
    try:
        hash_algorithm = cert.signature_hash_algorithm
        signature_hash = hash_algorithm.name if hash_algorithm else None
    except UnsupportedAlgorithm:
        signature_hash = "unsupported"
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    has_san = False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        has_san = True
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(a) for a in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return CertInfo(
        index=index,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_bits=bits,
        curve=curve,
        signature_hash=signature_hash,
        signature_algorithm=getattr(cert.signature_algorithm_oid, "_name", "unknown"),
        dns_names=dns,
        ip_addresses=ips,
        has_san=has_san,
        common_name=str(names[0].value) if names else None,
        self_signed=cert.issuer == cert.subject and _signed_by(cert, cert),
        is_ca=ca,
        sha256=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


def _key(cert: x509.Certificate) -> tuple[str, int, str | None]:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return "other", 0, None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    return "other", 0, None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer` signed `cert`, whatever the hash (SHA-1 included: judging the hash
    is CRYPTO-004's job, not the chain's)."""
    if cert.issuer != issuer.subject:
        return False
    try:
        key = issuer.public_key()
        signature, tbs = cert.signature, cert.tbs_certificate_bytes
        parameters = cert.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey):
            assert cert.signature_hash_algorithm is not None
            pad = parameters if isinstance(parameters, padding.PSS) else padding.PKCS1v15()
            key.verify(signature, tbs, pad, cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            assert cert.signature_hash_algorithm is not None
            key.verify(signature, tbs, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, tbs)
        elif isinstance(key, dsa.DSAPublicKey):
            assert cert.signature_hash_algorithm is not None
            key.verify(signature, tbs, cert.signature_hash_algorithm)
        else:
            return False
    except (ValueError, TypeError, AssertionError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def load_anchors(path: Path) -> list[x509.Certificate]:
    """The trust anchors of a PEM file (one or more certificates)."""
    return x509.load_pem_x509_certificates(path.read_bytes())


@dataclass(frozen=True)
class ChainVerdict:
    """Whether the sent chain reaches an anchor, link by link."""

    reaches_anchor: bool
    path: tuple[str, ...]  # subjects from the leaf up, the anchor last
    problems: tuple[str, ...]


def build_path(
    certificates: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]
) -> ChainVerdict:
    """Walk from the leaf through the sent intermediates to an anchor, checking signatures."""
    if not certificates:
        return ChainVerdict(False, (), ("the server sent no certificate",))
    current = certificates[0]
    intermediates = list(certificates[1:])
    path = [current.subject.rfc4514_string()]
    problems: list[str] = []
    for _ in range(MAX_PATH):
        anchor = next((a for a in anchors if _signed_by(current, a)), None)
        if anchor is not None:
            if current is not certificates[0] or current.subject != anchor.subject:
                path.append(f"{anchor.subject.rfc4514_string()} (trust anchor)")
            return ChainVerdict(True, tuple(path), tuple(problems))
        issuer = next(
            (c for c in intermediates if c.subject == current.issuer and _signed_by(current, c)),
            None,
        )
        if issuer is None:
            problems.append(
                f"no certificate sent or trusted that signed {current.subject.rfc4514_string()}"
                f" (issuer {current.issuer.rfc4514_string()})"
            )
            break
        if not _is_ca(issuer):
            problems.append(f"{issuer.subject.rfc4514_string()} signs but is not a CA")
        intermediates.remove(issuer)
        current = issuer
        path.append(current.subject.rfc4514_string())
    return ChainVerdict(False, tuple(path), tuple(problems))


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def names_match(info: CertInfo, wanted: str) -> bool:
    """Whether the SAN names `wanted` (an IP as iPAddress, a name as dNSName, `*.` wildcards
    matching one label); the subject CN never counts."""
    try:
        address = ipaddress.ip_address(wanted.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return str(address) in info.ip_addresses
    host = wanted.lower().rstrip(".")
    for name in info.dns_names:
        pattern = name.lower().rstrip(".")
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host:
            label, rest = host.split(".", 1)
            if label and rest == pattern[2:]:
                return True
    return False
