"""The emulator's planted weaknesses: the one table the emulator, `medsec demo` and the tests read.

Each weakness names the single check that must catch it. `planted` says whether this
version of the emulator can plant it yet; `--weakness` refuses the others, and the
vulnerable variant plants exactly the planted ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Weakness:
    """One deliberate flaw of the vulnerable emulator."""

    id: str
    description: str
    caught_by: str
    planted: bool


_TABLE = (
    Weakness(
        "W-01",
        "HTTP API accepts the vendor default admin/admin and issues a token",
        "AUTH-003",
        True,
    ),
    Weakness(
        "W-02",
        "Serial console: Ctrl-C at the login prompt drops to a root shell",
        "AUTH-005",
        True,
    ),
    Weakness(
        "W-03", "HTTP login has no lockout and no delay after failed attempts", "AUTH-009", True
    ),
    Weakness("W-04", "PUT /api/config is accepted without a token", "AUTH-010", True),
    Weakness("W-05", "therapy-api also negotiates TLS 1.0 and 1.1", "CRYPTO-001", True),
    Weakness("W-06", "telemetry certificate is RSA-1024 signed with SHA-1", "CRYPTO-004", True),
    Weakness(
        "W-07",
        "SSH server also offers hmac-sha1 and diffie-hellman-group14-sha1",
        "CRYPTO-008",
        True,
    ),
    Weakness(
        "W-08",
        "telemetry port 8883 also accepts a plain MQTT CONNECT without TLS",
        "CRYPTO-011",
        True,
    ),
    Weakness(
        "W-09",
        "update signature covers only the header; changed payload bytes go unnoticed",
        "UPDATE-002",
        True,
    ),
    Weakness(
        "W-10",
        "update verification uses the public key shipped inside the package",
        "UPDATE-004",
        True,
    ),
    Weakness(
        "W-11", "no anti-rollback: an older validly signed image is installed", "UPDATE-005", True
    ),
    Weakness(
        "W-12", "undeclared vendor service on TCP 9999 (binary protocol)", "SURFACE-001", True
    ),
    Weakness(
        "W-13",
        "HTTP Server header and error pages name product and library versions",
        "SURFACE-004",
        True,
    ),
    Weakness(
        "W-14", "GDB remote stub listening on TCP 3333 (another port if taken)", "SURFACE-005", True
    ),
    Weakness(
        "W-15",
        "telemetry TLS listener dies on a ClientHello whose cipher-suite length overruns the "
        "record (restarted 2 s later)",
        "ROBUST-001",
        True,
    ),
    Weakness(
        "W-16",
        "serial console crashes on a line of more than 4 KiB without newline (the watchdog "
        "reboots it a second later)",
        "ROBUST-006",
        True,
    ),
    Weakness("W-17", "SSH accepts the vendor default service/service", "AUTH-001", True),
    Weakness("W-18", "serial console accepts root with an empty password", "AUTH-002", True),
    Weakness(
        "W-19", "update upload endpoint stores images sent without credentials", "UPDATE-008", True
    ),
)

WEAKNESSES: Mapping[str, Weakness] = MappingProxyType({w.id: w for w in _TABLE})
PLANTED: tuple[str, ...] = tuple(w.id for w in _TABLE if w.planted)


def expected_failures(weakness_ids: frozenset[str] | set[str]) -> frozenset[str]:
    """The check ids a pump with exactly these weaknesses must fail."""
    return frozenset(WEAKNESSES[w].caught_by for w in weakness_ids)


# Fuzzing (ROBUST-007) may also find a listener planted to die for ROBUST-001 or ROBUST-006.
ALSO_FOUND_BY_FUZZING = frozenset({"W-15", "W-16"})


def tolerated_failures(weakness_ids: frozenset[str] | set[str]) -> frozenset[str]:
    """Checks that may fail besides `expected_failures` on a pump with these weaknesses (the
    catalogue exempts ROBUST-007 from "exactly its check" where W-15 or W-16 is planted)."""
    return frozenset({"ROBUST-007"}) if set(weakness_ids) & ALSO_FOUND_BY_FUZZING else frozenset()
