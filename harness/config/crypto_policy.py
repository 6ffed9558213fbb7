"""Crypto policies: what the CRYPTO checks accept, as versioned data.

Two are built in (`harness/config/policies/strict.yaml`, `legacy.yaml`); a profile names one of
them, or a YAML file of the same shape, in `policy.ssh_policy` (SSH part) and
`policy.tls_ciphers` (TLS part). Every verdict names the policy and its version.

The rules judge what the probes found through the small protocols below (the probes'
dataclasses satisfy them structurally), so this layer never imports a probe. Each rule
returns the problems it finds as text, in the words of the check's verdict.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.core.errors import MedsecError

BUILT_IN = ("strict", "legacy")


class CipherClass(str, enum.Enum):
    """How a suite's bulk encryption is judged (the probe classifies, the policy judges)."""

    AEAD = "aead"
    CBC = "cbc"
    NULL = "null"
    EXPORT = "export"
    RC4 = "rc4"
    DES = "des"  # single DES and 3DES
    OTHER = "other"  # RC2, IDEA, GOST stream ciphers, ...


_NEVER_ACCEPTABLE = {
    CipherClass.NULL: "NULL cipher",
    CipherClass.EXPORT: "EXPORT grade",
    CipherClass.RC4: "RC4",
    CipherClass.DES: "DES/3DES",
}


class SuiteFacts(Protocol):
    """A cipher suite as its IANA name describes it."""

    @property
    def name(self) -> str: ...
    @property
    def key_exchange(self) -> str: ...
    @property
    def cipher(self) -> str: ...
    @property
    def cipher_class(self) -> CipherClass: ...
    @property
    def anonymous(self) -> bool: ...
    @property
    def forward_secret(self) -> bool: ...
    @property
    def finite_field_dh(self) -> bool: ...


class Labelled(Protocol):
    """Anything with a display label, such as a protocol version."""

    @property
    def label(self) -> str: ...


class AcceptedSuiteFacts(Protocol):
    """A suite a server accepted at one protocol version, with what its handshake showed."""

    @property
    def version(self) -> Labelled: ...
    @property
    def suite(self) -> SuiteFacts: ...
    @property
    def encrypt_then_mac(self) -> bool: ...
    @property
    def dh_bits(self) -> int | None: ...


class GroupFacts(Protocol):
    """A key-exchange group a server accepted; `ffdhe_bits` for a finite-field one."""

    @property
    def name(self) -> str: ...
    @property
    def ffdhe_bits(self) -> int | None: ...


class CertificateFacts(Protocol):
    """One certificate of a chain as sent (index 0 is the leaf)."""

    @property
    def index(self) -> int: ...
    @property
    def subject(self) -> str: ...
    @property
    def key_type(self) -> str: ...
    @property
    def key_bits(self) -> int: ...
    @property
    def signature_hash(self) -> str | None: ...
    @property
    def self_signed(self) -> bool: ...


