"""Default and common credentials, and trying them over SSH and the serial console.

(HTTP and telnet trials live in `http_auth` and `telnet`; they share `Pair`, `Attempt`,
`Trial` and the run-wide `LoginLedger` from here.)

The built-in list is our own compilation, bounded on purpose (a default-credential check
is not a brute-force attack). Sources:
- vendor documentation patterns for embedded Linux service accounts (`service`, `admin`,
  `root`, `maint`) as catalogued in CISA advisories on medical and ICS devices that ship
  hard-coded or default credentials (e.g. ICSMA advisories citing CWE-798 / CWE-1392);
- the Mirai botnet's credential table (2016), the most cited list of IoT factory defaults;
- OWASP's IoT Top 10 (I1, "weak, guessable or hardcoded passwords") examples.
A profile adds its own pairs with `auth.default_credentials`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout, DeviceUnreachable
from harness.core.redact import shown
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes import console as console_probe
from harness.transports.serial import Console
from harness.transports.ssh import SshSession


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Pair:
    username: str
    password: str = field(repr=False)
    source: str = "built-in"

    @property
    def shown(self) -> str:
        return f"{self.username} / {shown(self.password)}"


BUILT_IN: tuple[Pair, ...] = tuple(
    Pair(user, password)
    for user, password in (
        ("service", "service"),
        ("admin", "admin"),
        ("root", "root"),
        ("root", ""),
        ("admin", "password"),
        ("admin", "1234"),
        ("root", "toor"),
        ("service", "password"),
        ("maint", "maint"),
        ("user", "user"),
        ("support", "support"),
        ("root", "12345"),
    )
)


def candidate_pairs(
    extra: Iterable[Pair],
    per_account: int,
    spent: dict[str, int] | None = None,
    built_in: Iterable[Pair] = BUILT_IN,
) -> list[Pair]:
    """The profile's pairs first, then the built-in list; at most `per_account` per user name.

    `per_account` is `lockout_after_failures - 1`, so a non-destructive check never
    triggers a lockout on the device; `spent` holds the failures earlier checks of the
    run already caused per user name on the same interface (see `LoginLedger`).
    """
    chosen: list[Pair] = []
    counts: dict[str, int] = dict(spent or {})
    seen: set[tuple[str, str]] = set()
    for pair in (*extra, *built_in):
        key = (pair.username, pair.password)
        if key in seen or counts.get(pair.username, 0) >= per_account:
            continue
        seen.add(key)
        counts[pair.username] = counts.get(pair.username, 0) + 1
        chosen.append(pair)
    return chosen


@dataclass(frozen=True)
class Attempt:
    """One credential attempt, as evidence: the password only in redacted form."""

    interface: str
    username: str
    password_shown: str
    source: str
    accepted: bool
    latency_s: float
    detail: str
    at_s: float  # seconds since the check started
    decided: bool = True  # False: the answer was neither a refusal nor a session
    utc: str = field(default_factory=utc_now)  # to match against the device's own logs


@dataclass(frozen=True)
class Trial:
    """Every attempt made, and the device error that stopped the trial early, if any."""

    attempts: tuple[Attempt, ...]
    error: DeviceError | None = None
    server_banner: str = ""
    hits: tuple[Pair, ...] = field(default=(), repr=False)  # accepted pairs, for --reveal-secrets

    @property
    def accepted(self) -> tuple[Attempt, ...]:
        return tuple(a for a in self.attempts if a.accepted)

    @property
    def undecided(self) -> tuple[Attempt, ...]:
        return tuple(a for a in self.attempts if not a.decided)


class LoginLedger:
    """Login attempts the checks of one run made, per interface and user name.

    Each non-destructive check stays below the lockout threshold on its own; the ledger
    lets the next check on the same interface count the failures already caused, and see
    which user names an earlier check got in with.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], int] = {}
        self._accepted: dict[tuple[str, str], list[str]] = {}

    def record(self, interface: str, check_id: str, attempts: Iterable[Attempt]) -> None:
        with self._lock:
            for attempt in attempts:
                key = (interface, attempt.username)
                if attempt.accepted:
                    self._accepted.setdefault(key, []).append(
                        f"{check_id}: {attempt.username} / {attempt.password_shown}"
                    )
                else:
                    self._failures[key] = self._failures.get(key, 0) + 1

    def spent(self, interface: str) -> dict[str, int]:
        """Failures so far per user name on `interface`."""
        with self._lock:
            return {user: n for (where, user), n in self._failures.items() if where == interface}

    def accepted(self, interface: str, username: str) -> tuple[str, ...]:
        """Pairs earlier checks got in with, as `CHECK: user / pa***`."""
        with self._lock:
            return tuple(self._accepted.get((interface, username), ()))


