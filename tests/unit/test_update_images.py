"""The image kits: valid images, every attack image, and the emulator's verifier as the oracle."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from harness.sim.firmware import FirmwareState, VerifierFlags
from harness.updates import cpio, detached, medsec_v1, payloads
from harness.updates.attacks import Attack, Unsupported
from harness.updates.detached import DetachedKit
from harness.updates.kit import KitSpec
from harness.updates.medsec_kit import MedsecV1Kit
from harness.updates.swupdate import SwupdateKit
from harness.updates.versions import newer_than, older_than, parse_version
from tests.integration import swupdate_agent

NEGATIVE = [a for a in Attack if a not in (Attack.VALID, Attack.REINSTALL)]


def _pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def medsec_kit(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[MedsecV1Kit, ed25519.Ed25519PrivateKey]:
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path_factory.mktemp("medsec") / "signing.pem"
    path.write_bytes(_pem(key))
    return MedsecV1Kit(KitSpec("IP-100", "1.0", "9.9", 1 << 20, path)), key


def _pump(key: ed25519.Ed25519PrivateKey, *weaknesses: str) -> FirmwareState:
    return FirmwareState(
        version="2.4.1",
        model="IP-100",
        hardware="1.0",
        trusted_key=key.public_key(),
        flags=VerifierFlags.for_weaknesses(set(weaknesses)),
    )


def test_a_medsec_image_parses_verifies_and_stays_compatible(medsec_kit) -> None:
    kit, key = medsec_kit
    image = medsec_v1.parse(kit.build("2.5.0").data)
    assert image.header.version == "2.5.0"
    assert image.signature_valid(key.public_key())
    assert image.payload_digest_matches()
    assert image.embedded_key() is None
    assert b"signer_public_key" not in image.signed_region  # old readers see the old header
    assert not image.signature_valid(ed25519.Ed25519PrivateKey.generate().public_key())


def test_the_embedded_key_field_carries_the_signers_key(medsec_kit) -> None:
    kit, key = medsec_kit
    parsed = medsec_v1.parse(kit.derive(Attack.EMBEDDED_KEY, "2.5.0").data)
    embedded = parsed.embedded_key()
    assert embedded is not None
    assert parsed.signature_valid(embedded)
    assert not parsed.signature_valid(key.public_key())
    assert json.loads(parsed.signed_region[8:])["signer_public_key"]


def _version_for(attack: Attack) -> str:
    return "2.4.0" if attack is Attack.ROLLBACK else "2.5.0"


def test_the_hardened_verifier_refuses_every_attack_and_installs_the_valid_image(
    medsec_kit,
) -> None:
    kit, key = medsec_kit
    for attack in NEGATIVE:
        image = kit.derive(attack, _version_for(attack))
        verdict = _pump(key).verify_and_install(image.data + b"\0" * min(image.filler, 16))
        assert not verdict.accepted, (attack, verdict)
        assert image.description
        assert image.base_sha256 != image.sha256
    assert _pump(key).verify_and_install(kit.derive(Attack.VALID, "2.5.0").data).accepted


@pytest.mark.parametrize(
    ("weakness", "missed"),
    [("W-09", Attack.ALTERED_PAYLOAD), ("W-10", Attack.EMBEDDED_KEY), ("W-11", Attack.ROLLBACK)],
)
def test_each_vulnerable_verifier_misses_exactly_its_attack(medsec_kit, weakness, missed) -> None:
    kit, key = medsec_kit
    accepted = {
        attack
        for attack in NEGATIVE
        if attack is not Attack.OVERSIZED
        and _pump(key, weakness)
        .verify_and_install(kit.derive(attack, _version_for(attack)).data)
        .accepted
    }
    assert accepted == {missed}


def test_attack_images_change_exactly_what_they_say(medsec_kit) -> None:
    kit, key = medsec_kit
    valid = medsec_v1.parse(kit.build("2.5.0").data)
    unsigned = medsec_v1.parse(kit.derive(Attack.UNSIGNED, "2.5.0").data)
    assert unsigned.signature == b""
    assert unsigned.payload == valid.payload
    mixed = medsec_v1.parse(kit.derive(Attack.MIXED_SIGNATURE, "2.5.0").data)
    assert mixed.signed_region == valid.signed_region
    assert mixed.signature != valid.signature
    metadata = medsec_v1.parse(kit.derive(Attack.ALTERED_METADATA, "2.5.0").data)
    assert metadata.header.version == "2.5.1"
    assert metadata.signature == valid.signature
    wrong = medsec_v1.parse(kit.derive(Attack.WRONG_HARDWARE, "2.5.0").data)
    assert wrong.header.hardware == "9.9"
    assert wrong.signature_valid(key.public_key())
    with pytest.raises(medsec_v1.ImageFormatError, match="signature length"):
        medsec_v1.parse(kit.derive(Attack.LENGTH_MISMATCH, "2.5.0").data)
    for cut in (Attack.TRUNCATED_HEADER, Attack.TRUNCATED_PAYLOAD, Attack.TRUNCATED_SIGNATURE):
        with pytest.raises(medsec_v1.ImageFormatError):
            medsec_v1.parse(kit.derive(cut, "2.5.0").data)


def test_the_oversized_image_streams_past_the_limit_without_being_held(medsec_kit) -> None:
    kit, _ = medsec_kit
    image = kit.derive(Attack.OVERSIZED, "2.5.0")
    assert image.size == kit.spec.oversize > kit.spec.max_size
    assert len(image.data) < 100_000  # the filler is produced while sending
    assert sum(len(c) for c in image.chunks()) == image.size
    assert image.sha256 == hashlib.sha256(b"".join(image.chunks())).hexdigest()


@pytest.fixture(scope="module")
def swu_kit(tmp_path_factory: pytest.TempPathFactory) -> tuple[SwupdateKit, Path]:
    folder = tmp_path_factory.mktemp("swu")
    swupdate_agent.prepare(folder, "127.0.0.1", "unused")
    spec = KitSpec(
        "ip100",
        "1.0",
        "9.9",
        1 << 20,
        folder / "keys/vendor.key",
        folder / "keys/vendor.crt",
        folder / "swu/sw-description.in",
        (folder / "swu/firmware.bin", folder / "swu/version.txt.in"),
    )
    return SwupdateKit(spec), folder


def _entries(data: bytes) -> dict[str, bytes]:
    return {e.name: data[e.data_offset : e.end] for e in cpio.parse(data)}


def _openssl_verifies(folder: Path, description: bytes, signature: bytes) -> bool:
    (folder / "d").write_bytes(description)
    (folder / "d.sig").write_bytes(signature)
    done = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(folder / "d.sig"),
            "-content",
            str(folder / "d"),
            "-CAfile",
            str(folder / "keys/ca.crt"),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def test_a_swu_is_cpio_with_the_description_first_and_a_cms_signature(swu_kit) -> None:
    kit, folder = swu_kit
    data = kit.build("3.0.0").data
    assert len(data) % cpio.BLOCK == 0
    entries = _entries(data)
    assert list(entries) == ["sw-description", "sw-description.sig", "firmware.bin", "version.txt"]
    description = entries["sw-description"].decode()
    assert 'version = "3.0.0";' in description
    assert '[ "1.0" ]' in description
    assert "software =\n{" in description
    assert hashlib.sha256(entries["firmware.bin"]).hexdigest() in description
    assert entries["version.txt"] == b"3.0.0\n"
    if shutil.which("openssl"):
        assert _openssl_verifies(folder, entries["sw-description"], entries["sw-description.sig"])


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_swu_signature_attacks_fail_openssls_own_verification(swu_kit) -> None:
    kit, folder = swu_kit
    for attack in (
        Attack.MALFORMED_SIGNATURE,
        Attack.MIXED_SIGNATURE,
        Attack.UNTRUSTED_KEY,
        Attack.EMBEDDED_KEY,
        Attack.ALTERED_METADATA,
    ):
        entries = _entries(kit.derive(attack, "3.0.0").data)
        assert not _openssl_verifies(
            folder, entries["sw-description"], entries["sw-description.sig"]
        ), attack
    assert "sw-description.sig" not in _entries(kit.derive(Attack.UNSIGNED, "3.0.0").data)
    with pytest.raises(Unsupported, match="model"):
        kit.derive(Attack.WRONG_MODEL, "3.0.0")
    with pytest.raises(cpio.CpioError):
        cpio.parse(kit.derive(Attack.LENGTH_MISMATCH, "3.0.0").data)


def test_templates_fill_only_their_three_fields() -> None:
    text = 'a = { v = "{version}"; h = "{hardware}"; s = "{sha256:f.bin}"; x = "{other}"; };'
    out = payloads.render(text, version="1.2", hardware="r1", digests={"f.bin": "ab"})
    assert out == 'a = { v = "1.2"; h = "r1"; s = "ab"; x = "{other}"; };'
    with pytest.raises(ValueError, match="names no payload file"):
        payloads.render("{sha256:nope}", version="1", hardware="1", digests={"f.bin": "ab"})
    with pytest.raises(ValueError, match="only allowed"):
        payloads.render("{sha256:f.bin}", version="1", hardware="1")


@pytest.mark.parametrize(
    "key",
    [
        ed25519.Ed25519PrivateKey.generate(),
        ec.generate_private_key(ec.SECP256R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ],
    ids=["ed25519", "ecdsa", "rsa-pss"],
)
def test_detached_images_sign_with_each_key_kind(key, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(_pem(key))
    kit = DetachedKit(KitSpec("X", "1.0", "9.9", 1 << 16, path))
    valid = kit.build("1.1.0")
    assert valid.signature
    assert detached.verify(valid.data, valid.signature, key.public_key())
    for attack in (
        Attack.MALFORMED_SIGNATURE,
        Attack.MIXED_SIGNATURE,
        Attack.ALTERED_PAYLOAD,
        Attack.UNTRUSTED_KEY,
        Attack.TRUNCATED_SIGNATURE,
        Attack.WRONG_HARDWARE,
    ):
        image = kit.derive(attack, "1.1.0")
        ok = image.signature is not None and detached.verify(
            image.data, image.signature, key.public_key()
        )
        assert ok is (attack is Attack.WRONG_HARDWARE), attack  # validly signed, wrong device
    assert kit.derive(Attack.UNSIGNED, "1.1.0").signature is None
    with pytest.raises(Unsupported):
        kit.derive(Attack.EMBEDDED_KEY, "1.1.0")


def test_versions_compare_as_numbers() -> None:
    assert parse_version("2.10.0") > parse_version("2.9.9")
    assert newer_than("2.4.1", "2.5.0") == "2.5.0"
    assert newer_than("2.5.0", "2.5.0") == "2.5.1"
    assert older_than("2.4.1", "1.0.0") == "1.0.0"
    assert older_than("2.4.0", "2.4.0") == "2.3.0"
    assert older_than("3.0.0", None) == "2.0.0"
    with pytest.raises(ValueError, match="dotted"):
        parse_version("2.4-beta")
