"""Crypto policies: what the CRYPTO checks accept, as versioned data.

Two are built in (`harness/config/policies/strict.yaml`, `legacy.yaml`); a profile names one of
them, or a YAML file of the same shape, in `policy.ssh_policy` (SSH part) and
`policy.tls_ciphers` (TLS part). Every verdict names the policy and its version.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.core.errors import MedsecError
from harness.probes.crypto.tls_suites import CipherClass, Suite

BUILT_IN = ("strict", "legacy")


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

    def cipher_problem(self, suite: Suite, etm: bool) -> str | None:
        """Why this suite's bulk cipher is not acceptable, or None."""
        kind = suite.cipher_class
        if suite.anonymous:
            return "anonymous (no server authentication)"
        if kind in (CipherClass.NULL, CipherClass.EXPORT, CipherClass.RC4, CipherClass.DES):
            return {
                CipherClass.NULL: "NULL cipher",
                CipherClass.EXPORT: "EXPORT grade",
                CipherClass.RC4: "RC4",
                CipherClass.DES: "DES/3DES",
            }[kind]
        if kind is CipherClass.OTHER:
            return f"cipher {suite.cipher} is not acceptable"
        if kind.value not in self.cipher_classes:
            return f"{kind.value.upper()} mode is not allowed by this policy"
        if kind is CipherClass.CBC and self.cbc_requires_etm and not etm:
            return "CBC without Encrypt-then-MAC"
        return None


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
