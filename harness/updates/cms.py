"""CMS (PKCS #7) detached signatures, as SWUpdate verifies `sw-description.sig`.

Signing uses `cryptography`'s PKCS7 builder (DER, detached, binary). The untrusted
signers the attacks need are made fresh here: a self-signed look-alike of the trusted
signing certificate, and a look-alike chain under a fresh CA, both shipped inside the CMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtensionOID

from harness.core import certificates
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


def self_signed_lookalike(trusted: x509.Certificate) -> Signer:
    """A fresh key with a self-signed certificate naming the trusted signer's subject."""
    issued = certificates.issue(
        key=certificates.Ec(), subject=trusted.subject, days=365, extensions=_usage(trusted)
    )
    return Signer(issued.certificate, issued.key)


def chain_lookalike(trusted: x509.Certificate) -> Signer:
    """A fresh CA named like the trusted issuer, and a leaf like the trusted signer under it.

    Both certificates travel inside the CMS: a verifier that builds trust from what the
    package carries accepts it.
    """
    ca = certificates.issue(key=certificates.Ec(), subject=trusted.issuer, days=365, ca=True)
    leaf = certificates.issue(
        key=certificates.Ec(),
        subject=trusted.subject,
        issuer=ca,
        days=365,
        extensions=_usage(trusted),
    )
    return Signer(leaf.certificate, leaf.key, (ca.certificate,))


def _usage(trusted: x509.Certificate) -> list[x509.Extension[x509.ExtensionType]]:
    """The trusted certificate's key usage and extended key usage, as it has them."""
    wanted = (ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE)
    return [e for oid in wanted for e in trusted.extensions if e.oid == oid]
