"""Malformed-input cases, what the device did with each, and the loop that runs them.

A `Case` is one malformed or oversized input (its bytes are the reproducer); a `Reply`
is the device's reaction on that connection: an answer, a close, or silence. Each
family judges a reply with its own rule (`Judge`). `run_cases` sends the cases one at a
time, confirms liveness after each, and stops at the first case after which the device
did not answer (unless the profile says go on) or when the check's budget is spent.
"""

from __future__ import annotations

import enum
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.liveness import Liveness
from harness.transports import net
from harness.transports.net import TcpConnection

MAX_REPLY = 64 * 1024  # bytes of a reaction kept; the rest is not read
INCOMPLETE_WAIT_S = 0.2  # how long a reaction to an input that is not finished is awaited


class Reaction(str, enum.Enum):
    ANSWERED = "answered"  # bytes came back (and the connection may have closed after)
    CLOSED = "closed"  # closed or reset without a byte
    SILENT = "silent"  # neither a byte nor a close within the wait
    REFUSED = "refused"  # no connection: the case was never delivered


@dataclass(frozen=True)
class Case:
    """One input and what is wrong with it.

    `complete` is False for an input that stops short (a record or a request cut off): a
    device may rightly wait for the rest, so silence is not held against it.
    `well_formed` marks an input that is only large, not malformed: a device may also
    answer it normally.
    """

    name: str
    description: str
    payload: bytes = field(repr=False)
    target: str = ""  # the service (or interface) it is sent to
    complete: bool = True
    well_formed: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()

    def record(self) -> dict[str, object]:
        """What the evidence says about the case (its bytes go to a reproducer file)."""
        return {
            "name": self.name,
            "target": self.target,
            "description": self.description,
            "bytes": len(self.payload),
            "sha256": self.sha256,
            "complete": self.complete,
        }


@dataclass(frozen=True)
class Reply:
    """The device's reaction to one case."""

    reaction: Reaction
    data: bytes = field(default=b"", repr=False)  # the first MAX_REPLY bytes it sent
    closed: bool = False  # it closed the connection (after answering, or at once)
    elapsed_s: float = 0.0
    detail: str = ""  # what the bytes mean to the protocol ("TLS alert 50", "HTTP 400")
    accepted: bool = False  # the device took the input as valid (a login opened a session)

    def shown(self) -> str:
        text = self.reaction.value
        if self.reaction is Reaction.ANSWERED:
            text += f" {len(self.data)} bytes" + (", then closed" if self.closed else "")
        if self.detail:
            text += f": {self.detail}"
        return f"{text} ({self.elapsed_s:.2f}s)"


Judge = Callable[[Case, Reply], "str | None"]  # a family's rule: the problem, or None


def read_reaction(
    conn: TcpConnection,
    wait_s: float,
    enough: Callable[[bytes], bool] = lambda data: False,
) -> tuple[bytes, bool]:
    """What the device sends within `wait_s` (stopping early once `enough` says so), and
    whether it closed the connection; at most MAX_REPLY bytes."""
    deadline = Deadline(wait_s)
    data = b""
    while len(data) < MAX_REPLY and not enough(data):
        if deadline.expired:
            return data, False
        try:
            chunk = conn.recv(max(deadline.step(conn.timeout), 0.001))
        except DeviceTimeout:
            return data, False
        except DeviceError:
            return data, True  # a failed receive: the connection is gone
        if not chunk:
            return data, True
        data += chunk
    return data[:MAX_REPLY], False


def deliver(
    conn: TcpConnection,
    case: Case,
    *,
    timeout: float,
    enough: Callable[[bytes], bool] = lambda data: False,
    describe: Callable[[bytes], str] = lambda data: "",
) -> Reply:
    """Send the case on `conn` and read the reaction: up to `timeout` for a complete
    input, `INCOMPLETE_WAIT_S` for one that stops short."""
    started = time.monotonic()
    wait = timeout if case.complete else min(timeout, INCOMPLETE_WAIT_S)
    try:
        conn.send(case.payload, case.name)
    except DeviceTimeout:
        return Reply(Reaction.SILENT, b"", False, time.monotonic() - started, "stopped reading")
    except DeviceError as exc:  # closed or reset while the case was sent: read what came
        conn.transcript.event(f"the device hung up during the send: {exc}")
    data, closed = read_reaction(conn, wait, enough)
    elapsed = time.monotonic() - started
    if data:
        return Reply(Reaction.ANSWERED, data, closed, elapsed, describe(data))
    return Reply(Reaction.CLOSED if closed else Reaction.SILENT, b"", closed, elapsed)


