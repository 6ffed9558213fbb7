"""medsec-v1 images: build, parse, verify, and the altered-payload attack."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from harness.updates.builder import synthetic_payload

from harness.updates import attacks, medsec_v1
from harness.updates.versions import newer_than, parse_version

KEY = Ed25519PrivateKey.generate()


def _image(version: str = "2.5.0") -> bytes:
    return medsec_v1.build(
        synthetic_payload(version), version=version, model="IP-100", hardware="1.0", key=KEY
    )


def test_a_built_image_parses_and_verifies() -> None:
    image = medsec_v1.parse(_image())
    assert image.header.version == "2.5.0"
    assert image.signature_valid(KEY.public_key())
    assert image.payload_digest_matches()
    assert not image.signature_valid(Ed25519PrivateKey.generate().public_key())


def test_altered_payload_keeps_the_signature_but_breaks_the_digest() -> None:
    valid = _image()
    attack = attacks.altered_payload(valid)
    image = medsec_v1.parse(attack.data)
    assert len(attack.data) == len(valid)
    assert attack.data != valid
    assert image.signature_valid(KEY.public_key())  # the header is untouched...
    assert not image.payload_digest_matches()  # ...so only a digest check catches it
    assert "XOR 0xFF" in attack.description


@pytest.mark.parametrize("cut", [2, 10, 60, -70, -1])
def test_truncations_are_format_errors(cut: int) -> None:
    with pytest.raises(medsec_v1.ImageFormatError):
        medsec_v1.parse(_image()[:cut])


def test_trailing_bytes_and_bad_magic_are_format_errors() -> None:
    with pytest.raises(medsec_v1.ImageFormatError, match="signature length"):
        medsec_v1.parse(_image() + b"x")
    with pytest.raises(medsec_v1.ImageFormatError, match="magic"):
        medsec_v1.parse(b"XXXX" + _image()[4:])


def test_versions_compare_as_numbers() -> None:
    assert parse_version("2.10.0") > parse_version("2.9.9")
    assert newer_than("2.4.1", "2.5.0") == "2.5.0"
    assert newer_than("2.5.0", "2.5.0") == "2.5.1"
    assert newer_than("3.0", None) == "3.1"
    with pytest.raises(ValueError, match="dotted"):
        parse_version("2.4-beta")
