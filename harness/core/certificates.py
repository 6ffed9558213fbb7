"""X.509 certificates the harness and the emulator make: one builder, every option a keyword.

`issue()` makes a fresh key from a key spec (`Rsa`, `Ec`, `Ed25519`) and a certificate for
it, self-signed or signed by an issuer. Weak signatures are possible on purpose (the
emulator plants them, the TLS-client probe serves bad certificates): `cryptography` no
longer signs certificates with SHA-1 or MD5, so such a certificate is signed with SHA-256
first, the signature algorithm in its to-be-signed part is replaced in the DER, and the
whole is signed again.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey
KeyT = TypeVar("KeyT", bound=PrivateKey, covariant=True)

KeyUsageBit = Literal[
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
]
SignatureHash = Literal["sha256", "sha384", "sha512", "sha1", "md5"]

_STRONG_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# The weak signatures by key family and hash, with their DER AlgorithmIdentifiers:
# ecdsa-with-SHA1 (1.2.840.10045.4.1, no parameters), sha1WithRSAEncryption and
# md5WithRSAEncryption (1.2.840.113549.1.1.5 and .4, NULL parameters). Weak on purpose.
_WEAK_ALGORITHMS: dict[tuple[str, str], tuple[bytes, hashes.HashAlgorithm]] = {
    ("EC", "sha1"): (bytes.fromhex("300906072a8648ce3d0401"), hashes.SHA1()),  # noqa: S303
    ("RSA", "sha1"): (bytes.fromhex("300d06092a864886f70d0101050500"), hashes.SHA1()),  # noqa: S303
    ("RSA", "md5"): (bytes.fromhex("300d06092a864886f70d0101040500"), hashes.MD5()),  # noqa: S303
}


class KeySpec(Protocol[KeyT]):
    """What kind of key to generate."""

    def generate(self) -> KeyT: ...


@dataclass(frozen=True)
class Rsa:
    """An RSA key of `bits` bits, public exponent 65537."""

    bits: int = 2048

    def generate(self) -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(65537, self.bits)


@dataclass(frozen=True)
class Ec:
    """An elliptic-curve key on `curve` (P-256 unless told)."""

    curve: ec.EllipticCurve = field(default_factory=ec.SECP256R1)

    def generate(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(self.curve)


@dataclass(frozen=True)
class Ed25519:
    """An Ed25519 key."""

    def generate(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.generate()


@dataclass(frozen=True)
class Issued(Generic[KeyT]):
    """A certificate and the private key of its subject."""

    certificate: x509.Certificate
    key: KeyT

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS #8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def issue(
    *,
    key: KeySpec[KeyT],
    subject: str | x509.Name,
    issuer: Issued[PrivateKey] | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int | None = None,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    ca: bool = False,
    path_length: int | None = None,
    key_usage: Collection[KeyUsageBit] = (),
    extended_key_usage: Sequence[x509.ObjectIdentifier] = (),
    subject_key_id: bool = False,
    authority_key_id: bool = False,
    extensions: Sequence[x509.Extension[x509.ExtensionType]] = (),
    signature_hash: SignatureHash = "sha256",
    serial: int | None = None,
) -> Issued[KeyT]:
    """A fresh `key` and a certificate for it, signed by `issuer` (None: self-signed).

    `subject` is a common name or a whole name. Validity runs from `not_before` (default:
    a day ago, for clock skew) to `not_after` or `days` from now: give exactly one of the
    two. SANs list the IP addresses, then the DNS names. Basic constraints (critical) are
    always present; key usage (critical) when bits are given, extended key usage
    (non-critical) when purposes are given; key identifiers on request; `extensions` are
    added as they are (to copy them from another certificate). The serial is random unless
    given. An Ed25519 issuer signs without a separate hash, so only the default is allowed.
    """
    own = key.generate()
    signer: PrivateKey = own if issuer is None else issuer.key
    name = subject if isinstance(subject, x509.Name) else _common_name(subject)
    start, end = _validity(not_before, not_after, days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name if issuer is None else issuer.certificate.subject)
        .public_key(own.public_key())
        .serial_number(x509.random_serial_number() if serial is None else serial)
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if ip_addresses or dns_names:
        builder = builder.add_extension(_alt_names(ip_addresses, dns_names), critical=False)
    builder = builder.add_extension(x509.BasicConstraints(ca, path_length), critical=True)
    if key_usage:
        builder = builder.add_extension(_key_usage(key_usage), critical=True)
    if extended_key_usage:
        usage = x509.ExtendedKeyUsage(extended_key_usage)
        builder = builder.add_extension(usage, critical=False)
    if subject_key_id:
        identifier = x509.SubjectKeyIdentifier.from_public_key(own.public_key())
        builder = builder.add_extension(identifier, critical=False)
    if authority_key_id:
        authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key())
        builder = builder.add_extension(authority, critical=False)
    for extension in extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    return Issued(_sign(builder, signer, signature_hash), own)


def _common_name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alt_names(
    ip_addresses: Sequence[str], dns_names: Sequence[str]
) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [
            *(x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses),
            *(x509.DNSName(d) for d in dns_names),
        ]
    )


def _validity(
    not_before: dt.datetime | None, not_after: dt.datetime | None, days: int | None
) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    if not_after is None:
        if days is None:
            raise ValueError("give not_after or days")
        not_after = now + dt.timedelta(days=days)
    elif days is not None:
        raise ValueError("give not_after or days, not both")
    return (now - dt.timedelta(days=1) if not_before is None else not_before), not_after


def _key_usage(bits: Collection[KeyUsageBit]) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature="digital_signature" in bits,
        content_commitment="content_commitment" in bits,
        key_encipherment="key_encipherment" in bits,
        data_encipherment="data_encipherment" in bits,
        key_agreement="key_agreement" in bits,
        key_cert_sign="key_cert_sign" in bits,
        crl_sign="crl_sign" in bits,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(
    builder: x509.CertificateBuilder, signer: PrivateKey, signature_hash: SignatureHash
) -> x509.Certificate:
    if isinstance(signer, Ed25519PrivateKey):
        if signature_hash != "sha256":
            raise ValueError("an Ed25519 issuer signs without a separate hash")
        return builder.sign(signer, None)
    if signature_hash in _STRONG_HASHES:
        return builder.sign(signer, _STRONG_HASHES[signature_hash]())
    family = "EC" if isinstance(signer, ec.EllipticCurvePrivateKey) else "RSA"
    if (family, signature_hash) not in _WEAK_ALGORITHMS:
        raise ValueError(f"X.509 defines no {signature_hash} signature with an {family} key")
    algorithm, digest = _WEAK_ALGORITHMS[family, signature_hash]
    strong = builder.sign(signer, hashes.SHA256())
    return x509.load_der_x509_certificate(_resign(strong, signer, algorithm, digest))


def _resign(
    cert: x509.Certificate,
    signer: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    algorithm: bytes,
    digest: hashes.HashAlgorithm,
) -> bytes:
    """The DER of `cert` with `algorithm` as its signature algorithm, signed again."""
    tbs = cert.tbs_certificate_bytes
    _, start, _ = _tlv(tbs, 0)
    body = tbs[start:]
    at = 0
    parts = []
    for _ in range(3):  # version [0], serialNumber, signature AlgorithmIdentifier
        _, header, length = _tlv(body, at)
        parts.append(body[at : at + header + length])
        at += header + length
    new_body = parts[0] + parts[1] + algorithm + body[at:]
    new_tbs = b"\x30" + _length(len(new_body)) + new_body
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        signature = signer.sign(new_tbs, ec.ECDSA(digest))
    else:
        signature = signer.sign(new_tbs, padding.PKCS1v15(), digest)
    bits = b"\x03" + _length(len(signature) + 1) + b"\x00" + signature
    content = new_tbs + algorithm + bits
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
