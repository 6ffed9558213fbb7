"""CMS (PKCS #7) detached signatures, as SWUpdate verifies `sw-description.sig`.

Signing uses `cryptography`'s PKCS7 builder (DER, detached, binary). The untrusted
signers the attacks need are made fresh here: a self-signed look-alike of the trusted
signing certificate, and a look-alike chain under a fresh CA, both shipped inside the CMS.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtensionOID

from harness.core.errors import MedsecError

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Signer:
    """A certificate, its private key, and certificates to ship beside it."""

    certificate: x509.Certificate
    key: SigningKey
    extra: tuple[x509.Certificate, ...] = ()

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()


def load_signer(key_file: Path, cert_file: Path) -> Signer:
    """The profile's signing key and certificate (PEM); MedsecError if unusable."""
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise MedsecError(f"cannot load the CMS signing key or certificate: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise MedsecError(f"{key_file}: CMS signing needs an EC or RSA key")
    return Signer(certificate, key)


def sign(data: bytes, signer: Signer) -> bytes:
    """A DER CMS SignedData over `data`, detached, with the signer's certificates inside."""
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data)
    builder = builder.add_signer(signer.certificate, signer.key, hashes.SHA256())
    for certificate in signer.extra:
        builder = builder.add_certificate(certificate)
    return builder.sign(
        serialization.Encoding.DER,
        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
    )


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    like: x509.Certificate | None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if like is not None:
        for oid in (ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE):
            try:
                found = like.extensions.get_extension_for_oid(oid)
            except x509.ExtensionNotFound:
                continue
            builder = builder.add_extension(found.value, critical=found.critical)
    return builder.sign(issuer_key, hashes.SHA256())


def self_signed_lookalike(trusted: x509.Certificate) -> Signer:
    """A fresh key with a self-signed certificate naming the trusted signer's subject."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _certificate(
        trusted.subject, trusted.subject, key.public_key(), key, ca=False, like=trusted
    )
    return Signer(certificate, key)


def chain_lookalike(trusted: x509.Certificate) -> Signer:
    """A fresh CA named like the trusted issuer, and a leaf like the trusted signer under it.

    Both certificates travel inside the CMS: a verifier that builds trust from what the
    package carries accepts it.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(
        trusted.issuer, trusted.issuer, ca_key.public_key(), ca_key, ca=True, like=None
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(
        trusted.subject, trusted.issuer, key.public_key(), ca_key, ca=False, like=trusted
    )
    return Signer(leaf, key, (ca,))
