"""The check catalogue: every check id the harness knows, with its standards references.

This is the machine view of docs/CATALOGUE.md (a unit test keeps the two equal). Reports,
results.json and the traceability matrix read titles and references from here; a test
declares only its id with `@pytest.mark.check("AUTH-001")`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

CHECK_ID = re.compile(r"^(AUTH|CRYPTO|UPDATE|SURFACE|ROBUST)-\d{3}$")


class Family(str, enum.Enum):
    """Control families, in the order reports list them."""

    AUTH = "AUTH"
    CRYPTO = "CRYPTO"
    UPDATE = "UPDATE"
    SURFACE = "SURFACE"
    ROBUST = "ROBUST"


# Profile interfaces a check can need; a check applies when the profile has any of its own.
INTERFACES = ("ssh", "serial", "http", "network", "tls", "mqtt", "update")


class Severity(str, enum.Enum):
    """How bad a failure of the check is for a connected medical device, before context."""

    CRITICAL = "critical"  # anyone on the network or console takes control, or installs code
    HIGH = "high"  # an attacker with access defeats a control the submission relies on
    MEDIUM = "medium"  # a weakness that helps an attack or leaks information
    LOW = "low"  # hygiene; evidence for the submission more than a risk by itself


@dataclass(frozen=True)
class CheckSpec:
    """What the catalogue says about one check id."""

    id: str
    title: str
    interfaces: tuple[str, ...]
    destructive: bool
    severity: Severity
    standards: tuple[str, ...]
    cwe: tuple[str, ...]
    capec: tuple[str, ...]
    criterion: str  # the pass criterion as the catalogue states it (policy keys in backticks)

    @property
    def family(self) -> Family:
        return Family(self.id.split("-", 1)[0])

    @property
    def references(self) -> tuple[str, ...]:
        """Standards clauses, then CWE, then CAPEC ids, as the catalogue lists them."""
        return self.standards + self.cwe + self.capec


def _spec(
    check_id: str,
    title: str,
    interfaces: str,
    destructive: bool,
    severity: str,
    refs: str,
    criterion: str,
) -> CheckSpec:
    items = [item.strip() for group in refs.split(";") for item in group.split(",")]
    return CheckSpec(
        id=check_id,
        title=title,
        interfaces=tuple(part.strip() for part in interfaces.split(",")),
        destructive=destructive,
        severity=Severity(severity),
        criterion=criterion,
        standards=tuple(i for i in items if i and not i.startswith(("CWE-", "CAPEC-"))),
        cwe=tuple(i for i in items if i.startswith("CWE-")),
        capec=tuple(i for i in items if i.startswith("CAPEC-")),
    )


# id, title, interfaces, destructive, severity, references, pass criterion: one row per
# catalogue table row (docs/CATALOGUE.md; a unit test keeps the two equal).
_ROWS: tuple[tuple[str, str, str, bool, str, str, str], ...] = (
    (
        "AUTH-001",
        "Default credentials refused over SSH",
        "ssh",
        False,
        "critical",
        "FDA-Authn; CR 1.1, CR 1.5; EN 5.1-1; CWE-1392, CWE-798; CAPEC-70",
        "no pair opens a session",
    ),
    (
        "AUTH-002",
        "Default credentials refused on serial console",
        "serial",
        False,
        "critical",
        "FDA-Authn; CR 1.1, CR 1.5; EN 5.1-1; CWE-1392; CAPEC-70",
        "no shell prompt after any pair; prompt returns",
    ),
    (
        "AUTH-003",
        "Default credentials refused by HTTP API",
        "http",
        False,
        "critical",
        "FDA-Authn; CR 1.1, CR 1.5; EN 5.1-1; CWE-1392; CAPEC-70",
        "every pair gets 401/403 and no session token or cookie",
    ),
    (
        "AUTH-004",
        "Default credentials refused over telnet",
        "network",
        False,
        "critical",
        "FDA-Authn; CR 1.1; EN 5.1-1; CWE-1392; CAPEC-70",
        "no pair reaches a shell",
    ),
    (
        "AUTH-005",
        "Serial console requires login",
        "serial",
        False,
        "critical",
        "FDA-Authn; CR 1.1; CWE-306, CWE-288",
        "only the login prompt is shown; no shell prompt; commands are not executed",
    ),
    (
        "AUTH-006",
        "Bootloader interrupt refused",
        "serial",
        False,
        "high",
        "FDA-Authn; EDR 2.13, EDR 3.14; EN 5.6-4; CWE-288; CAPEC-121",
        "no bootloader prompt, or it asks for a password; boot completes",
    ),
    (
        "AUTH-007",
        "SSH authentication methods match policy",
        "ssh",
        False,
        "high",
        "FDA-Authn; CR 1.1; CWE-287, CWE-309",
        "`none` refused; method set equals `ssh_policy` (strict: `publickey` only, no `password` or `keyboard-interactive`)",
    ),
    (
        "AUTH-008",
        "Root login over SSH refused",
        "ssh",
        False,
        "high",
        "FDA-Authz; CR 1.1, CR 2.1; CWE-250",
        "no session as root or uid 0",
    ),
    (
        "AUTH-009",
        "Lockout or rate limit after failures",
        "ssh, http, serial",
        True,
        "high",
        "FDA-Authn; CR 1.11; EN 5.1-5; CWE-307; CAPEC-49, CAPEC-112, CAPEC-2",
        "after `lockout_after_failures` failures, attempts are refused (right password too) or delayed ≥ `policy.lockout_delay_s` [30]; timings recorded",
    ),
    (
        "AUTH-010",
        "State-changing API needs authentication",
        "http, mqtt",
        False,
        "critical",
        "FDA-Authz; CR 2.1; EN 5.5-5; CWE-306, CWE-862; CAPEC-115",
        "401 or 403 every time (another 4xx only with the state read back unchanged); state read back unchanged; an MQTT broker refuses a CONNECT without credentials (CONNACK 4 or 5)",
    ),
    (
        "AUTH-011",
        "Idle session timeout",
        "ssh, serial",
        False,
        "medium",
        "FDA-Authn; CR 2.5, CR 2.6; CWE-613",
        "session closed or login asked again",
    ),
    (
        "AUTH-012",
        "Weak new passwords rejected",
        "ssh, http",
        False,
        "medium",
        "FDA-Authn; CR 1.7; CWE-521",
        "each refused; `policy.password_min_length` [12] enforced; old password still works (restored if not)",
    ),
    (
        "AUTH-013",
        "Privileged commands need elevation",
        "ssh",
        False,
        "high",
        "FDA-Authz; CR 2.1; CWE-269, CWE-250; CAPEC-233",
        "refused or asks for elevation; the user is not uid 0",
    ),
    (
        "CRYPTO-001",
        "TLS versions below minimum refused",
        "tls",
        False,
        "high",
        "FDA-Crypto; CR 3.1, CR 4.3; EN 5.5-1; CWE-327, CWE-757; CAPEC-620",
        "each below `tls_min_version` gets an alert or close; at least one version ≥ minimum is accepted",
    ),
    (
        "CRYPTO-002",
        "No weak cipher suites",
        "tls",
        False,
        "high",
        "FDA-Crypto; CR 4.3; EN 5.5-1; CWE-327, CWE-326; CAPEC-620, CAPEC-217",
        "no NULL, EXPORT, RC4, DES/3DES, anonymous; CBC suites only if `policy.tls_ciphers` [strict] is `legacy` and Encrypt-then-MAC is negotiated",
    ),
    (
        "CRYPTO-003",
        "Forward secrecy",
        "tls",
        False,
        "medium",
        "FDA-Crypto; CR 4.3; EN 5.5-1",
        "only ECDHE/DHE key exchange; finite-field DH ≥ 2048 bits",
    ),
    (
        "CRYPTO-004",
        "Certificate key and signature strength",
        "tls",
        False,
        "high",
        "FDA-Crypto; CR 1.9, CR 4.3; CWE-326, CWE-327, CWE-328",
        "RSA ≥ `policy.cert_min_rsa_bits` [2048], EC ≥ 256 bits; no MD5 or SHA-1 signature below the trust anchor",
    ),
    (
        "CRYPTO-005",
        "Certificate chain and validity",
        "tls",
        False,
        "high",
        "FDA-Authn; CR 1.8; CWE-295, CWE-296, CWE-298",
        "chain verifies; valid now and for `policy.cert_min_days_left` [30]; self-signed leaf only if `policy.allow_self_signed` [false]",
    ),
    (
        "CRYPTO-006",
        "Certificate names the device",
        "tls",
        False,
        "medium",
        "FDA-Authn; CR 1.8; CWE-297",
        "name or IP present in SAN (a CN-only match fails)",
    ),
    (
        "CRYPTO-007",
        "Compression, renegotiation, downgrade",
        "tls",
        False,
        "medium",
        "FDA-Crypto; CR 3.1; CWE-757; CAPEC-620",
        "null compression only; secure renegotiation, no client-initiated renegotiation; fallback answered with `inappropriate_fallback`",
    ),
    (
        "CRYPTO-008",
        "SSH algorithms match policy",
        "ssh",
        False,
        "high",
        "FDA-Crypto; CR 3.1, CR 4.3; EN 5.5-1; CWE-327; CAPEC-620",
        "every list is a subset of `ssh_policy` (strict: no SHA-1 kex or `ssh-rsa` signatures, no CBC, no `none`, MACs ETM or AEAD)",
    ),
    (
        "CRYPTO-009",
        "SSH host key strength",
        "ssh",
        False,
        "high",
        "FDA-Crypto; CR 4.3; CWE-326",
        "no DSA; RSA ≥ `ssh_policy` minimum (strict 3072, legacy 2048); ECDSA ≥ 256; Ed25519 accepted",
    ),
    (
        "CRYPTO-010",
        "No cleartext protocol on any port",
        "network",
        False,
        "high",
        "FDA-Conf; CR 4.1; EN 5.5-1; CWE-319, CWE-523; CAPEC-94, CAPEC-158",
        "no cleartext service; plain HTTP only as a bare redirect to https when `policy.http_redirect_allowed` [false]",
    ),
    (
        "CRYPTO-011",
        "TLS services refuse cleartext; MQTT broker requires TLS",
        "tls",
        False,
        "high",
        "FDA-Conf; CR 4.1, CR 1.2; CWE-319, CWE-306",
        "plaintext gets no application answer; the broker refuses an unauthenticated CONNECT",
    ),
    (
        "CRYPTO-012",
        "Device as TLS client validates its server",
        "tls",
        False,
        "high",
        "FDA-Authn; CR 1.8, CR 3.1; CWE-295, CWE-297; CAPEC-94",
        "device aborts each handshake and sends no application data",
    ),
    (
        "UPDATE-001",
        "Valid signed image accepted (positive control)",
        "update",
        True,
        "high",
        "FDA-Upd; EDR 3.10; EN 5.3",
        "accepted; device reports that version within `policy.update_timeout_s` [600]",
    ),
    (
        "UPDATE-002",
        "Altered payload refused",
        "update",
        False,
        "critical",
        "FDA-Integ, FDA-Upd; CR 3.4; EN 5.3-7; CWE-494, CWE-345; CAPEC-186",
        "each refused; version unchanged",
    ),
    (
        "UPDATE-003",
        "Missing or malformed signature refused",
        "update",
        False,
        "critical",
        "FDA-Integ, FDA-Upd; CR 3.4; EN 5.3-7; CWE-347; CAPEC-186",
        "each refused; version unchanged",
    ),
    (
        "UPDATE-004",
        "Untrusted signing key refused",
        "update",
        False,
        "critical",
        "FDA-Integ, FDA-Upd; CR 3.4; EN 5.3-7; CWE-347; CAPEC-186, CAPEC-475",
        "refused; version unchanged",
    ),
    (
        "UPDATE-005",
        "Rollback refused",
        "update",
        False,
        "high",
        "FDA-Upd; EDR 3.10; CWE-1328; CAPEC-186",
        "rollback refused, version unchanged; the reinstall refused unless `policy.allow_reinstall` [false]",
    ),
    (
        "UPDATE-006",
        "Truncated or oversized image refused",
        "update",
        True,
        "medium",
        "FDA-Upd, FDA-Resil; CR 3.5; CWE-20, CWE-130",
        "each refused with an error reply; channel and services answer afterwards",
    ),
    (
        "UPDATE-007",
        "Image for another hardware revision refused",
        "update",
        False,
        "high",
        "FDA-Upd; EDR 3.10; CWE-20",
        "refused; version unchanged",
    ),
    (
        "UPDATE-008",
        "Update channel requires authentication",
        "update",
        False,
        "critical",
        "FDA-Authz, FDA-Upd; CR 2.1; EN 5.5-5; CWE-306",
        "401/403 or session refused before the image is stored; version unchanged",
    ),
    (
        "UPDATE-009",
        "Update channel encrypted",
        "update",
        False,
        "high",
        "FDA-Conf, FDA-Upd; CR 4.1; EN 5.5-1; CWE-319; CAPEC-94",
        "https or ssh only; no cleartext endpoint accepts images; TLS parameters are left to CRYPTO (serial channel: `not_applicable`)",
    ),
    (
        "UPDATE-010",
        "Device reports its version",
        "update",
        False,
        "medium",
        "FDA-Upd; EDR 3.10",
        "before: equals `device.firmware`; after: equals the image version on every interface",
    ),
    (
        "UPDATE-011",
        "Interrupted update leaves a working device",
        "update",
        True,
        "high",
        "FDA-Resil, FDA-Upd; CR 7.4; EN 5.9",
        "device boots, reports the old (or the complete new) version, accepts a retry",
    ),
    (
        "SURFACE-001",
        "No unexpected TCP port",
        "network",
        False,
        "high",
        "CR 7.7; EN 5.6-1; CAPEC-300",
        "open set ⊆ `network.expected_tcp`; expected-but-closed ports recorded",
    ),
    (
        "SURFACE-002",
        "No unexpected UDP service",
        "network",
        False,
        "medium",
        "CR 7.7; EN 5.6-1; CAPEC-300",
        "answering ports ⊆ `network.expected_udp` [empty]; silent ports (open or "
        "filtered) are recorded but not judged; a device that refuses no port with ICMP is judged on answers "
        "alone, and the evidence says so",
    ),
    (
        "SURFACE-003",
        "Each service speaks its profiled protocol",
        "network",
        False,
        "medium",
        "CR 7.7",
        "every declared protocol completes (any HTTP status, CONNACK code or association "
        "answer); a refused port or another protocol fails; no answer in time is `error`",
    ),
    (
        "SURFACE-004",
        "No version disclosure before login",
        "network, http, serial",
        False,
        "medium",
        "FDA-Conf; EN 5.6-2; CWE-200, CWE-497; CAPEC-224, CAPEC-541",
        "if `policy.disclose_versions` [false]: no product + version token of two or more numeric parts (`nginx/1.22.1`, `BusyBox v1.36.1`); the SSH identification only has to match `policy.ssh_banner_pattern` [any software version, no comment]",
    ),
    (
        "SURFACE-005",
        "Debug services closed",
        "network",
        False,
        "high",
        "CR 7.7; EN 5.6-1; CWE-489, CWE-1191; CAPEC-121",
        "no port answers one of these protocols",
    ),
    (
        "SURFACE-006",
        "Web UI security headers",
        "http",
        False,
        "medium",
        "FDA-Conf; CWE-1021, CWE-614, CWE-1004; CAPEC-103",
        "over https, HSTS max-age ≥ 1 year; CSP `frame-ancestors` without `*`, or X-Frame-Options DENY/SAMEORIGIN; `nosniff`; cookies Secure, HttpOnly, SameSite Lax or Strict; `no-store` on authenticated pages",
    ),
    (
        "SURFACE-007",
        "Observed components match the SBOM (optional)",
        "network, http",
        False,
        "low",
        "FDA SBOM recommendation (third-party software components)",
        "every identified component appears in the SBOM with the version shown (the package revision too where the banner shows one, as Debian's OpenSSH does); unidentified banners are noted",
    ),
    (
        "SURFACE-008",
        "Console output free of secrets",
        "serial",
        False,
        "high",
        "FDA-Conf; CWE-532, CWE-1295",
        "no private-key blocks, passwords, tokens or key material",
    ),
    (
        "SURFACE-009",
        "No port open only over IPv6",
        "network",
        False,
        "medium",
        "CR 7.7; EN 5.6-1; CAPEC-300",
        "IPv6 open set ⊆ IPv4 open set (no service reachable only past an IPv4-only filter)",
    ),
    (
        "ROBUST-001",
        "Malformed TLS ClientHello survived",
        "tls",
        False,
        "high",
        "FDA-Resil; CR 3.5, CR 7.1; EN 5.13-1; CWE-20; CAPEC-272",
        "alert or close for each (a hello cut short may be waited on; the well-formed oversized one "
        "may be answered); liveness after",
    ),
    (
        "ROBUST-002",
        "Malformed SSH input survived",
        "ssh",
        False,
        "high",
        "FDA-Resil; CR 3.5, CR 7.1; EN 5.13-1; CWE-20; CAPEC-272",
        "connection closed; liveness after",
    ),
    (
        "ROBUST-003",
        "Malformed HTTP requests survived",
        "http",
        False,
        "high",
        "FDA-Resil; CR 3.5; EN 5.13-1; CWE-20; CAPEC-153",
        "4xx (501 or 505 for what it does not implement) or close, never a hang; liveness after",
    ),
    (
        "ROBUST-004",
        "Oversized fields survived",
        "ssh, http, tls",
        False,
        "high",
        "FDA-Resil; CR 3.5; CWE-120, CWE-20; CAPEC-100",
        "refused cleanly (a 4xx or a close, never a login); a field the protocol allows may also "
        "be answered; liveness after",
    ),
    (
        "ROBUST-005",
        "Connection flood survived",
        "network",
        False,
        "high",
        "FDA-Resil; CR 7.1, CR 7.2; CWE-400, CWE-770; CAPEC-125",
        "no crash during; after release every service answers within `policy.liveness_timeout_s` [10]",
    ),
    (
        "ROBUST-006",
        "Serial console garbage survived",
        "serial",
        False,
        "medium",
        "FDA-Resil; CR 3.5; CWE-20",
        "the first Enter still brings a prompt; no boot log (reboot)",
    ),
    (
        "ROBUST-007",
        "Bounded protocol fuzzing",
        "tls, ssh, http, mqtt",
        True,
        "high",
        "FDA-Resil; CR 3.5, CR 7.1; EN 5.13-1; CWE-20; CAPEC-28",
        "no crash, hang or reboot; every case delivered",
    ),
    (
        "ROBUST-008",
        "Slow-request resistance",
        "http",
        False,
        "medium",
        "FDA-Resil; CR 7.1; CWE-400; CAPEC-469",
        "the service still answers other clients during and after",
    ),
)

CATALOGUE: Mapping[str, CheckSpec] = MappingProxyType({row[0]: _spec(*row) for row in _ROWS})


_POLICY_KEY = re.compile(r"`(?:policy\.)?([a-z_]+)`(?: \[[^\]]*\])?")


def criterion_for(spec: CheckSpec, policy: Mapping[str, object]) -> str:
    """The pass criterion with the values in force: `policy.lockout_delay_s` [30] becomes
    `lockout_delay_s = 1.0`; names that are not policy keys stay as they are."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in policy:
            return match.group(0)
        value = policy[key]
        shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
        return f"`{key}` = {shown}"

    return _POLICY_KEY.sub(fill, spec.criterion)


