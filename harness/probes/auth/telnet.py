"""Telnet: recognise a telnet service, negotiate options, and try credential pairs at its login.

The client refuses every option the server asks of it and lets the server echo and
suppress go-ahead; that is enough to reach a `login:` prompt on busybox telnetd,
inetutils and embedded stacks. A port that offers a shell without asking for a login is
reported as a pair "(no login)" that got in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from harness.config.profile import Network
from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout
from harness.core.redact import shown
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.auth.credentials import Attempt, LoginLedger, Pair, Trial, by_user
from harness.transports.net import TcpConnection, connect

TELNET_PORT = 23
IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
ECHO, SUPPRESS_GO_AHEAD = 1, 3
LOGIN = re.compile(rb"(?i)(login|username|user name)\s*:\s*$")
PASSWORD = re.compile(rb"(?i)password\s*:\s*$")
SHELL = re.compile(rb"[#$>%] ?$")
CONCURRENT_USERS = 4  # connections at once per port: a login prompt each, never a flood
MAX_TAIL = 64 * 1024


class TelnetSession:
    """One telnet connection: answers option negotiation, matches prompts at the output's end."""

    def __init__(self, conn: TcpConnection) -> None:
        self.conn = conn
        self._tail = b""
        self._pending = b""  # an incomplete command at the end of the last chunk

    def _feed(self, data: bytes) -> bytes:
        """Strip telnet commands from `data` (answering them); returns the text bytes."""
        data = self._pending + data
        self._pending = b""
        text = bytearray()
        replies = bytearray()
        i = 0
        while i < len(data):
            byte = data[i]
            if byte != IAC:
                text.append(byte)
                i += 1
                continue
            if i + 1 >= len(data):
                self._pending = data[i:]
                break
            command = data[i + 1]
            if command == IAC:
                text.append(IAC)
                i += 2
            elif command in (DO, DONT, WILL, WONT):
                if i + 2 >= len(data):
                    self._pending = data[i:]
                    break
                option = data[i + 2]
                if command == DO:
                    replies += bytes((IAC, WONT, option))
                elif command == WILL:
                    accept = option in (ECHO, SUPPRESS_GO_AHEAD)
                    replies += bytes((IAC, DO if accept else DONT, option))
                i += 3
            elif command == SB:
                end = data.find(bytes((IAC, SE)), i + 2)
                if end < 0:
                    self._pending = data[i:]
                    break
                i = end + 2
            else:
                i += 2
        if replies:
            self.conn.send(bytes(replies), "option replies")
        return bytes(text)

    def expect(
        self, patterns: Sequence[re.Pattern[bytes]], deadline: Deadline
    ) -> tuple[int, bytes]:
        """Wait until a pattern matches the end of the output: (index, output so far)."""
        while True:
            stripped = self._tail.rstrip(b"\x00")
            for index, pattern in enumerate(patterns):
                if pattern.search(stripped):
                    seen, self._tail = self._tail, b""
                    return index, seen
            if deadline.expired:
                raise DeviceTimeout(
                    self.conn.target, f"no prompt; last output {self._tail[-120:]!r}"
                )
            chunk = self.conn.recv(deadline.step(self.conn.timeout))
            if not chunk:
                return -1, self._tail  # the server closed the connection
            self._tail = (self._tail + self._feed(chunk))[-MAX_TAIL:]

    def line(self, text: bytes, note: str = "") -> None:
        self.conn.send(text.replace(bytes((IAC,)), bytes((IAC, IAC))) + b"\r\n", note)

    def secret_line(self, text: bytes, redacted: str) -> None:
        self.conn.send_secret(text.replace(bytes((IAC,)), bytes((IAC, IAC))) + b"\r\n", redacted)


def candidate_ports(network: Network) -> list[int]:
    """Ports that may speak telnet: those declared telnet, and 23 and every expected TCP port
    that no service declares as another protocol."""
    declared = {s.port: s.protocol for s in network.services}
    return sorted(
        {p for p, protocol in declared.items() if protocol == "telnet"}
        | {p for p in (TELNET_PORT, *network.expected_tcp) if declared.get(p, "other") == "other"}
    )


@dataclass(frozen=True)
class TelnetPort:
    """Whether a port speaks telnet, and why we think so."""

    port: int
    telnet: bool
    evidence: str


@dataclass(frozen=True)
class TelnetSurvey:
    """The candidate ports of a device and what each turned out to be."""

    candidates: tuple[int, ...]
    looked: tuple[TelnetPort, ...]

    @property
    def telnet_ports(self) -> list[int]:
        return [p.port for p in self.looked if p.telnet]


def survey(
    scope: Scope, network: Network, *, timeout: float, transcript: Transcript
) -> TelnetSurvey:
    """`identify` each of the network's candidate ports."""
    candidates = candidate_ports(network)
    looked = tuple(
        identify(scope, network.host, port, timeout=timeout, transcript=transcript)
        for port in candidates
    )
    return TelnetSurvey(tuple(candidates), looked)


