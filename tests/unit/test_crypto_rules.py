"""Every CRYPTO rule called directly: a compliant input, and one that trips it with the exact
problem text the check's verdict carries."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from harness.config.crypto_policy import load
from harness.core.errors import DeviceTimeout, ProtocolViolation
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import cleartext, ssh_algos, tls_suites
from harness.probes.crypto.attempt import Attempt, AuditStatus, PartialAudit
from harness.probes.crypto.cert_rules import ChainRules, name_problems
from harness.probes.crypto.certs import CertInfo, ChainVerdict
from harness.probes.crypto.tls import TlsVersion
from harness.probes.crypto.tls_audit import AcceptedSuite, Fallback, TlsPosture
from harness.probes.crypto.tls_full import Renegotiation, RenegotiationOutcome
from harness.probes.crypto.tls_wire import INAPPROPRIATE_FALLBACK

STRICT, LEGACY = load("strict"), load("legacy")
NOW = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)


def _accepted(
    name: str,
    version: TlsVersion = TlsVersion.TLS1_2,
    etm: bool = False,
    dh_bits: int | None = None,
) -> AcceptedSuite:
    suite = next(s for s in tls_suites.registry().values() if s.name == name)
    return AcceptedSuite(version, suite, etm, dh_bits)


# --- CRYPTO-002 -----------------------------------------------------------------------------


def test_suite_problems_pass_aead_suites() -> None:
    accepted = [
        _accepted("TLS_AES_128_GCM_SHA256", TlsVersion.TLS1_3),
        _accepted("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    ]
    assert STRICT.tls.suite_problems(accepted) == []


def test_suite_problems_name_version_suite_and_reason() -> None:
    accepted = [
        _accepted("TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        _accepted("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", TlsVersion.TLS1_1),
    ]
    assert STRICT.tls.suite_problems(accepted) == [
        "TLS 1.2 TLS_RSA_WITH_3DES_EDE_CBC_SHA (DES/3DES)",
        "TLS 1.1 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA (CBC mode is not allowed by this policy)",
    ]


def test_suite_problems_cbc_needs_encrypt_then_mac_under_legacy() -> None:
    cbc = "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"
    assert LEGACY.tls.suite_problems([_accepted(cbc, etm=True)]) == []
    assert LEGACY.tls.suite_problems([_accepted(cbc, etm=False)]) == [
        f"TLS 1.2 {cbc} (CBC without Encrypt-then-MAC)"
    ]


# --- CRYPTO-003 -----------------------------------------------------------------------------


def test_key_exchange_problems_pass_ephemeral_suites_and_big_groups() -> None:
    accepted = [
        _accepted("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
        _accepted("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", dh_bits=2048),
    ]
    groups = [tls_suites.named_group(0x001D), tls_suites.named_group(0x0100)]
    assert STRICT.tls.key_exchange_problems(accepted, groups) == []


def test_key_exchange_problems_without_forward_secrecy() -> None:
    accepted = [_accepted("TLS_RSA_WITH_AES_128_GCM_SHA256")]
    assert STRICT.tls.key_exchange_problems(accepted, []) == [
        "TLS 1.2 TLS_RSA_WITH_AES_128_GCM_SHA256 (RSA key exchange)"
    ]
    relaxed = STRICT.tls.model_copy(update={"forward_secrecy": False})
    assert relaxed.key_exchange_problems(accepted, []) == []


def test_key_exchange_problems_small_dh_prime() -> None:
    accepted = [_accepted("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", dh_bits=1024)]
    assert STRICT.tls.key_exchange_problems(accepted, []) == [
        "TLS 1.2 TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 (DH group of 1024 bits)"
    ]


def test_key_exchange_problems_small_ffdhe_group() -> None:
    stricter = STRICT.tls.model_copy(update={"min_dh_bits": 3072})
    groups = [tls_suites.named_group(0x001D), tls_suites.named_group(0x0100)]
    assert stricter.key_exchange_problems([], groups) == ["group ffdhe2048"]


# --- CRYPTO-004 -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cert:
    """The certificate facts the policy reads, without a certificate."""

    key_type: str = "RSA"
    key_bits: int = 2048
    signature_hash: str | None = "sha256"
    index: int = 0
    subject: str = "CN=pump"
    self_signed: bool = False


def test_certificate_problems_pass_strong_keys() -> None:
    chain = [_Cert(), _Cert("EC", 256, "sha384", index=1, subject="CN=ca"), _Cert("Ed25519", 256)]
    assert STRICT.tls.certificate_problems(chain, 2048) == []


@pytest.mark.parametrize(
    ("cert", "problem"),
    [
        (_Cert("RSA", 1024), "#0 CN=pump: RSA-1024 key (< 2048)"),
        (_Cert("EC", 224), "#0 CN=pump: EC-224 key (< 256)"),
        (_Cert("DSA", 2048), "#0 CN=pump: DSA key"),
        (_Cert("other", 0), "#0 CN=pump: other key"),
        (_Cert(signature_hash="sha1"), "#0 CN=pump: signed with SHA1"),
        (_Cert(signature_hash="unsupported"), "#0 CN=pump: signed with UNSUPPORTED"),
    ],
)
def test_certificate_problems_trip(cert: _Cert, problem: str) -> None:
    assert STRICT.tls.certificate_problems([cert], 2048) == [problem]


def test_certificate_problems_take_the_profiles_rsa_minimum() -> None:
    assert STRICT.tls.certificate_problems([_Cert("RSA", 2048)], 3072) == [
        "#0 CN=pump: RSA-2048 key (< 3072)"
    ]


def test_certificate_problems_skip_a_root_sent_along() -> None:
    root = _Cert("RSA", 1024, "sha1", index=1, subject="CN=root", self_signed=True)
    assert STRICT.tls.certificate_problems([_Cert(), root], 2048) == []
    leaf = dataclasses.replace(root, index=0)
    assert len(STRICT.tls.certificate_problems([leaf], 2048)) == 2


# --- CRYPTO-005 and CRYPTO-006 --------------------------------------------------------------


def _info(**changes: Any) -> CertInfo:
    base = CertInfo(
        index=0, subject="CN=pump", issuer="CN=ca", not_before=NOW - dt.timedelta(days=10),
        not_after=NOW + dt.timedelta(days=300), key_type="EC", key_bits=256, curve=None,
        signature_hash="sha256", signature_algorithm="ecdsa-with-SHA256",
        dns_names=("pump.lab",), ip_addresses=("10.0.0.5",), has_san=True, common_name="pump",
        self_signed=False, is_ca=False, sha256="", pem="",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


RULES = ChainRules("ca.pem", allow_self_signed=False, min_days_left=30, now=NOW)
REACHES = ChainVerdict(True, ("CN=pump", "CN=ca (trust anchor)"), ())
BROKEN = ChainVerdict(False, ("CN=pump",), ("no certificate sent or trusted that signed CN=pump",))


def test_trust_problems_pass_a_chain_to_the_anchor() -> None:
    assert RULES.trust_problems(_info(), REACHES) == []


def test_trust_problems_chain_not_reaching_the_anchor() -> None:
    assert RULES.trust_problems(_info(), BROKEN) == [
        "chain does not reach ca.pem: no certificate sent or trusted that signed CN=pump"
    ]


def test_trust_problems_self_signed_leaf_unless_allowed() -> None:
    leaf = _info(self_signed=True)
    assert RULES.trust_problems(leaf, BROKEN) == [
        "self-signed leaf CN=pump (allow_self_signed is false)"
    ]
    allowed = dataclasses.replace(RULES, allow_self_signed=True)
    assert allowed.trust_problems(leaf, BROKEN) == []


def test_validity_problems_pass_certificates_in_their_period() -> None:
    assert RULES.validity_problems([_info(), _info(index=1, subject="CN=ca")]) == []


def test_validity_problems_not_yet_valid_and_expired() -> None:
    early = _info(not_before=dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc))
    late = _info(
        index=1, subject="CN=ca", not_after=dt.datetime(2025, 5, 1, tzinfo=dt.timezone.utc)
    )
    assert RULES.validity_problems([early, late]) == [
        "#0 CN=pump not valid before 2025-07-01",
        "#1 CN=ca expired on 2025-05-01",
    ]


def test_expiry_problems_leaf_expiring_within_the_minimum() -> None:
    assert RULES.expiry_problems(_info()) == []
    soon = _info(not_after=dt.datetime(2025, 6, 20, tzinfo=dt.timezone.utc))
    assert RULES.expiry_problems(soon) == ["leaf expires on 2025-06-20, within 30 days"]
    expired = _info(not_after=dt.datetime(2025, 5, 20, tzinfo=dt.timezone.utc))
    assert RULES.expiry_problems(expired) == []  # the validity rule names that one


def test_chain_problems_in_order_trust_validity_expiry() -> None:
    leaf = _info(not_after=dt.datetime(2025, 6, 20, tzinfo=dt.timezone.utc))
    ca = _info(index=1, subject="CN=ca", not_after=dt.datetime(2025, 5, 1, tzinfo=dt.timezone.utc))
    assert RULES.problems([leaf, ca], BROKEN) == [
        "chain does not reach ca.pem: no certificate sent or trusted that signed CN=pump",
        "#1 CN=ca expired on 2025-05-01",
        "leaf expires on 2025-06-20, within 30 days",
    ]


def test_name_problems() -> None:
    assert name_problems(_info(), "pump.lab") == []
    assert name_problems(_info(), "10.0.0.5") == []
    assert name_problems(_info(), "other.lab") == [
        "subjectAltName ['pump.lab', '10.0.0.5'] does not name other.lab"
    ]
    bare = _info(has_san=False, dns_names=(), ip_addresses=())
    assert name_problems(bare, "pump") == ["leaf has no subjectAltName (CN 'pump' does not count)"]


# --- CRYPTO-007 -----------------------------------------------------------------------------


def _fallback(alert: int | None) -> Fallback:
    return Fallback(TlsVersion.TLS1_2, alert is not None, alert, f"alert {alert}")


def _renegotiation(outcome: RenegotiationOutcome) -> Renegotiation:
    return Renegotiation(outcome, 0xC02F, None, b"", 0.1, "")


def test_protocol_problems_pass_a_hardened_posture() -> None:
    posture = TlsPosture(
        "h", 443, fallback=_fallback(INAPPROPRIATE_FALLBACK),
        renegotiation=_renegotiation(RenegotiationOutcome.REFUSED),
    )  # fmt: skip
    assert posture.fallback is not None
    assert posture.fallback.refused_as_inappropriate_fallback
    assert posture.protocol_problems() == []


def test_protocol_problems_each_weakness() -> None:
    posture = TlsPosture(
        "h", 443, compression_accepted=True, insecure_renegotiation_suites=(0xC02F,),
        renegotiation=_renegotiation(RenegotiationOutcome.ACCEPTED), fallback=_fallback(40),
    )  # fmt: skip
    assert posture.protocol_problems() == [
        "DEFLATE compression accepted",
        "no secure renegotiation indication (RFC 5746) in the ServerHello",
        "client-initiated renegotiation accepted",
        "TLS 1.2 hello with TLS_FALLBACK_SCSV alert 40, not inappropriate_fallback",
    ]


# --- CRYPTO-008 and CRYPTO-009 --------------------------------------------------------------


def test_algorithm_problems() -> None:
    lists = {"kex": ("curve25519-sha256",), "macs": ("hmac-sha2-256-etm@openssh.com",)}
    assert STRICT.ssh.algorithm_problems(lists) == []
    lists = {"kex": ("curve25519-sha256", "diffie-hellman-group1-sha1"), "macs": ("hmac-sha1",)}
    assert STRICT.ssh.algorithm_problems(lists) == [
        "kex diffie-hellman-group1-sha1",
        "macs hmac-sha1",
    ]
    assert LEGACY.ssh.algorithm_problems({"macs": ("hmac-sha1",)}) == []


def _key(key_type: str, bits: int | None) -> ssh_algos.HostKey:
    return ssh_algos.HostKey(key_type, key_type, bits, "SHA256:x", bits is not None)


def test_host_key_problems_pass_strong_keys() -> None:
    keys = [_key("ssh-ed25519", 256), _key("ssh-rsa", 3072), _key("ecdsa-sha2-nistp256", 256)]
    assert STRICT.ssh.host_key_problems(keys) == []


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (_key("ssh-dss", 1024), "DSA host key"),
        (_key("ssh-rsa", 2048), "RSA host key of 2048 bits (< 3072)"),
        (_key("ecdsa-sha2-nistp192", 192), "ECDSA host key of 192 bits"),
    ],
)
def test_host_key_problems_trip(key: ssh_algos.HostKey, problem: str) -> None:
    assert STRICT.ssh.host_key_problems([key]) == [problem]


def test_host_key_problems_unknown_size_is_not_judged() -> None:
    assert STRICT.ssh.host_key_problems([_key("ssh-rsa", None)]) == []


def test_a_host_key_listed_without_a_key_is_noted_not_judged() -> None:
    absent = dataclasses.replace(_key("ssh-dss", None), absent=True, detail="closed")
    served = _key("ssh-ed25519", 256)
    audit = ssh_algos.HostKeyAudit((served, absent), ("publickey",), False, 2)
    assert audit.judged == (served,)
    assert audit.absent == (absent,)
    assert STRICT.ssh.host_key_problems(audit.judged) == []
    assert audit.status is AuditStatus.COMPLETED


def test_dropbears_kex_guess_extension_is_not_an_algorithm() -> None:
    assert ssh_algos.is_pseudo_algorithm("kexguess2@matt.ucc.asn.au")
    assert not ssh_algos.is_pseudo_algorithm("curve25519-sha256")


def test_an_unverifiable_host_key_leaves_the_audit_incomplete() -> None:
    audit = ssh_algos.host_keys(
        Scope.of(["127.0.0.1/32"]), "127.0.0.1", 22, ["x-unknown@example.org"],
        username="u", timeout=1, new_transcript=Transcript,
    )  # fmt: skip
    assert audit.connections == 0
    assert audit.status is AuditStatus.ERROR
    with pytest.raises(ProtocolViolation, match=r"offered but not fetched: x-unknown@example\.org"):
        audit.raise_if_incomplete()


# --- CRYPTO-010 and CRYPTO-011 --------------------------------------------------------------


def _finding(answer: bytes, port: int = 80) -> cleartext.PortFinding:
    return cleartext.PortFinding.of(port, answer)


def test_snmp_is_named_by_its_udp_port() -> None:
    snmp = cleartext.PortFinding(161, cleartext.Speaks.SNMP, "v1 public", b"0", transport="udp")
    assert cleartext.cleartext_problems([snmp], redirect_allowed=False) == [
        "161/udp: snmp (v1 public)"
    ]


def test_cleartext_problems() -> None:
    tls = _finding(b"\x15\x03\x03\x00\x02\x02\x46", 443)
    redirect = _finding(b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n")
    assert cleartext.cleartext_problems([tls, redirect], redirect_allowed=True) == []
    telnet = _finding(b"\xff\xfd\x18", 23)
    assert cleartext.cleartext_problems([redirect, telnet], redirect_allowed=False) == [
        "23/tcp: telnet (telnet option negotiation)",
        "80/tcp: http-redirect-to-https (301 to https://x/) (http_redirect_allowed is false)",
    ]


@pytest.mark.parametrize(
    ("answer", "status", "in_the_clear"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\n", 200, True),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", 400, False),
        (b"HTTP/1.0 505 Version\r\n\r\n", 505, False),
        (b"HTTP/1.1\r\n\r\n", None, True),
        (b"\x15\x03\x03\x00\x02\x02\x46", None, False),
    ],
)
def test_an_http_answer_is_judged_by_its_status(
    answer: bytes, status: int | None, in_the_clear: bool
) -> None:
    finding = _finding(answer)
    assert finding.http_status == status
    assert finding.answers_in_the_clear is in_the_clear


def test_connack_is_typed() -> None:
    accepted, refused = _finding(b"\x20\x02\x00\x00"), _finding(b"\x20\x02\x00\x05")
    assert accepted.connack is cleartext.ConnackCode.ACCEPTED
    assert (refused.connack, refused.detail) == (
        cleartext.ConnackCode.NOT_AUTHORIZED,
        "CONNACK 5 (not authorized)",
    )
    assert refused.answers_in_the_clear  # a CONNACK at all answers a cleartext CONNECT
    reserved = _finding(b"\x20\x02\x00\x07")
    assert (reserved.connack, reserved.detail) == (
        cleartext.ConnackCode.RESERVED,
        "CONNACK 7 (unknown)",
    )
    assert _finding(b"HTTP/1.1 200 OK\r\n\r\n").connack is None


# --- how an audit ends ----------------------------------------------------------------------


def test_an_attempt_has_a_result_or_its_fault() -> None:
    done = Attempt.run(lambda: 42)
    assert (done.status, done.result_or_raise()) == (AuditStatus.COMPLETED, 42)
    fault = DeviceTimeout("h:22", "no answer")

    def stalls() -> int:
        raise fault

    erred = Attempt.run(stalls)
    assert (erred.status, erred.error) == (AuditStatus.ERROR, fault)
    with pytest.raises(DeviceTimeout):
        erred.result_or_raise()


def test_a_partial_audit_raises_its_first_fault_only_when_asked() -> None:
    assert PartialAudit().status is AuditStatus.COMPLETED
    PartialAudit().raise_if_incomplete()
    first, second = DeviceTimeout("h", "one"), DeviceTimeout("h", "two")
    audit = TlsPosture("h", 443, errors=(first, second))
    assert audit.status is AuditStatus.ERROR
    with pytest.raises(DeviceTimeout, match="one"):
        audit.raise_if_incomplete()