def get(check_id: str) -> CheckSpec:
    """Return the catalogue entry for `check_id`; KeyError names the unknown id."""
    try:
        return CATALOGUE[check_id]
    except KeyError:
        raise KeyError(f"{check_id!r} is not in the check catalogue") from None


# What no check can show from outside the device; the report lists it so a reviewer
# sees the gap instead of assuming coverage (CATALOGUE.md, "Not testable from outside").
NOT_TESTABLE: tuple[str, ...] = (
    "Secure boot and root of trust internals (EDR 3.14): the UPDATE checks show the update "
    "path refuses bad images, not that every boot verifies the stored image.",
    "Event detection and logging: whether attacks are logged, protection of the logs "
    "(CR 3.9), retention, time stamps. Each check records the UTC time of its attack so "
    "the team can compare it with the device's logs.",
    "Data at rest and key storage: encryption of stored patient data, protection of keys "
    "and credentials in flash, physical tamper resistance.",
    "Per-device unique credentials across a fleet (EN 5.1-1 in full).",
    "SBOM completeness and known-vulnerability status: SURFACE-007 checks only what "
    "banners reveal.",
    "Code review, static analysis, binary composition analysis, and physical debug ports "
    "(JTAG/SWD pads, USB) other than the serial console.",
    "Authorization model completeness: roles and accounts the profile does not name.",
)
