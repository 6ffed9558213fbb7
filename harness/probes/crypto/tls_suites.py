"""The TLS cipher-suite and named-group registry the probes offer from, with each suite's class.

Suites come from scapy's copy of the IANA registry (plus the ARIA GCM suites it lacks),
so a ClientHello can offer every suite a server might still accept, independent of what
the local OpenSSL was built with. Each suite is classified from its IANA name: key
exchange, authentication, bulk cipher, MAC.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from scapy.layers.tls.crypto.groups import _tls_named_groups
from scapy.layers.tls.crypto.suites import _tls_cipher_suites

from harness.config.crypto_policy import CipherClass

SCSV_RENEGOTIATION = 0x00FF
SCSV_FALLBACK = 0x5600
_SIGNALLING = frozenset({SCSV_RENEGOTIATION, SCSV_FALLBACK})
_ARIA_GCM = {
    0xC050: "TLS_RSA_WITH_ARIA_128_GCM_SHA256",
    0xC051: "TLS_RSA_WITH_ARIA_256_GCM_SHA384",
    0xC052: "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256",
    0xC053: "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384",
    0xC056: "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256",
    0xC057: "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384",
    0xC05C: "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256",
    0xC05D: "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384",
    0xC060: "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256",
    0xC061: "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384",
    0xC06A: "TLS_PSK_WITH_ARIA_128_GCM_SHA256",
    0xC06B: "TLS_PSK_WITH_ARIA_256_GCM_SHA384",
    0xC06C: "TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256",
    0xC06D: "TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384",
    0xC06E: "TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256",
    0xC06F: "TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384",
}


class TlsVersion(enum.IntEnum):
    """Protocol versions by their wire value."""

    SSL3 = 0x0300
    TLS1_0 = 0x0301
    TLS1_1 = 0x0302
    TLS1_2 = 0x0303
    TLS1_3 = 0x0304

    @property
    def label(self) -> str:
        return "SSLv3" if self is TlsVersion.SSL3 else f"TLS 1.{self.value - 0x0301}"

    @classmethod
    def from_policy(cls, text: str) -> TlsVersion:
        """`"1.2"` -> TLS1_2."""
        return cls(0x0301 + int(text.split(".")[1]))


@dataclass(frozen=True)
class Suite:
    """One cipher suite and what its IANA name says about it."""

    code: int
    name: str
    key_exchange: str  # ECDHE, DHE, RSA, ECDH, DH, PSK, ... ; "TLS13" for TLS 1.3 suites
    authentication: str  # RSA, ECDSA, DSS, anon, PSK, ...
    cipher: str  # AES_128_GCM, CHACHA20_POLY1305, 3DES_EDE_CBC, ...
    mac: str  # SHA, SHA256, SHA384, MD5, or "" for CCM

    @property
    def tls13(self) -> bool:
        return self.key_exchange == "TLS13"

    @property
    def cipher_class(self) -> CipherClass:
        cipher, name = self.cipher, self.name
        if "EXPORT" in name:
            return CipherClass.EXPORT
        if cipher == "NULL":
            return CipherClass.NULL
        if cipher.startswith("RC4"):
            return CipherClass.RC4
        if cipher.startswith(("DES", "3DES", "DES40")):
            return CipherClass.DES
        if re.search(r"GCM|CCM|POLY1305", cipher):
            return CipherClass.AEAD
        if cipher.endswith("CBC") and cipher.startswith(("AES", "CAMELLIA", "ARIA", "SEED")):
            return CipherClass.CBC
        return CipherClass.OTHER

    @property
    def anonymous(self) -> bool:
        return self.authentication == "anon"

    @property
    def forward_secret(self) -> bool:
        """Ephemeral (EC)DH key exchange: TLS 1.3, ECDHE, DHE (incl. anonymous and PSK forms)."""
        return self.tls13 or self.key_exchange in ("ECDHE", "DHE")

    @property
    def finite_field_dh(self) -> bool:
        return self.key_exchange == "DHE"

    def __str__(self) -> str:
        return self.name


def _parse(code: int, name: str) -> Suite:
    if "_WITH_" not in name:  # TLS 1.3: TLS_AES_128_GCM_SHA256
        body = name.removeprefix("TLS_")
        cipher, _, mac = body.rpartition("_")
        return Suite(code, name, "TLS13", "any", cipher, mac)
    exchange, cipher_mac = name.removeprefix("TLS_").removeprefix("SSL_").split("_WITH_", 1)
    exchange = exchange.replace("_EXPORT1024", "").replace("_EXPORT", "")
    parts = exchange.split("_")
    key_exchange = parts[0]
    authentication = parts[1] if len(parts) > 1 else parts[0]
    if key_exchange in ("RSA", "PSK", "SRP", "KRB5", "NULL"):
        authentication = "_".join(parts[1:]) or key_exchange
    if key_exchange == "SRP" and len(parts) > 2:
        authentication = parts[2]
    mac_match = re.search(r"_(SHA|SHA256|SHA384|MD5)$", cipher_mac)
    mac = mac_match.group(1) if mac_match else ""
    cipher = cipher_mac[: mac_match.start()] if mac_match else cipher_mac
    return Suite(code, name, key_exchange, authentication, cipher, mac)


@cache
def registry() -> Mapping[int, Suite]:
    """Every known suite by code, signalling values excluded."""
    names = {code: name for code, name in _tls_cipher_suites.items() if code <= 0xFFFF}
    names.update(_ARIA_GCM)
    return MappingProxyType(
        {
            code: _parse(code, name)
            for code, name in sorted(names.items())
            if code not in _SIGNALLING
        }
    )


def suite(code: int) -> Suite:
    """The suite with this code (an unknown code gets a placeholder name)."""
    known = registry().get(code)
    return known or Suite(code, f"UNKNOWN_0x{code:04X}", "?", "?", "?", "?")


def tls13_suites() -> tuple[int, ...]:
    return tuple(code for code, s in registry().items() if s.tls13)


def legacy_suites() -> tuple[int, ...]:
    """Every suite a TLS 1.2-or-older ClientHello can offer."""
    return tuple(code for code, s in registry().items() if not s.tls13)


def group_name(code: int) -> str:
    name: str | None = _tls_named_groups.get(code)
    return name or f"group_0x{code:04x}"


@dataclass(frozen=True)
class NamedGroup:
    """A key-exchange group by its code, with its prime size when it is finite-field DH."""

    code: int
    name: str
    ffdhe_bits: int | None


def named_group(code: int) -> NamedGroup:
    return NamedGroup(code, group_name(code), FFDHE_BITS.get(code))


# Groups offered in supported_groups, weakest included so a server's choice is seen;
# the explicit-curve pseudo groups and draft codes are left out.
OFFERED_GROUPS = tuple(
    code
    for code in sorted(_tls_named_groups)
    if code not in (0xFF01, 0xFF02, 0x6399) and not 0xFE00 <= code <= 0xFEFF
)
FFDHE_BITS: Mapping[int, int] = MappingProxyType(
    {0x0100: 2048, 0x0101: 3072, 0x0102: 4096, 0x0103: 6144, 0x0104: 8192}
)