def identify(
    scope: Scope, host: str, port: int, *, timeout: float, transcript: Transcript
) -> TelnetPort:
    """Connect and read: option negotiation (IAC) or a login prompt means telnet."""
    try:
        conn = connect(scope, host, port, timeout=timeout, transcript=transcript)
    except DeviceError as exc:
        return TelnetPort(port, False, f"no connection: {exc}")
    with conn:
        data = b""
        try:
            data = conn.recv(timeout)
            if data and not data.startswith(bytes((IAC,))) and not LOGIN.search(data.rstrip()):
                data += conn.recv(min(timeout, 1.0))
        except DeviceTimeout:
            pass
        if data.startswith(bytes((IAC,))) and len(data) > 1 and data[1] in (DO, DONT, WILL, WONT):
            return TelnetPort(port, True, "telnet option negotiation")
        if LOGIN.search(data.rstrip()):
            return TelnetPort(port, True, "a login prompt without negotiation")
        first = data[:40].decode("utf-8", "replace")
        return TelnetPort(port, False, f"first bytes {first!r}" if data else "silent")


def try_ports(
    scope: Scope,
    host: str,
    ports: Iterable[int],
    ledger: LoginLedger,
    extra: Iterable[Pair],
    *,
    check_id: str,
    lockout_after_failures: int,
    timeout: float,
    transcript: Transcript,
) -> Trial:
    """`try_pairs` on each port, with the pairs the ledger still allows there; one trial of all.

    Each port is its own interface in the ledger (`telnet:PORT`): an account locks per
    service. Every port is tried even after a device error on an earlier one.
    """
    extra = list(extra)
    trials = []
    for port in ports:
        interface = f"telnet:{port}"
        pairs = ledger.candidates(interface, extra, lockout_after_failures)
        trial = try_pairs(
            scope,
            host,
            port,
            pairs,
            timeout=timeout,
            deadline=Deadline(timeout * (len(pairs) + 2)),
            transcript=transcript,
        )
        ledger.record(interface, check_id, trial.attempts)
        trials.append(trial)
    return Trial.joined(trials)


def try_pairs(
    scope: Scope,
    host: str,
    port: int,
    pairs: Iterable[Pair],
    *,
    timeout: float,
    deadline: Deadline,
    transcript: Transcript,
) -> Trial:
    """Each pair at the login prompt: one connection per user name, a few users at once."""
    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENT_USERS) as pool:
        per_user = Trial.joined(
            pool.map(
                lambda user_pairs: _try_user(
                    scope, host, port, user_pairs, timeout, deadline, transcript, started
                ),
                by_user(pairs).values(),
            )
        )
    return replace(per_user, attempts=tuple(sorted(per_user.attempts, key=lambda a: a.at_s)))


def _try_user(
    scope: Scope,
    host: str,
    port: int,
    pairs: list[Pair],
    timeout: float,
    deadline: Deadline,
    transcript: Transcript,
    started: float,
) -> Trial:
    attempts: list[Attempt] = []
    hits: list[Pair] = []
    session: TelnetSession | None = None
    try:
        for pair in pairs:
            if session is None:
                conn = connect(scope, host, port, timeout=timeout, transcript=transcript)
                session = TelnetSession(conn)
                index, _ = session.expect([LOGIN, SHELL], Deadline(deadline.step(timeout)))
                if index == 1:
                    no_login = Pair("(no login)", "", "none")
                    detail = "shell prompt at connect"
                    attempts.append(_attempt(no_login, True, 0.0, detail, started))
                    return Trial(tuple(attempts), hits=tuple(hits))
            session.line(pair.username.encode(), "user name")
            at = time.monotonic()
            index, _ = session.expect([PASSWORD, SHELL, LOGIN], Deadline(deadline.step(timeout)))
            if index == 0:
                session.secret_line(pair.password.encode(), f"password {shown(pair.password)}")
                at = time.monotonic()
                index, _ = session.expect([SHELL, LOGIN], Deadline(deadline.step(timeout)))
                index = {0: 1, 1: 2, -1: -1}[index]
            latency = time.monotonic() - at
            accepted = index == 1
            detail = {1: "shell prompt", 2: "login prompt returned", -1: "connection closed"}.get(
                index, ""
            )
            attempts.append(_attempt(pair, accepted, latency, detail, started))
            if accepted:
                hits.append(pair)
            if accepted or index == -1:
                session.conn.close()
                session = None
    except DeviceError as exc:
        return Trial(tuple(attempts), exc, hits=tuple(hits))
    finally:
        if session is not None:
            session.conn.close()
    return Trial(tuple(attempts), hits=tuple(hits))


def _attempt(pair: Pair, accepted: bool, latency: float, detail: str, started: float) -> Attempt:
    return Attempt.of("telnet", pair, accepted, latency, detail, time.monotonic() - started)
