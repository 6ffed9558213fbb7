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


@dataclass(frozen=True)
class CheckSpec:
    """What the catalogue says about one check id."""

    id: str
    title: str
    interfaces: tuple[str, ...]
    destructive: bool
    standards: tuple[str, ...]
    cwe: tuple[str, ...]
    capec: tuple[str, ...]

    @property
    def family(self) -> Family:
        return Family(self.id.split("-", 1)[0])

    @property
    def references(self) -> tuple[str, ...]:
        """Standards clauses, then CWE, then CAPEC ids, as the catalogue lists them."""
        return self.standards + self.cwe + self.capec


def _spec(check_id: str, title: str, interfaces: str, destructive: bool, refs: str) -> CheckSpec:
    items = [item.strip() for group in refs.split(";") for item in group.split(",")]
    return CheckSpec(
        id=check_id,
        title=title,
        interfaces=tuple(part.strip() for part in interfaces.split(",")),
        destructive=destructive,
        standards=tuple(i for i in items if i and not i.startswith(("CWE-", "CAPEC-"))),
        cwe=tuple(i for i in items if i.startswith("CWE-")),
        capec=tuple(i for i in items if i.startswith("CAPEC-")),
    )


# id, title, interfaces, destructive, references: one row per catalogue table row.
_ROWS: tuple[tuple[str, str, str, bool, str], ...] = (
    (
        "AUTH-001",
        "Default credentials refused over SSH",
        "ssh",
        False,
        "FDA-Authn; CR 1.1, CR 1.5; EN 5.1-1; CWE-1392, CWE-798; CAPEC-70",
    ),
    (
        "AUTH-002",
        "Default credentials refused on serial console",
        "serial",
        False,
        "FDA-Authn; CR 1.1, CR 1.5; EN 5.1-1; CWE-1392; CAPEC-70",
    ),
    (
        "AUTH-003",
        "Default credentials refused by HTTP API",
        "http",
        False,
        "FDA-Authn; CR 1.1, CR 1.5; EN 5.1-1; CWE-1392; CAPEC-70",
    ),
    (
        "AUTH-004",
        "Default credentials refused over telnet",
        "network",
        False,
        "FDA-Authn; CR 1.1; EN 5.1-1; CWE-1392; CAPEC-70",
    ),
    (
        "AUTH-005",
        "Serial console requires login",
        "serial",
        False,
        "FDA-Authn; CR 1.1; CWE-306, CWE-288",
    ),
    (
        "AUTH-006",
        "Bootloader interrupt refused",
        "serial",
        False,
        "FDA-Authn; EDR 2.13, EDR 3.14; EN 5.6-4; CWE-288; CAPEC-121",
    ),
    (
        "AUTH-007",
        "SSH authentication methods match policy",
        "ssh",
        False,
        "FDA-Authn; CR 1.1; CWE-287, CWE-309",
    ),
    ("AUTH-008", "Root login over SSH refused", "ssh", False, "FDA-Authz; CR 1.1, CR 2.1; CWE-250"),
    (
        "AUTH-009",
        "Lockout or rate limit after failures",
        "ssh, http, serial",
        True,
        "FDA-Authn; CR 1.11; EN 5.1-5; CWE-307; CAPEC-49, CAPEC-112, CAPEC-2",
    ),
    (
        "AUTH-010",
        "State-changing API needs authentication",
        "http",
        False,
        "FDA-Authz; CR 2.1; EN 5.5-5; CWE-306, CWE-862; CAPEC-115",
    ),
    (
        "AUTH-011",
        "Idle session timeout",
        "ssh, serial",
        False,
        "FDA-Authn; CR 2.5, CR 2.6; CWE-613",
    ),
    ("AUTH-012", "Weak new passwords rejected", "ssh, http", False, "FDA-Authn; CR 1.7; CWE-521"),
    (
        "AUTH-013",
        "Privileged commands need elevation",
        "ssh",
        False,
        "FDA-Authz; CR 2.1; CWE-269, CWE-250; CAPEC-233",
    ),
    (
        "CRYPTO-001",
        "TLS versions below minimum refused",
        "tls",
        False,
        "FDA-Crypto; CR 3.1, CR 4.3; EN 5.5-1; CWE-327, CWE-757; CAPEC-620",
    ),
    (
        "CRYPTO-002",
        "No weak cipher suites",
        "tls",
        False,
        "FDA-Crypto; CR 4.3; EN 5.5-1; CWE-327, CWE-326; CAPEC-620, CAPEC-217",
    ),
    ("CRYPTO-003", "Forward secrecy", "tls", False, "FDA-Crypto; CR 4.3; EN 5.5-1"),
    (
        "CRYPTO-004",
        "Certificate key and signature strength",
        "tls",
        False,
        "FDA-Crypto; CR 1.9, CR 4.3; CWE-326, CWE-327, CWE-328",
    ),
    (
        "CRYPTO-005",
        "Certificate chain and validity",
        "tls",
        False,
        "FDA-Authn; CR 1.8; CWE-295, CWE-296, CWE-298",
    ),
    ("CRYPTO-006", "Certificate names the device", "tls", False, "FDA-Authn; CR 1.8; CWE-297"),
    (
        "CRYPTO-007",
        "Compression, renegotiation, downgrade",
        "tls",
        False,
        "FDA-Crypto; CR 3.1; CWE-757; CAPEC-620",
    ),
    (
        "CRYPTO-008",
        "SSH algorithms match policy",
        "ssh",
        False,
        "FDA-Crypto; CR 3.1, CR 4.3; EN 5.5-1; CWE-327; CAPEC-620",
    ),
    ("CRYPTO-009", "SSH host key strength", "ssh", False, "FDA-Crypto; CR 4.3; CWE-326"),
    (
        "CRYPTO-010",
        "No cleartext protocol on any port",
        "network",
        False,
        "FDA-Conf; CR 4.1; EN 5.5-1; CWE-319, CWE-523; CAPEC-94, CAPEC-158",
    ),
    (
        "CRYPTO-011",
        "TLS services refuse cleartext; MQTT broker requires TLS",
        "tls",
        False,
        "FDA-Conf; CR 4.1, CR 1.2; CWE-319, CWE-306",
    ),
    (
        "CRYPTO-012",
        "Device as TLS client validates its server",
        "tls",
        False,
        "FDA-Authn; CR 1.8, CR 3.1; CWE-295, CWE-297; CAPEC-94",
    ),
    (
        "UPDATE-001",
        "Valid signed image accepted (positive control)",
        "update",
        True,
        "FDA-Upd; EDR 3.10; EN 5.3",
    ),
    (
        "UPDATE-002",
        "Altered payload refused",
        "update",
        False,
        "FDA-Integ, FDA-Upd; CR 3.4; EN 5.3-7; CWE-494, CWE-345; CAPEC-186",
    ),
    (
        "UPDATE-003",
        "Missing or malformed signature refused",
        "update",
        False,
        "FDA-Integ, FDA-Upd; CR 3.4; EN 5.3-7; CWE-347; CAPEC-186",
    ),
    (
        "UPDATE-004",
        "Untrusted signing key refused",
        "update",
        False,
        "FDA-Integ, FDA-Upd; CR 3.4; EN 5.3-7; CWE-347; CAPEC-186, CAPEC-475",
    ),
    ("UPDATE-005", "Rollback refused", "update", False, "FDA-Upd; EDR 3.10; CWE-1328; CAPEC-186"),
    (
        "UPDATE-006",
        "Truncated or oversized image refused",
        "update",
        True,
        "FDA-Upd, FDA-Resil; CR 3.5; CWE-20, CWE-130",
    ),
    (
        "UPDATE-007",
        "Image for another hardware revision refused",
        "update",
        False,
        "FDA-Upd; EDR 3.10; CWE-20",
    ),
    (
        "UPDATE-008",
        "Update channel requires authentication",
        "update",
        False,
        "FDA-Authz, FDA-Upd; CR 2.1; EN 5.5-5; CWE-306",
    ),
    (
        "UPDATE-009",
        "Update channel encrypted",
        "update",
        False,
        "FDA-Conf, FDA-Upd; CR 4.1; EN 5.5-1; CWE-319; CAPEC-94",
    ),
    ("UPDATE-010", "Device reports its version", "update", False, "FDA-Upd; EDR 3.10"),
    (
        "UPDATE-011",
        "Interrupted update leaves a working device",
        "update",
        True,
        "FDA-Resil, FDA-Upd; CR 7.4; EN 5.9",
    ),
    ("SURFACE-001", "No unexpected TCP port", "network", False, "CR 7.7; EN 5.6-1; CAPEC-300"),
    ("SURFACE-002", "No unexpected UDP service", "network", False, "CR 7.7; EN 5.6-1; CAPEC-300"),
    ("SURFACE-003", "Each service speaks its profiled protocol", "network", False, "CR 7.7"),
    (
        "SURFACE-004",
        "No version disclosure before login",
        "network, http, serial",
        False,
        "FDA-Conf; EN 5.6-2; CWE-200, CWE-497; CAPEC-224, CAPEC-541",
    ),
    (
        "SURFACE-005",
        "Debug services closed",
        "network",
        False,
        "CR 7.7; EN 5.6-1; CWE-489, CWE-1191; CAPEC-121",
    ),
    (
        "SURFACE-006",
        "Web UI security headers",
        "http",
        False,
        "FDA-Conf; CWE-1021, CWE-614, CWE-1004; CAPEC-103",
    ),
    (
        "SURFACE-007",
        "Observed components match the SBOM (optional)",
        "network, http",
        False,
        "FDA SBOM recommendation (third-party software components)",
    ),
    (
        "SURFACE-008",
        "Console output free of secrets",
        "serial",
        False,
        "FDA-Conf; CWE-532, CWE-1295",
    ),
    ("SURFACE-009", "No port open only over IPv6", "network", False, "CR 7.7; EN 5.6-1; CAPEC-300"),
    (
        "ROBUST-001",
        "Malformed TLS ClientHello survived",
        "tls",
        False,
        "FDA-Resil; CR 3.5, CR 7.1; EN 5.13-1; CWE-20; CAPEC-272",
    ),
    (
        "ROBUST-002",
        "Malformed SSH input survived",
        "ssh",
        False,
        "FDA-Resil; CR 3.5, CR 7.1; EN 5.13-1; CWE-20; CAPEC-272",
    ),
    (
        "ROBUST-003",
        "Malformed HTTP requests survived",
        "http",
        False,
        "FDA-Resil; CR 3.5; EN 5.13-1; CWE-20; CAPEC-153",
    ),
    (
        "ROBUST-004",
        "Oversized fields survived",
        "ssh, http, tls",
        False,
        "FDA-Resil; CR 3.5; CWE-120, CWE-20; CAPEC-100",
    ),
    (
        "ROBUST-005",
        "Connection flood survived",
        "network",
        False,
        "FDA-Resil; CR 7.1, CR 7.2; CWE-400, CWE-770; CAPEC-125",
    ),
    ("ROBUST-006", "Serial console garbage survived", "serial", False, "FDA-Resil; CR 3.5; CWE-20"),
    (
        "ROBUST-007",
        "Bounded protocol fuzzing",
        "tls, ssh, http, mqtt",
        True,
        "FDA-Resil; CR 3.5, CR 7.1; EN 5.13-1; CWE-20; CAPEC-28",
    ),
    (
        "ROBUST-008",
        "Slow-request resistance",
        "http",
        False,
        "FDA-Resil; CR 7.1; CWE-400; CAPEC-469",
    ),
)

CATALOGUE: Mapping[str, CheckSpec] = MappingProxyType({row[0]: _spec(*row) for row in _ROWS})


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