def exchange(
    scope: Scope,
    host: str,
    port: int,
    case: Case,
    *,
    timeout: float,
    transcript: Transcript,
    tls: bool = False,
    server_name: str | None = None,
    enough: Callable[[bytes], bool] = lambda data: False,
    describe: Callable[[bytes], str] = lambda data: "",
) -> Reply:
    """The case on a fresh connection (inside TLS with `tls`), and the reaction to it;
    REFUSED when the connection (or its TLS handshake) could not be made."""
    try:
        conn = net.connect(scope, host, port, timeout=timeout, transcript=transcript)
    except DeviceError as exc:
        return Reply(Reaction.REFUSED, detail=str(exc))
    with conn:
        if tls:
            try:
                net.start_tls(conn, server_name)
            except DeviceError as exc:
                return Reply(Reaction.REFUSED, detail=str(exc))
        return deliver(conn, case, timeout=timeout, enough=enough, describe=describe)


@dataclass(frozen=True)
class CaseResult:
    """One case, the device's reaction, what was wrong with it, and the liveness after."""

    case: Case
    reply: Reply
    problem: str | None
    liveness: Liveness

    @property
    def delivered(self) -> bool:
        return self.reply.reaction is not Reaction.REFUSED

    @property
    def killed(self) -> bool:
        """The device (or one of its services) did not answer after this case."""
        return not self.liveness.alive

    def record(self) -> dict[str, object]:
        return {
            **self.case.record(),
            "reaction": self.reply.reaction.value,
            "reply": self.reply.shown(),
            "reply_head": self.reply.data[:64].hex(),
            "problem": self.problem,
            "liveness": self.liveness.summary(),
            "back_after_s": self.liveness.back_after_s,
        }


@dataclass(frozen=True)
class Trial:
    """Every case that ran, in order, and those that did not with the reason."""

    results: tuple[CaseResult, ...]
    not_run: tuple[str, ...] = ()
    stopped: str = ""

    @property
    def killers(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if r.killed)

    @property
    def misbehaved(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if r.problem is not None)

    @property
    def undelivered(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.delivered)


Attempt = Callable[[Case], Reply]  # sends the case, returns the device's reaction


@dataclass(frozen=True)
class Planned:
    """A case, how it is sent, and the rule its reaction is judged by."""

    case: Case
    send: Attempt = field(compare=False)
    judge: Judge = field(compare=False)


def plan(cases: Sequence[Case], send: Attempt, judge: Judge) -> list[Planned]:
    """Cases that share one way of sending and one rule."""
    return [Planned(case, send, judge) for case in cases]


def run_cases(
    planned: Sequence[Planned],
    alive: Callable[[], Liveness],
    *,
    stop_at_first_failure: bool,
    deadline: Deadline,
) -> Trial:
    """Each case, then liveness; stop after a case the device did not survive (unless
    `stop_at_first_failure` is False) or when `deadline` has passed."""
    results: list[CaseResult] = []
    for index, item in enumerate(planned):
        rest = tuple(p.case.name for p in planned[index:])
        if deadline.expired:
            return Trial(tuple(results), rest, "the check's time budget ran out")
        try:
            reply = item.send(item.case)
        except DeviceError as exc:  # e.g. a console that showed no prompt before the case
            reply = Reply(Reaction.REFUSED, detail=str(exc))
        problem = item.judge(item.case, reply) if reply.reaction is not Reaction.REFUSED else None
        result = CaseResult(item.case, reply, problem, alive())
        results.append(result)
        if result.killed and stop_at_first_failure and rest[1:]:
            return Trial(tuple(results), rest[1:], f"the device did not survive {item.case.name}")
    return Trial(tuple(results))
