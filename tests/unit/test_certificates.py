"""harness/core/certificates.py: every option of `issue()` shows in the certificate it builds."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, SignatureAlgorithmOID

from harness.core.certificates import Ec, Ed25519, Issued, PrivateKey, Rsa, SignatureHash, issue

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def ca() -> Issued[ec.EllipticCurvePrivateKey]:
    return issue(key=Ec(), subject="test CA", days=30, ca=True, path_length=0)


@pytest.fixture(scope="module")
def rsa_ca() -> Issued[rsa.RSAPrivateKey]:
    return issue(key=Rsa(1024), subject="test RSA CA", days=30, ca=True)


def _extension(
    cert: x509.Certificate, oid: x509.ObjectIdentifier
) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_oid(oid)


def _verify(cert: x509.Certificate, issuer: x509.Certificate, digest: hashes.HashAlgorithm) -> None:
    """Check the signature by hand: `verify_directly_issued_by` refuses SHA-1 and MD5."""
    public = issuer.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(digest))
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), digest)


@pytest.mark.parametrize(
    ("spec", "kind", "size"),
    [
        (Rsa(1024), rsa.RSAPublicKey, 1024),
        (Rsa(), rsa.RSAPublicKey, 2048),
        (Ec(), ec.EllipticCurvePublicKey, 256),
        (Ec(ec.SECP384R1()), ec.EllipticCurvePublicKey, 384),
    ],
)
def test_the_key_spec_decides_type_and_size(spec: Rsa | Ec, kind: type, size: int) -> None:
    issued = issue(key=spec, subject="k", days=1)
    public = issued.certificate.public_key()
    assert isinstance(public, kind)
    assert isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    assert public.key_size == size
    assert issued.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_ed25519_keys_and_ed25519_signatures() -> None:
    issued = issue(key=Ed25519(), subject="ed", days=1)
    assert isinstance(issued.certificate.public_key(), Ed25519PublicKey)
    assert isinstance(issued.key, Ed25519PrivateKey)
    assert issued.certificate.signature_algorithm_oid == SignatureAlgorithmOID.ED25519
    assert issued.certificate.signature_hash_algorithm is None
    issued.certificate.verify_directly_issued_by(issued.certificate)
    with pytest.raises(ValueError, match="Ed25519"):
        issue(key=Ed25519(), subject="ed", days=1, signature_hash="sha1")


def test_a_self_signed_certificate_names_its_subject_as_issuer() -> None:
    issued = issue(key=Ec(), subject="alone", days=1)
    cert = issued.certificate
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alone"
    cert.verify_directly_issued_by(cert)


def test_a_whole_name_is_the_subject_as_given() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Medical"),
            x509.NameAttribute(NameOID.COMMON_NAME, "ip100.local"),
        ]
    )
    assert issue(key=Ec(), subject=name, days=1).certificate.subject == name


def test_an_issuer_names_and_signs_the_certificate(ca: Issued[ec.EllipticCurvePrivateKey]) -> None:
    leaf = issue(key=Rsa(1024), subject="leaf", issuer=ca, days=1).certificate
    assert leaf.issuer == ca.certificate.subject
    leaf.verify_directly_issued_by(ca.certificate)
    assert leaf.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256


def test_validity_from_days_starts_a_day_ago() -> None:
    before = dt.datetime.now(UTC).replace(microsecond=0)
    cert = issue(key=Ec(), subject="d", days=30).certificate
    after = dt.datetime.now(UTC)
    assert before - dt.timedelta(days=1) <= cert.not_valid_before_utc <= after
    assert before + dt.timedelta(days=30) <= cert.not_valid_after_utc <= after + dt.timedelta(30)


def test_validity_from_explicit_dates() -> None:
    start = dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    end = dt.datetime(2021, 6, 7, 8, 9, 10, tzinfo=UTC)
    cert = issue(key=Ec(), subject="d", not_before=start, not_after=end).certificate
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (start, end)


def test_validity_needs_exactly_one_end() -> None:
    with pytest.raises(ValueError, match="not_after or days"):
        issue(key=Ec(), subject="d")
    with pytest.raises(ValueError, match="not both"):
        issue(key=Ec(), subject="d", days=1, not_after=dt.datetime.now(UTC))


def test_sans_list_ip_addresses_then_dns_names() -> None:
    cert = issue(
        key=Ec(),
        subject="s",
        days=1,
        dns_names=["ip100.local", "pump.lab"],
        ip_addresses=["192.0.2.7", "2001:db8::1"],
    ).certificate
    san = _extension(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert not san.critical
    assert isinstance(san.value, x509.SubjectAlternativeName)
    assert list(san.value) == [
        x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.DNSName("ip100.local"),
        x509.DNSName("pump.lab"),
    ]


def test_no_san_without_names() -> None:
    cert = issue(key=Ec(), subject="s", days=1).certificate
    with pytest.raises(x509.ExtensionNotFound):
        _extension(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)


@pytest.mark.parametrize(("ca", "path_length"), [(False, None), (True, None), (True, 0)])
def test_basic_constraints_are_always_there_and_critical(ca: bool, path_length: int | None) -> None:
    cert = issue(key=Ec(), subject="b", days=1, ca=ca, path_length=path_length).certificate
    found = _extension(cert, ExtensionOID.BASIC_CONSTRAINTS)
    assert found.critical
    assert found.value == x509.BasicConstraints(ca=ca, path_length=path_length)


def test_key_usage_sets_exactly_the_bits_given_and_is_critical() -> None:
    cert = issue(key=Ec(), subject="u", days=1, key_usage={"key_cert_sign", "crl_sign"}).certificate
    found = _extension(cert, ExtensionOID.KEY_USAGE)
    assert found.critical
    assert isinstance(found.value, x509.KeyUsage)
    assert found.value.key_cert_sign
    assert found.value.crl_sign
    assert not found.value.digital_signature
    assert not found.value.key_encipherment
    plain = issue(key=Ec(), subject="u", days=1).certificate
    with pytest.raises(x509.ExtensionNotFound):
        _extension(plain, ExtensionOID.KEY_USAGE)


def test_extended_key_usage_is_not_critical() -> None:
    purposes = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    cert = issue(key=Ec(), subject="e", days=1, extended_key_usage=purposes).certificate
    found = _extension(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    assert not found.critical
    assert found.value == x509.ExtendedKeyUsage(purposes)


def test_key_identifiers_on_request(ca: Issued[ec.EllipticCurvePrivateKey]) -> None:
    leaf = issue(
        key=Ec(), subject="i", issuer=ca, days=1, subject_key_id=True, authority_key_id=True
    )
    subject_id = _extension(leaf.certificate, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert subject_id == x509.SubjectKeyIdentifier.from_public_key(leaf.key.public_key())
    authority_id = _extension(leaf.certificate, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    assert authority_id == x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    bare = issue(key=Ec(), subject="i", issuer=ca, days=1).certificate
    for oid in (ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER):
        with pytest.raises(x509.ExtensionNotFound):
            _extension(bare, oid)


def test_extensions_are_copied_with_their_criticality() -> None:
    usage = x509.Extension(
        ExtensionOID.EXTENDED_KEY_USAGE,
        True,
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),
    )
    cert = issue(key=Ec(), subject="c", days=1, extensions=[usage]).certificate
    assert _extension(cert, ExtensionOID.EXTENDED_KEY_USAGE) == usage


def test_a_given_serial_is_kept_and_the_default_is_random() -> None:
    assert issue(key=Ec(), subject="n", days=1, serial=4242).certificate.serial_number == 4242
    first = issue(key=Ec(), subject="n", days=1).certificate.serial_number
    assert first != issue(key=Ec(), subject="n", days=1).certificate.serial_number


@pytest.mark.parametrize(
    ("family", "signature_hash", "digest", "oid"),
    [
        ("EC", "sha384", hashes.SHA384(), SignatureAlgorithmOID.ECDSA_WITH_SHA384),
        ("EC", "sha1", hashes.SHA1(), SignatureAlgorithmOID.ECDSA_WITH_SHA1),  # noqa: S303
        ("RSA", "sha256", hashes.SHA256(), SignatureAlgorithmOID.RSA_WITH_SHA256),
        ("RSA", "sha1", hashes.SHA1(), SignatureAlgorithmOID.RSA_WITH_SHA1),  # noqa: S303
        ("RSA", "md5", hashes.MD5(), SignatureAlgorithmOID.RSA_WITH_MD5),  # noqa: S303
    ],
)
def test_the_issuer_signs_with_the_hash_asked_for(
    ca: Issued[ec.EllipticCurvePrivateKey],
    rsa_ca: Issued[rsa.RSAPrivateKey],
    family: str,
    signature_hash: SignatureHash,
    digest: hashes.HashAlgorithm,
    oid: x509.ObjectIdentifier,
) -> None:
    issuer: Issued[PrivateKey] = ca if family == "EC" else rsa_ca
    leaf = issue(
        key=Rsa(1024),
        subject="h",
        issuer=issuer,
        days=1,
        ip_addresses=["127.0.0.1"],
        signature_hash=signature_hash,
    ).certificate
    assert leaf.signature_algorithm_oid == oid
    assert leaf.signature_hash_algorithm is not None
    assert leaf.signature_hash_algorithm.name == digest.name
    _verify(leaf, issuer.certificate, digest)
    # a re-signed certificate still carries everything it was built with
    assert leaf.issuer == issuer.certificate.subject
    san = _extension(leaf, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert san == x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])


def test_a_self_signed_weak_certificate_verifies_with_its_own_key() -> None:
    cert = issue(key=Rsa(1024), subject="w", days=1, signature_hash="md5").certificate
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_MD5
    _verify(cert, cert, hashes.MD5())  # noqa: S303


def test_md5_with_an_ec_key_does_not_exist(ca: Issued[ec.EllipticCurvePrivateKey]) -> None:
    with pytest.raises(ValueError, match="no md5 signature with an EC key"):
        issue(key=Ec(), subject="m", issuer=ca, days=1, signature_hash="md5")


def test_pem_forms_load_back(ca: Issued[ec.EllipticCurvePrivateKey]) -> None:
    assert x509.load_pem_x509_certificate(ca.certificate_pem) == ca.certificate
    key = serialization.load_pem_private_key(ca.key_pem, None)
    assert b"BEGIN PRIVATE KEY" in ca.key_pem  # PKCS #8, unencrypted
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.private_numbers() == ca.key.private_numbers()


def test_an_issuer_of_any_key_type_is_accepted(ca: Issued[ec.EllipticCurvePrivateKey]) -> None:
    issuer: Issued[PrivateKey] = ca  # an EC issuer is an issuer of any key
    assert issue(key=Ec(), subject="a", issuer=issuer, days=1).certificate.issuer == (
        ca.certificate.subject
    )
