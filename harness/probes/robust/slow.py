"""Slow requests (ROBUST-008): connections that send a request's headers a byte at a time,
while another client asks the service for a page.

Each slow connection sends its request line and Host header, then one byte of an endless
header every `interval_s` until `hold_s` has passed (inside TLS for https: a record per
byte). The other client is a normal GET, once as soon as every slow connection is
open (while the bytes trickle on) and once at the end of the hold: both must be answered.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.core.deadline import Deadline, pause
from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.robust.flood import ensure_descriptors, still_open
from harness.transports import http as http_transport
from harness.transports import net
from harness.transports.net import TcpConnection


@dataclass(frozen=True)
class SlowPlan:
    """How slow, how many, how long: the profile's policy."""

    connections: int
    interval_s: float
    hold_s: float


@dataclass(frozen=True)
class OtherClient:
    """The normal request made while the slow connections were held."""

    at_s: float  # seconds after the slow connections were opened
    answered: bool
    detail: str
    latency_s: float


@dataclass(frozen=True)
class SlowRun:
    """What the service did with the slow connections and the other client."""

    opened: int
    failed: int
    first_failure: str
    bytes_sent: int
    closed_by_device: int  # slow connections the device gave up on (a header timeout)
    first_closed_after_s: float | None
    others: tuple[OtherClient, ...]

    @property
    def starved(self) -> tuple[OtherClient, ...]:
        return tuple(o for o in self.others if not o.answered)

    def summary(self) -> str:
        closed = (
            f"the device closed {self.closed_by_device} (the first after "
            f"{self.first_closed_after_s:.1f}s)"
            if self.first_closed_after_s is not None
            else "the device closed none"
        )
        text = f"{self.opened} slow connections sent {self.bytes_sent} bytes; {closed}"
        if self.failed:
            text += f"; {self.failed} could not be opened ({self.first_failure})"
        return text


def _open(
    scope: Scope, url: str, timeout: float, transcript: Transcript, head: bytes
) -> TcpConnection:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn = net.connect(scope, parts.hostname or "", port, timeout=timeout, transcript=transcript)
    try:
        if parts.scheme == "https":
            net.start_tls(conn, None)
        conn.send(head, "request line and Host; the rest a byte at a time")
    except DeviceError:
        conn.close()
        raise
    return conn


def _other_client(
    scope: Scope, url: str, timeout: float, transcript: Transcript, began: float
) -> OtherClient:
    at = time.monotonic() - began
    started = time.monotonic()
    try:
        answer = http_transport.request(scope, "GET", url, timeout=timeout, transcript=transcript)
    except DeviceError as exc:
        return OtherClient(at, False, str(exc), time.monotonic() - started)
    return OtherClient(at, True, f"HTTP {answer.status}", time.monotonic() - started)


def slow_requests(
    scope: Scope,
    url: str,
    plan: SlowPlan,
    *,
    timeout: float,
    transcript: Transcript,
    other_transcript: Transcript,
    deadline: Deadline,
) -> SlowRun:
    """Hold `plan.connections` slow requests to `url` for `plan.hold_s`, asking for `url`
    normally meanwhile; every connection is closed at the end, however it ends."""
    ensure_descriptors(plan.connections)
    host = urlsplit(url).netloc
    head = f"GET / HTTP/1.1\r\nHost: {host}\r\nX-Medsec-Slow: ".encode()
    conns: list[TcpConnection] = []
    failed, first_failure = 0, ""
    closed_at: dict[int, float] = {}  # index of a connection -> when the device closed it
    try:
        for _ in range(plan.connections):
            try:
                conns.append(_open(scope, url, timeout, transcript, head))
            except DeviceError as exc:
                failed += 1
                first_failure = first_failure or str(exc)
        sent = len(head) * len(conns)
        began = time.monotonic()
        hold = Deadline(deadline.step(plan.hold_s))
        with ThreadPoolExecutor(1) as pool:  # the first other client asks while bytes trickle
            first = pool.submit(_other_client, scope, url, timeout, other_transcript, began)
            while not hold.expired:
                pause(hold.step(plan.interval_s))
                for index, conn in enumerate(conns):
                    if index in closed_at:
                        continue
                    if still_open(conn) and _one_byte(conn):
                        sent += 1
                    else:
                        closed_at[index] = time.monotonic() - began
            others = [first.result()]
        others.append(_other_client(scope, url, timeout, other_transcript, began))
    finally:
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
    first_closed = min(closed_at.values(), default=None)
    return SlowRun(
        len(conns), failed, first_failure, sent, len(closed_at), first_closed, tuple(others)
    )


def _one_byte(conn: TcpConnection) -> bool:
    try:
        conn.send(b"a", "one more byte")
    except DeviceError:
        return False
    return True
