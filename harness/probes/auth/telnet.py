"""Telnet: recognise a telnet service, negotiate options, and try credential pairs at its login.

The client refuses every option the server asks of it and lets the server echo and
suppress go-ahead; that is enough to reach a `login:` prompt on busybox telnetd,
inetutils and embedded stacks. A port that offers a shell without asking for a login is
reported as a pair "(no login)" that got in.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from harness.config.profile import Network
from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout, ProtocolViolation
from harness.core.redact import shown
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.auth.credentials import (
    Attempt,
    LoginLedger,
    NewTranscript,
    Pair,
    Trial,
    by_user,
)
from harness.probes.auth.services import candidate_ports as candidate_ports_for
from harness.transports.net import TcpConnection, connect

TELNET_PORT = 23
IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
ECHO, SUPPRESS_GO_AHEAD = 1, 3
LOGIN = re.compile(rb"(?i)(login|username|user name)\s*:\s*$")
PASSWORD = re.compile(rb"(?i)password\s*:\s*$")
# What a login program prints when it turns a pair down (busybox: "Login incorrect").
REFUSAL = re.compile(rb"(?i)incorrect|invalid|denied|fail|wrong|not allowed")
SHELL = re.compile(rb"[#$>%] ?$")
# Connections at once per port. busybox telnetd listens with a backlog of 1: beyond two
# pending connections the kernel drops the handshake's last ACK and the device sees the
# connection seconds later (SYN-ACK retransmission), past a login's timeout.
CONCURRENT_USERS = 2
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
    return candidate_ports_for(network, "telnet", TELNET_PORT)


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
    scope: Scope, network: Network, *, timeout: float, new_transcript: NewTranscript
) -> TelnetSurvey:
    """`identify` each of the network's candidate ports, each on its own transcript."""
    candidates = candidate_ports(network)
    looked = tuple(
        identify(
            scope,
            network.host,
            port,
            timeout=timeout,
            transcript=new_transcript(f"is {network.host}:{port} telnet?"),
        )
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
    new_transcript: NewTranscript,
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
            deadline=Deadline(timeout * (2 * len(pairs) + 2)),
            new_transcript=new_transcript,
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
    new_transcript: NewTranscript,
) -> Trial:
    """Each pair at the login prompt: one connection per user name, a few users at once,
    every connection on a transcript of its own."""
    started = time.monotonic()
    connections = itertools.count(1)

    def user_trial(user_pairs: list[Pair]) -> Trial:
        user = user_pairs[0].username

        def open_session() -> TelnetSession:
            label = f"telnet {host}:{port}, connection {next(connections)} (user {user})"
            transcript = new_transcript(label)
            return TelnetSession(connect(scope, host, port, timeout=timeout, transcript=transcript))

        trial = _UserTrial(f"{host}:{port}", open_session, timeout, deadline, started)
        return trial.run(user_pairs)

    with ThreadPoolExecutor(CONCURRENT_USERS) as pool:
        per_user = Trial.joined(pool.map(user_trial, by_user(pairs).values()))
    return replace(per_user, attempts=tuple(sorted(per_user.attempts, key=lambda a: a.at_s)))


class _Dropped(Exception):
    """The connection closed before the password was typed: the pair was not tried."""


class _UserTrial:
    """The pairs of one user name, on one connection reopened whenever the server closes it.

    A connection that closes before the password is typed costs no attempt, so the pair
    is tried once more on a fresh connection; one that closes after the password without
    a refusal leaves the pair undecided (a login that died is not a login refused).
    """

    def __init__(
        self,
        target: str,
        open_session: Callable[[], TelnetSession],
        timeout: float,
        deadline: Deadline,
        started: float,
    ) -> None:
        self._target = target
        self._open = open_session
        self._timeout = timeout
        self._deadline = deadline
        self._started = started
        self._session: TelnetSession | None = None
        self.attempts: list[Attempt] = []
        self.hits: list[Pair] = []

    def _step(self) -> Deadline:
        return Deadline(self._deadline.step(self._timeout))

    def run(self, pairs: list[Pair]) -> Trial:
        try:
            for pair in pairs:
                if not self._try(pair):
                    break  # a shell without any login: every pair would get in
        except DeviceError as exc:
            return Trial(tuple(self.attempts), exc, hits=tuple(self.hits))
        finally:
            self._close()
        return Trial(tuple(self.attempts), hits=tuple(self.hits))

    def _try(self, pair: Pair) -> bool:
        """Try `pair` (a second time if the connection dropped first); False: no login at all."""
        for last in (False, True):
            try:
                session = self._login_prompt()
            except _Dropped:
                if last:
                    raise ProtocolViolation(
                        self._target, "a second connection closed before a login prompt too"
                    ) from None
                continue
            if session is None:
                no_login = Pair("(no login)", "", "none")
                self._record(no_login, True, 0.0, "shell prompt at connect")
                return False
            try:
                self._attempt(session, pair)
                return True
            except _Dropped as exc:
                self._close()
                if last:
                    self._record(pair, False, 0.0, f"{exc} (twice): not tried", decided=False)
                    return True
        return True

    def _login_prompt(self) -> TelnetSession | None:
        """The session, at its login prompt; None when it shows a shell without any login."""
        if self._session is not None:
            return self._session
        session = self._session = self._open()
        index, _ = session.expect([LOGIN, SHELL], self._step())
        if index == -1:
            self._close()
            raise _Dropped("the connection closed before a login prompt")
        return None if index == 1 else session

    def _attempt(self, session: TelnetSession, pair: Pair) -> None:
        session.line(pair.username.encode(), "user name")
        at = time.monotonic()
        index, seen = session.expect([PASSWORD, SHELL, LOGIN], self._step())
        if index == -1:
            raise _Dropped(f"the connection closed after the user name: {_tail(seen)}")
        if index == 1:
            self._record(pair, True, time.monotonic() - at, "shell prompt before any password")
            self._close()
            return
        if index == 2:
            self._record(
                pair, False, time.monotonic() - at, "login prompt returned, no password asked"
            )
            return
        session.secret_line(pair.password.encode(), f"password {shown(pair.password)}")
        at = time.monotonic()
        index, seen = session.expect([SHELL, LOGIN], self._step())
        latency = time.monotonic() - at
        if index == 0:
            self._record(pair, True, latency, "shell prompt")
            self._close()
        elif index == 1:
            self._record(pair, False, latency, "login prompt returned")
        elif REFUSAL.search(seen):
            self._record(
                pair, False, latency, f"refused ({_tail(seen)}), then the connection closed"
            )
            self._close()
        else:
            closed = f"the connection closed {latency * 1000:.0f} ms after the password"
            detail = f"{closed} without a refusal: {_tail(seen)}"
            self._record(pair, False, latency, detail, decided=False)
            self._close()

    def _record(
        self, pair: Pair, accepted: bool, latency: float, detail: str, *, decided: bool = True
    ) -> None:
        at_s = time.monotonic() - self._started
        self.attempts.append(
            Attempt.of("telnet", pair, accepted, latency, detail, at_s, decided=decided)
        )
        if accepted:
            self.hits.append(pair)

    def _close(self) -> None:
        if self._session is not None:
            self._session.conn.close()
            self._session = None


def _tail(output: bytes) -> str:
    """The last line or so the server printed, for the evidence."""
    text = output.rstrip(b"\x00").decode("utf-8", "replace").strip()
    return repr(text[-80:]) if text else "nothing printed"
