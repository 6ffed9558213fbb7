"""Connection flood (ROBUST-005): many TCP connections to one port, opened at a capped
rate, held, then released.

Every connection goes through `net.connect` (scope-checked, in the transcript). A connect
that is refused or times out is counted, not retried: a device that sheds load that way
is defending itself. The process's file-descriptor limit is raised to fit the flood, or
the flood is refused before it starts.
"""

from __future__ import annotations

import contextlib
import resource
import time
from dataclasses import dataclass

from harness.core.deadline import Deadline, pause
from harness.core.errors import DeviceError, DeviceTimeout, inconclusive
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import net
from harness.transports.net import TcpConnection

SPARE_FILES = 128  # descriptors the harness keeps for everything else during a flood
DRAIN_READS = 4  # reads that may drain a greeting before a connection's state is known


@dataclass(frozen=True)
class FloodPlan:
    """How hard to flood: the profile's policy."""

    connections: int
    rate: float  # new connections per second, at most
    hold_s: float
    connect_timeout_s: float

    def duration_s(self) -> float:
        """The longest one port's flood takes: opening at the rate, then the hold."""
        return self.connections / self.rate + self.connect_timeout_s + self.hold_s


@dataclass(frozen=True)
class Flood:
    """What one port did under the flood."""

    port: int
    attempted: int
    opened: int  # connections the device accepted
    failed: int  # connects refused or timed out
    first_failure: str
    dropped: int  # accepted connections the device closed during the hold
    open_s: float  # how long opening took
    held_s: float

    def summary(self) -> str:
        text = (
            f"port {self.port}: {self.opened} of {self.attempted} connections accepted in "
            f"{self.open_s:.1f}s, held {self.held_s:.1f}s; the device closed {self.dropped}"
        )
        if self.failed:
            text += f"; {self.failed} connects failed (first: {self.first_failure})"
        return text


def ensure_descriptors(needed: int) -> None:
    """Raise the soft limit on open files to fit `needed` more, or end the check as error."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed + SPARE_FILES
    if soft >= wanted or soft == resource.RLIM_INFINITY:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        inconclusive(
            "flood",
            f"{needed} connections need {wanted} open files; this process may open {hard} "
            "(raise the hard limit, or lower policy.flood_connections)",
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def still_open(conn: TcpConnection) -> bool:
    """Whether the device keeps the connection (a greeting is read and recorded)."""
    for _ in range(DRAIN_READS):
        try:
            if not conn.recv(0.001):
                return False
        except DeviceTimeout:
            return True
        except DeviceError:
            return False
    return True


def flood(
    scope: Scope,
    host: str,
    port: int,
    plan: FloodPlan,
    *,
    timeout: float,
    transcript: Transcript,
    deadline: Deadline,
) -> Flood:
    """Open `plan.connections` to the port at most `plan.rate` per second, hold them
    `plan.hold_s`, close them all; bounded by `deadline` throughout."""
    ensure_descriptors(plan.connections)
    transcript.event(
        f"flood of port {port}: {plan.connections} connections at {plan.rate:g}/s, "
        f"held {plan.hold_s:g}s"
    )
    conns: list[TcpConnection] = []
    failed, first_failure, attempted = 0, "", 0
    started = time.monotonic()
    try:
        for index in range(plan.connections):
            time.sleep(max(0.0, started + index / plan.rate - time.monotonic()))
            if deadline.expired:
                break
            attempted += 1
            try:
                conns.append(
                    net.connect(
                        scope, host, port, timeout=timeout, transcript=transcript,
                        connect_timeout=max(deadline.step(plan.connect_timeout_s), 0.001),
                    )
                )  # fmt: skip
            except DeviceError as exc:
                failed += 1
                first_failure = first_failure or str(exc)
        opened_at = time.monotonic()
        pause(deadline.step(plan.hold_s))
        dropped = sum(not still_open(conn) for conn in conns)
        held = time.monotonic() - opened_at
    finally:
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
    transcript.event(f"flood of port {port} released: {len(conns)} connections closed")
    return Flood(
        port, attempted, len(conns), failed, first_failure, dropped, opened_at - started, held
    )
