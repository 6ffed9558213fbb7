"""Default and common credentials, and trying them over SSH and the serial console.

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

from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.deadline import Deadline
from harness.errors import DeviceError, DeviceTimeout
from harness.probes import console as console_probe
from harness.redact import shown
from harness.scope import Scope
from harness.transcript import Transcript
from harness.transports.serial import Console
from harness.transports.ssh import SshSession


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


def candidate_pairs(extra: Iterable[Pair], per_account: int) -> list[Pair]:
    """The profile's pairs first, then the built-in list; at most `per_account` per user name.

    `per_account` is `lockout_after_failures - 1`, so a non-destructive check never
    triggers a lockout on the device.
    """
    chosen: list[Pair] = []
    counts: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    for pair in (*extra, *BUILT_IN):
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


@dataclass(frozen=True)
class Trial:
    """Every attempt made, and the device error that stopped the trial early, if any."""

    attempts: tuple[Attempt, ...]
    error: DeviceError | None = None
    server_banner: str = ""

    @property
    def accepted(self) -> tuple[Attempt, ...]:
        return tuple(a for a in self.attempts if a.accepted)


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
                if session is None or not session.active:
                    if session is not None:
                        session.close()
                    session = SshSession(scope, host, port, timeout=timeout, transcript=transcript)
                    banner = session.server_version
                result = session.try_password(pair.username, pair.password, shown(pair.password))
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
                    session.close()  # one session per accepted pair is all the evidence needed
                    session = None
        except DeviceError as exc:
            return Trial(tuple(attempts), exc, banner)
        finally:
            if session is not None:
                session.close()
    return Trial(tuple(attempts), None, banner)


def try_console(
    console: Console,
    prompts: console_probe.ConsolePrompts,
    pairs: Iterable[Pair],
    *,
    deadline: Deadline,
) -> Trial:
    """Type each pair at the console's login prompt; log out again after a successful one."""
    attempts: list[Attempt] = []
    try:
        console_probe.reach_login_prompt(console, prompts, deadline)
        for pair in pairs:
            _console_attempt(console, prompts, pair, deadline, attempts)
    except DeviceError as exc:
        return Trial(tuple(attempts), exc)
    return Trial(tuple(attempts))


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