class HostKeyFacts(Protocol):
    """One SSH host key; `bits` None when it could not be read."""

    @property
    def key_type(self) -> str: ...
    @property
    def bits(self) -> int | None: ...


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TlsPolicy(_Model):
    """Which TLS suites and certificate algorithms are acceptable."""

    cipher_classes: frozenset[Literal["aead", "cbc"]]
    cbc_requires_etm: bool = True
    forward_secrecy: bool = True
    min_dh_bits: int = Field(default=2048, ge=1024)
    min_ec_bits: int = Field(default=256, ge=160)
    forbidden_signature_hashes: frozenset[str] = frozenset({"md5", "sha1"})

    def cipher_problem(self, suite: SuiteFacts, etm: bool) -> str | None:
        """Why this suite's bulk cipher is not acceptable, or None."""
        kind = suite.cipher_class
        if suite.anonymous:
            return "anonymous (no server authentication)"
        if kind in _NEVER_ACCEPTABLE:
            return _NEVER_ACCEPTABLE[kind]
        if kind is CipherClass.OTHER:
            return f"cipher {suite.cipher} is not acceptable"
        if kind.value not in self.cipher_classes:
            return f"{kind.value.upper()} mode is not allowed by this policy"
        if kind is CipherClass.CBC and self.cbc_requires_etm and not etm:
            return "CBC without Encrypt-then-MAC"
        return None

    def suite_problems(self, accepted: Iterable[AcceptedSuiteFacts]) -> list[str]:
        """CRYPTO-002: every accepted suite whose bulk cipher this policy forbids."""
        problems = []
        for entry in accepted:
            problem = self.cipher_problem(entry.suite, entry.encrypt_then_mac)
            if problem:
                problems.append(f"{entry.version.label} {entry.suite.name} ({problem})")
        return problems

    def key_exchange_problems(
        self, accepted: Iterable[AcceptedSuiteFacts], groups: Iterable[GroupFacts]
    ) -> list[str]:
        """CRYPTO-003: suites without forward secrecy, DH primes and FFDHE groups too small."""
        problems = []
        for entry in accepted:
            suite, where = entry.suite, f"{entry.version.label} {entry.suite.name}"
            if self.forward_secrecy and not suite.forward_secret:
                problems.append(f"{where} ({suite.key_exchange} key exchange)")
            bits = entry.dh_bits
            if suite.finite_field_dh and bits is not None and bits < self.min_dh_bits:
                problems.append(f"{where} (DH group of {bits} bits)")
        problems += [
            f"group {group.name}"
            for group in groups
            if group.ffdhe_bits is not None and group.ffdhe_bits < self.min_dh_bits
        ]
        return problems

    def certificate_problems(
        self, certificates: Iterable[CertificateFacts], min_rsa_bits: int
    ) -> list[str]:
        """CRYPTO-004: keys and signature hashes too weak (`min_rsa_bits` is the profile's).

        A self-signed certificate past the leaf is a root sent along: its own signature
        is not relied on, so it is not judged."""
        problems = []
        for cert in certificates:
            if cert.self_signed and cert.index > 0:
                continue
            where = f"#{cert.index} {cert.subject}"
            if cert.key_type == "RSA" and cert.key_bits < min_rsa_bits:
                problems.append(f"{where}: RSA-{cert.key_bits} key (< {min_rsa_bits})")
            elif cert.key_type == "EC" and cert.key_bits < self.min_ec_bits:
                problems.append(f"{where}: EC-{cert.key_bits} key (< {self.min_ec_bits})")
            elif cert.key_type in ("DSA", "other"):
                problems.append(f"{where}: {cert.key_type} key")
            signed = cert.signature_hash
            if signed is not None and (
                signed in self.forbidden_signature_hashes or signed == "unsupported"
            ):
                problems.append(f"{where}: signed with {signed.upper()}")
        return problems


class SshPolicy(_Model):
    """Allow-lists per KEXINIT list, and host-key sizes."""

    kex: frozenset[str]
    host_keys: frozenset[str]
    ciphers: frozenset[str]
    macs: frozenset[str]
    compression: frozenset[str]
    min_rsa_bits: int = Field(ge=1024)
    min_ecdsa_bits: int = 256
    allow_dsa: bool = False

    def allowed(self, kind: str) -> frozenset[str]:
        allowed: frozenset[str] = getattr(self, kind)
        return allowed

    def algorithm_problems(self, lists: Mapping[str, Sequence[str]]) -> list[str]:
        """CRYPTO-008: every offered algorithm outside its list's allow-list, as `kind name`."""
        return [
            f"{kind} {name}"
            for kind, names in lists.items()
            for name in names
            if name not in self.allowed(kind)
        ]

    def host_key_problems(self, keys: Iterable[HostKeyFacts]) -> list[str]:
        """CRYPTO-009: DSA keys (unless allowed), RSA and ECDSA keys below the minimum."""
        problems = []
        for key in keys:
            if key.key_type == "ssh-dss" and not self.allow_dsa:
                problems.append("DSA host key")
            elif (
                key.key_type == "ssh-rsa" and key.bits is not None and key.bits < self.min_rsa_bits
            ):
                problems.append(f"RSA host key of {key.bits} bits (< {self.min_rsa_bits})")
            elif (
                key.key_type.startswith("ecdsa")
                and key.bits is not None
                and key.bits < self.min_ecdsa_bits
            ):
                problems.append(f"ECDSA host key of {key.bits} bits")
        return problems


class CryptoPolicy(_Model):
    """One named, versioned policy."""

    name: str
    version: int
    changelog: tuple[str, ...] = ()
    tls: TlsPolicy
    ssh: SshPolicy

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def load(reference: str, base_dir: Path | None = None) -> CryptoPolicy:
    """A built-in policy by name, or a policy file (relative to `base_dir`)."""
    if reference in BUILT_IN:
        text = (resources.files("harness.config") / "policies" / f"{reference}.yaml").read_text()
        source = f"built-in {reference}"
    else:
        path = Path(reference)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        try:
            text = path.read_text()
        except OSError as exc:
            raise MedsecError(
                f"policy {reference!r} is neither built in ({', '.join(BUILT_IN)}) "
                f"nor a readable file: {exc}"
            ) from None
        source = str(path)
    try:
        return CryptoPolicy.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise MedsecError(f"{source}: not a valid crypto policy: {exc}") from None
