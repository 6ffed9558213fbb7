"""The device's TCP exposure: open ports against the profile's expected set."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import net

MAX_GREETINGS = 32  # unexpected ports whose first bytes we record


@dataclass(frozen=True)
class PortExposure:
    """Open, unexpected and expected-but-closed TCP ports, with what unexpected ports said."""

    scan: net.ScanResult
    expected: tuple[int, ...]
    unexpected: tuple[int, ...]
    expected_closed: tuple[int, ...]
    greetings: tuple[tuple[int, str], ...]
    judged_elsewhere: tuple[tuple[int, str], ...] = ()  # (port, what and which check)


def tcp_exposure(
    scope: Scope,
    scan: net.ScanResult,
    expected: Iterable[int],
    *,
    connect_timeout: float,
    transcript: Transcript,
    judged_elsewhere: Mapping[int, str] | None = None,
) -> PortExposure:
    """Compare a scan with `expected`, and read the greeting of each unexpected port.

    A port in `judged_elsewhere` (port: what found it, e.g. SURFACE-005's debug
    services) is failed by that check and only listed here."""
    transcript.event(
        f"scanned {scan.ports_scanned} ports of {scan.address} in {scan.duration_s:.2f}s: "
        f"open {list(scan.open)}"
    )
    wanted = tuple(sorted(set(expected)))
    elsewhere = judged_elsewhere or {}
    unexpected = tuple(p for p in scan.open if p not in wanted and p not in elsewhere)
    greetings = tuple(
        (port, _greeting(scope, scan.host, port, connect_timeout, transcript))
        for port in unexpected[:MAX_GREETINGS]
    )
    return PortExposure(
        scan=scan,
        expected=wanted,
        unexpected=unexpected,
        expected_closed=tuple(p for p in wanted if p not in scan.open),
        greetings=greetings,
        judged_elsewhere=tuple(
            (p, elsewhere[p]) for p in scan.open if p not in wanted and p in elsewhere
        ),
    )


def _greeting(scope: Scope, host: str, port: int, timeout: float, transcript: Transcript) -> str:
    """The first bytes a port sends unasked (hex), or why there were none."""
    try:
        with net.connect(scope, host, port, timeout=min(timeout, 1.0), transcript=transcript) as c:
            data = c.recv()
    except DeviceError as exc:
        return f"(no greeting: {exc})"
    return data[:64].hex() if data else "(closed without a greeting)"