def try_ssh(
    scope: Scope,
    host: str,
    port: int,
    pairs: Iterable[Pair],
    *,
    timeout: float,
    deadline: Deadline,
    transcript: Transcript,
) -> Trial:
    """Try each pair with password authentication; one connection per user name.

    OpenSSH drops a connection whose user name changes, so pairs are grouped by user,
    and a connection the server closes is reopened for the next pair. A device error
    ends the trial; the attempts made so far are kept.
    """
    attempts: list[Attempt] = []
    hits: list[Pair] = []
    banner = ""
    by_user: dict[str, list[Pair]] = {}
    for pair in pairs:
        by_user.setdefault(pair.username, []).append(pair)
    for user_pairs in by_user.values():
        session: SshSession | None = None
        try:
            for pair in user_pairs:
                if deadline.expired:
                    raise DeviceTimeout(
                        f"{host}:{port}", f"budget spent after {len(attempts)} attempts"
                    )
                reused = session is not None and session.active
                if session is None or not session.active:
                    if session is not None:
                        session.close()
                    session = SshSession(scope, host, port, timeout=timeout, transcript=transcript)
                    banner = session.server_version
                try:
                    result = session.try_password(
                        pair.username, pair.password, shown(pair.password)
                    )
                except DeviceUnreachable:
                    if not reused:
                        raise
                    # The server closed the connection after the last attempt (as OpenSSH
                    # does at MaxAuthTries): the same pair once more on a fresh connection.
                    session.close()
                    session = SshSession(scope, host, port, timeout=timeout, transcript=transcript)
                    result = session.try_password(
                        pair.username, pair.password, shown(pair.password)
                    )
                detail = result.detail
                if result.allowed_methods:
                    detail += f" (server offers: {', '.join(result.allowed_methods)})"
                attempts.append(
                    Attempt(
                        "ssh",
                        pair.username,
                        shown(pair.password),
                        pair.source,
                        result.accepted,
                        result.latency_s,
                        detail,
                        deadline.seconds - deadline.remaining,
                    )
                )
                if result.accepted:
                    hits.append(pair)
                    session.close()  # one session per accepted pair is all the evidence needed
                    session = None
        except DeviceError as exc:
            return Trial(tuple(attempts), exc, banner, tuple(hits))
        finally:
            if session is not None:
                session.close()
    return Trial(tuple(attempts), None, banner, tuple(hits))


def try_console(
    console: Console,
    prompts: console_probe.ConsolePrompts,
    pairs: Iterable[Pair],
    *,
    deadline: Deadline,
) -> Trial:
    """Type each pair at the console's login prompt; log out again after a successful one."""
    pairs = list(pairs)
    attempts: list[Attempt] = []
    try:
        console_probe.reach_login_prompt(console, prompts, deadline)
        for pair in pairs:
            _console_attempt(console, prompts, pair, deadline, attempts)
    except DeviceError as exc:
        return Trial(tuple(attempts), exc, hits=_hits(pairs, attempts))
    return Trial(tuple(attempts), hits=_hits(pairs, attempts))


def _hits(pairs: Iterable[Pair], attempts: list[Attempt]) -> tuple[Pair, ...]:
    accepted = {(a.username, a.password_shown) for a in attempts if a.accepted}
    return tuple(p for p in pairs if (p.username, shown(p.password)) in accepted)


def _console_attempt(
    console: Console,
    prompts: console_probe.ConsolePrompts,
    pair: Pair,
    deadline: Deadline,
    attempts: list[Attempt],
) -> None:
    login = console_probe.try_login(console, prompts, pair.username, pair.password, deadline)
    accepted = login.outcome is console_probe.LoginOutcome.SHELL
    detail = "shell prompt shown" if accepted else "login prompt returned"
    if login.password_echoed:
        detail += "; the password was echoed"
    attempts.append(
        Attempt(
            "serial",
            pair.username,
            login.password_shown,
            pair.source,
            accepted,
            login.latency_s,
            detail,
            deadline.seconds - deadline.remaining,
        )
    )
    if accepted:
        console_probe.log_out(console, prompts, deadline)
