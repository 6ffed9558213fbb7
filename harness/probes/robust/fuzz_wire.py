"""One fuzz case on the wire: connect, replay the recorded steps, send the mutated one.

Every byte goes through `transports.net` (scope checked before the connect, every byte
in the transcript); every read is bounded by the I/O timeout (recorded steps) or by the
answer window (the mutated message). After the mutated message a plain connection is
half-closed, so a device that waits for the rest of a message sees its end at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.robust.fuzz_corpus import Exchange
from harness.probes.robust.fuzz_plan import FuzzCase, Reach, control_case
from harness.transports import net

ANSWER_LIMIT = 1 << 16  # bytes of an answer read at most; the rest is left unread


@dataclass(frozen=True)
class FuzzTarget:
    """Where the cases go and how long each read may take."""

    scope: Scope
    host: str
    port: int
    server_name: str | None  # SNI for exchanges sent inside TLS
    io_timeout_s: float  # connect, TLS handshake, each recorded step's answer
    answer_s: float  # how long the mutated message's answer is read


@dataclass(frozen=True)
class Delivery:
    """What one case met on the wire."""

    case: int
    connected: bool  # the connection (and TLS session) was established
    steps_answered: int  # recorded steps before the mutated one that the device answered
    sent: bool  # the mutated message went out
    answer_bytes: int
    closed: bool  # the device closed (or reset) the connection within the answer window
    fault: str | None  # the connection or a recorded step failed: the device may be gone
    seconds: float

    @property
    def suspicious(self) -> bool:
        return self.fault is not None

    def describe(self) -> str:
        if self.fault is not None:
            return self.fault
        if not self.sent:
            return "closed before the mutated message went out"
        answered = f"answered {self.answer_bytes} bytes" if self.answer_bytes else "no answer"
        return f"{answered}, {'closed' if self.closed else 'left open'}"


def deliver(target: FuzzTarget, case: FuzzCase, transcript: Transcript) -> Delivery:
    """Send `case` on a fresh connection; a failure before the mutated message is a fault."""
    started = time.monotonic()
    what = "; ".join(case.mutations) or "as recorded"
    transcript.event(f"case {case.index}: {case.exchange.name} step {case.step + 1} ({what})")

    connected = False

    def done(answered: int, sent: bool, size: int, closed: bool, fault: str | None) -> Delivery:
        seconds = time.monotonic() - started
        return Delivery(case.index, connected, answered, sent, size, closed, fault, seconds)

    try:
        conn = net.connect(
            target.scope, target.host, target.port, timeout=target.io_timeout_s,
            transcript=transcript,
        )  # fmt: skip
    except DeviceError as exc:
        return done(0, False, 0, False, f"connect failed: {exc}")
    with conn:
        answered = 0
        try:
            if case.exchange.layer == "tls":
                net.start_tls(conn, target.server_name)
            connected = True
            for number, step in enumerate(case.prelude, 1):
                conn.send(step.data, f"recorded step {number}")
                if step.awaits_answer:
                    if not conn.recv(target.io_timeout_s):
                        return done(answered, False, 0, True, f"closed after step {number}")
                    answered += 1
        except DeviceError as exc:
            return done(answered, False, 0, False, f"recorded steps failed: {exc}")
        try:
            conn.send(case.message, f"mutated step {case.step + 1}")
        except DeviceError:
            return done(answered, False, 0, True, None)
        if case.exchange.layer == "tcp":
            conn.shutdown_write()
        size, closed = _answer(conn, target.answer_s)
        return done(answered, True, size, closed, None)


def _answer(conn: net.TcpConnection, window_s: float) -> tuple[int, bool]:
    """Bytes read within the window, and whether the device closed the connection."""
    deadline, size = Deadline(window_s), 0
    while size < ANSWER_LIMIT and not deadline.expired:
        try:
            chunk = conn.recv(deadline.remaining)
        except DeviceTimeout:
            break
        except DeviceError:  # reset, or a TLS alert on the way out
            return size, True
        if not chunk:
            return size, True
        size += len(chunk)
    return size, False


@dataclass(frozen=True)
class Control:
    """The positive control of one recorded exchange: sent unchanged, how far it got."""

    exchange: str
    delivery: Delivery
    reach: Reach | None  # None: the device took no step (connect or TLS failed)


def control(target: FuzzTarget, exchange: Exchange, transcript: Transcript) -> Control:
    """Send `exchange` as recorded. A device that closes after some step (an MQTT broker
    refusing anonymous clients) still took that step: cases mutate only the steps up to it."""
    delivery = deliver(target, control_case(exchange), transcript)
    if not delivery.connected:
        steps = 0
    elif delivery.sent:
        steps = len(exchange.steps)
    else:
        steps = delivery.steps_answered + 1
    return Control(exchange.name, delivery, Reach(exchange, steps) if steps else None)
