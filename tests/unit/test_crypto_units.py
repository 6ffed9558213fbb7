"""Crypto building blocks on crafted input: suite classes, policies, KEXINIT, names, MQTT,
cleartext classification, the W-06 SHA-1 re-signing."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.config.crypto_policy import CipherClass, load
from harness.core.errors import MedsecError, ProtocolViolation
from harness.probes.crypto import certs, cleartext, ssh_algos, tls_suites
from harness.sim import pki
from harness.sim.telemetry_pki import telemetry_certificate
from harness.sim.telemetry_service import _credentials


def _by_name(name: str) -> tls_suites.Suite:
    return next(s for s in tls_suites.registry().values() if s.name == name)


@pytest.mark.parametrize(
    ("name", "kind", "forward_secret"),
    [
        ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", CipherClass.AEAD, True),
        ("TLS_RSA_WITH_AES_128_GCM_SHA256", CipherClass.AEAD, False),
        ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", CipherClass.CBC, True),
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", CipherClass.DES, False),
        ("TLS_RSA_WITH_NULL_SHA256", CipherClass.NULL, False),
        ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", CipherClass.RC4, True),
        ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", CipherClass.EXPORT, False),
        ("TLS_AES_128_CCM_8_SHA256", CipherClass.AEAD, True),
        ("TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256", CipherClass.AEAD, True),
    ],
)
def test_suite_classes(name: str, kind: CipherClass, forward_secret: bool) -> None:
    suite = _by_name(name)
    assert suite.cipher_class is kind
    assert suite.forward_secret is forward_secret


def test_anonymous_suites_are_named_as_such() -> None:
    suite = _by_name("TLS_DH_anon_WITH_AES_128_GCM_SHA256")
    assert suite.anonymous
    assert (
        load("legacy").tls.cipher_problem(suite, etm=True) == "anonymous (no server authentication)"
    )


def test_strict_and_legacy_tls_policies() -> None:
    cbc = _by_name("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256")
    strict, legacy = load("strict"), load("legacy")
    assert strict.label == "strict v1"
    assert "CBC" in (strict.tls.cipher_problem(cbc, etm=True) or "")
    assert legacy.tls.cipher_problem(cbc, etm=True) is None
    assert legacy.tls.cipher_problem(cbc, etm=False) == "CBC without Encrypt-then-MAC"
    assert "hmac-sha1" not in strict.ssh.macs
    assert "hmac-sha1" in legacy.ssh.macs
    assert strict.ssh.min_rsa_bits == 3072


def test_policy_files(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    text = (Path(__file__).parents[2] / "harness/config/policies/strict.yaml").read_text()
    mine.write_text(text.replace("name: strict", "name: mine"))
    assert load("mine.yaml", tmp_path).name == "mine"
    (tmp_path / "bad.yaml").write_text("name: bad\nversion: 1\ntls: {}\n")
    with pytest.raises(MedsecError, match="not a valid crypto policy"):
        load(str(tmp_path / "bad.yaml"))
    with pytest.raises(MedsecError, match="neither built in"):
        load("nonexistent")


def _name_list(names: str) -> bytes:
    return struct.pack(">I", len(names)) + names.encode()


def test_kexinit_parse_and_pseudo_algorithms() -> None:
    lists = [
        "curve25519-sha256,ext-info-s,kex-strict-s-v00@openssh.com",
        "ssh-ed25519",
        "aes128-ctr", "aes256-gcm@openssh.com",
        "hmac-sha2-256-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
        "none", "none", "", "",
    ]  # fmt: skip
    payload = bytes([20]) + b"\x00" * 16 + b"".join(_name_list(n) for n in lists) + b"\x00" * 5
    parsed = ssh_algos.parse_kexinit(payload, "t")
    assert parsed.kex == ("curve25519-sha256",)
    assert parsed.pseudo == ("ext-info-s", "kex-strict-s-v00@openssh.com")
    assert parsed.ciphers == ("aes256-gcm@openssh.com", "aes128-ctr")
    with pytest.raises(ProtocolViolation):
        ssh_algos.parse_kexinit(payload[:40], "t")
    with pytest.raises(ProtocolViolation):
        ssh_algos.parse_kexinit(b"\x15" + payload[1:], "t")


def test_subject_alt_name_matching() -> None:
    info = certs.CertInfo(
        0, "CN=x", "CN=ca", dt.datetime.now(), dt.datetime.now(), "EC", 256, None, "sha256",
        "x", ("*.pump.lab", "ip100.local"), ("10.0.0.5",), True, "x", False, False, "", "",
    )  # fmt: skip
    assert certs.names_match(info, "a.pump.lab")
    assert not certs.names_match(info, "a.b.pump.lab")
    assert certs.names_match(info, "IP100.local")
    assert certs.names_match(info, "10.0.0.5")
    assert not certs.names_match(info, "10.0.0.6")
    assert not certs.names_match(info, "x")  # the CN never counts


@pytest.mark.parametrize(
    ("answer", "speaks"),
    [
        (b"\xff\xfd\x18\xff\xfd\x20", cleartext.Speaks.TELNET),
        (b"220 (vsFTPd 3.0.3)\r\n", cleartext.Speaks.FTP),
        (b"220 mail ESMTP Postfix\r\n", cleartext.Speaks.SMTP),
        (b"HTTP/1.1 200 OK\r\n\r\nhi", cleartext.Speaks.HTTP),
        (b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n", cleartext.Speaks.HTTP_REDIRECT),
        (b"\x20\x02\x00\x05", cleartext.Speaks.MQTT),
        (b"SSH-2.0-OpenSSH_9.2\r\n", cleartext.Speaks.SSH),
        (b"\x15\x03\x03\x00\x02\x02\x46", cleartext.Speaks.TLS),
        (b"PMP\x01\x00\x00\x00\x00", cleartext.Speaks.UNKNOWN),
    ],
)
def test_cleartext_classification(answer: bytes, speaks: cleartext.Speaks) -> None:
    assert cleartext.classify(answer)[0] is speaks


def test_mqtt_connect_carries_credentials() -> None:
    packet = cleartext.mqtt_connect("id-1", "telemetry", "secret")
    assert packet[0] == 0x10
    assert packet[1] == len(packet) - 2
    assert _credentials(packet[2:]) == ("telemetry", "secret")
    assert _credentials(cleartext.mqtt_connect("id-2")[2:]) == (None, None)


def test_w06_certificate_is_sha1_rsa1024_and_still_chains(tmp_path: Path) -> None:
    keys = pki.generate(tmp_path, "127.0.0.1")
    weak = telemetry_certificate(tmp_path, keys, "127.0.0.1", weak=True)
    cert = x509.load_pem_x509_certificate(weak.cert_path.read_bytes())
    _, infos = certs.load([cert.public_bytes(serialization.Encoding.DER)])
    assert (infos[0].key_type, infos[0].key_bits, infos[0].signature_hash) == ("RSA", 1024, "sha1")
    verdict = certs.build_path([cert], certs.load_anchors(keys.ca_path))
    assert verdict.reaches_anchor, verdict.problems
