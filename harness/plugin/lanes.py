"""Which lane a check runs in, what it holds while it runs, and which checks run alone.

A run with lanes (`--medsec-lanes N`, `medsec run --lanes N`) runs checks of independent
interfaces at once: most of a run is waiting (an idle session, a lockout, a console
prompt, a silent port), and a wait on the console need not hold up one on SSH. Each check
gets a placement:

- its **lane**, one thread per lane: checks of one lane run one after the other, in
  collection order, so every check sharing an interface's lockout budget (the run's
  `LoginLedger` counts failures per interface) stays in the order it has without lanes;
- what it **holds**: the serial console (one line, one user), and AUTH-009's lockout
  account (two interfaces naming the same account never lock it at once); a check that
  holds the console runs in the `serial` lane, whatever else it touches;
- whether it runs **alone**: a check that resets the device (AUTH-006, SURFACE-008), may
  take a service down by design (ROBUST-*) or delivers an image (UPDATE-*) runs with
  nothing else running, at its place in the run's order (`run_order`: the resets first,
  ROBUST and UPDATE last): every check before it has ended, none after it has started.
  The device's history as each check sees it is then the same as without lanes, which
  keeps the verdicts the same.

The TLS and SSH audits (CRYPTO-002...009), CRYPTO-010 and SURFACE-003 each keep
`policy.max_connections` connections open, and the run's TCP scan (made by whichever of
SURFACE-001, -005, -009 and CRYPTO-010 asks first) `policy.scan_concurrency`: they share
the `tls` lane, so that together they never open more than one of them would. CRYPTO-012
is there too: it listens where the device connects, and where the harness shares the
device's address (an emulator, a bench host) a scan running meanwhile would report the
listener as an unexpected port. AUTH-004 logs in on telnet ports, which small daemons
(busybox telnetd: a listen backlog of 1) accept one or two at a time: a scan or survey of
the same port meanwhile would stall its logins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.config import catalogue
from harness.config.profile import Profile
from harness.plugin.run_order import RESETS_DEVICE

LANES = ("tls", "network", "ssh", "http", "serial")  # tls: the connection-cap group below
CONSOLE = "console"

# The checks that open many connections at once or listen, kept to one lane (see above).
CONNECTION_CAP = frozenset(
    {f"CRYPTO-{n:03d}" for n in range(2, 11)}
    | {"SURFACE-001", "SURFACE-003", "SURFACE-005", "SURFACE-009", "CRYPTO-012", "AUTH-004"}
)  # fmt: skip
# Every ROBUST check may take a service down (that is what it looks for), and confirms
# the liveness of every service and the console around each case.
DISTURBS_DEVICE = (catalogue.Family.ROBUST, catalogue.Family.UPDATE)

_LANE_OF_INTERFACE = {
    "tls": "network",
    "network": "network",
    "mqtt": "network",
    "ssh": "ssh",
    "http": "http",
    "serial": "serial",
    "update": "network",
}


@dataclass(frozen=True)
class Placement:
    """Where one check runs and what it needs to itself meanwhile."""

    lane: str
    holds: frozenset[str] = frozenset()
    alone: bool = False


def place(check: catalogue.CheckSpec, params: Mapping[str, object], profile: Profile) -> Placement:
    """The placement of one collected check (`params`: its parametrization, if any)."""
    interface = params.get("interface")
    interfaces = (str(interface),) if isinstance(interface, str) else check.interfaces
    lane = "tls" if check.id in CONNECTION_CAP else _LANE_OF_INTERFACE[interfaces[0]]
    alone = check.id in RESETS_DEVICE or check.family in DISTURBS_DEVICE
    holds: set[str] = set()
    if "serial" in interfaces and profile.serial is not None:
        holds.add(CONSOLE)
        # It waits for the console's other checks anyway; in their lane it leaves its
        # own free (SURFACE-004 listens 2 s on the console while the UDP sweep runs).
        lane = "serial"
    if check.id == "AUTH-009" and isinstance(interface, str):
        account = getattr(profile.auth.lockout_account, interface, None)
        if account is not None:
            holds.add(f"account:{account.username}")
    return Placement(lane, frozenset(holds), alone)


def threads_for(lanes: int) -> dict[str, int]:
    """Which of `lanes` threads runs each lane (fewer threads than lanes: some share one)."""
    return {lane: index % max(1, lanes) for index, lane in enumerate(LANES)}
