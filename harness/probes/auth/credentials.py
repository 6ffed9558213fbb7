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
import functools
import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout, not_applicable
from harness.core.redact import shown
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes import console as console_probe
from harness.probes.auth.ssh_passwords import PasswordConnection
from harness.transports.serial import Console
from harness.transports.ssh import SshSession

# A fresh transcript for each connection of a multi-connection probe, given its label, so
# connections made at once are never interleaved in one record.
NewTranscript = Callable[[str], Transcript]


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


def default_password(username: str, extra: Iterable[Pair]) -> str:
    """The first default password known for `username` (the profile's, then built-in); "admin"."""
    known = [p.password for p in (*extra, *BUILT_IN) if p.username == username]
    return known[0] if known else "admin"


def by_user(pairs: Iterable[Pair]) -> dict[str, list[Pair]]:
    """The pairs grouped by user name, in order (a connection per user name)."""
    grouped: dict[str, list[Pair]] = {}
    for pair in pairs:
        grouped.setdefault(pair.username, []).append(pair)
    return grouped


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

    @classmethod
    def of(
        cls,
        interface: str,
        pair: Pair,
        accepted: bool,
        latency_s: float,
        detail: str,
        at_s: float,
        *,
        decided: bool = True,
    ) -> Attempt:
        """The attempt of `pair`, its password redacted."""
        return cls(
            interface,
            pair.username,
            shown(pair.password),
            pair.source,
            accepted,
            latency_s,
            detail,
            at_s,
            decided,
        )


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

    @classmethod
    def joined(cls, trials: Iterable[Trial]) -> Trial:
        """One trial of all the attempts and hits, in order; the first error, if any."""
        trials = list(trials)
        errors = [t.error for t in trials if t.error is not None]
        return cls(
            tuple(a for t in trials for a in t.attempts),
            errors[0] if errors else None,
            hits=tuple(p for t in trials for p in t.hits),
        )


@dataclass(frozen=True)
class AccountBudget:
    """What one account may still be tried with on one interface, below the lockout threshold."""

    pairs: tuple[Pair, ...]  # not tried earlier in the run, as many as the budget allows
    spent: int  # failures earlier checks of the run caused on the account
    earlier_accepted: tuple[str, ...]  # `CHECK: user / pa***` of earlier checks that got in


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

    def candidates(
        self, interface: str, extra: Iterable[Pair], lockout_after_failures: int
    ) -> list[Pair]:
        """The pairs `interface` can still take per user name without locking an account.

        Not applicable (raises NotApplicable) when the threshold is a single failure.
        """
        per_account = lockout_after_failures - 1
        if per_account < 1:
            not_applicable("lockout_after_failures is 1: any wrong attempt would lock the account")
        return candidate_pairs(extra, per_account, self.spent(interface))

    def remaining(
        self,
        interface: str,
        username: str,
        extra: Iterable[Pair],
        lockout_after_failures: int,
        *,
        profiled_password: bool = False,
    ) -> AccountBudget:
        """The candidate pairs of `username` that earlier checks have not tried, within budget.

        Earlier checks tried the candidates in order, so as many as they failed with are
        skipped; `profiled_password` keeps one failure back for the profiled password,
        which the caller tries too.
        """
        per_account = lockout_after_failures - 1
        spent = self.spent(interface).get(username, 0)
        left = per_account - spent - (1 if profiled_password else 0)
        own = [p for p in candidate_pairs(extra, per_account) if p.username == username]
        untried = own[min(spent, len(own)) :]
        return AccountBudget(
            tuple(untried[: max(0, left)]), spent, self.accepted(interface, username)
        )


def try_ssh(
    scope: Scope,
    host: str,
    port: int,
    pairs: Iterable[Pair],
    *,
    timeout: float,
    deadline: Deadline,
    new_transcript: NewTranscript,
) -> Trial:
    """Try each pair with password authentication; one connection per user name, each on
    a transcript of its own.

    A connection the server closes is reopened for the next pair (`PasswordConnection`).
    A device error ends the trial; the attempts made so far are kept.
    """
    attempts: list[Attempt] = []
    hits: list[Pair] = []
    banner = ""
    connections = itertools.count(1)

    def connect(user: str) -> SshSession:
        nonlocal banner
        label = f"SSH {host}:{port}, connection {next(connections)} (user {user})"
        transcript = new_transcript(label)
        session = SshSession(scope, host, port, timeout=timeout, transcript=transcript)
        banner = session.server_version
        return session

    try:
        for user, user_pairs in by_user(pairs).items():
            with PasswordConnection(functools.partial(connect, user)) as connection:
                for pair in user_pairs:
                    if deadline.expired:
                        raise DeviceTimeout(
                            f"{host}:{port}", f"budget spent after {len(attempts)} attempts"
                        )
                    result = connection.try_password(
                        pair.username, pair.password, shown(pair.password)
                    )
                    if result.method == "none":  # in without a password: that is the finding
                        pair = replace(pair, password="")
                    detail = result.detail
                    if result.allowed_methods:
                        detail += f" (server offers: {', '.join(result.allowed_methods)})"
                    at_s = deadline.seconds - deadline.remaining
                    attempts.append(
                        Attempt.of("ssh", pair, result.accepted, result.latency_s, detail, at_s)
                    )
                    if result.accepted:
                        hits.append(pair)
                    if result.method == "none":
                        break  # the user's other passwords would only say the same
    except DeviceError as exc:
        return Trial(tuple(attempts), exc, banner, tuple(hits))
    return Trial(tuple(attempts), None, banner, tuple(hits))


def try_console(
    console: Console,
    prompts: console_probe.ConsolePrompts,
    pairs: Iterable[Pair],
    *,
    deadline: Deadline,
) -> Trial:
    """Type each pair at the console's login prompt; log out again after a successful one."""
    attempts: list[Attempt] = []
    hits: list[Pair] = []
    try:
        console_probe.reach_login_prompt(console, prompts, deadline)
        for pair in pairs:
            login = console_probe.try_login(
                console, prompts, pair.username, pair.password, deadline
            )
            detail = "shell prompt shown" if login.accepted else "login prompt returned"
            if not login.password_asked:
                detail += " before any password prompt (no password typed)"
            if login.password_echoed:
                detail += "; the password was echoed"
            at_s = deadline.seconds - deadline.remaining
            attempts.append(
                Attempt.of("serial", pair, login.accepted, login.latency_s, detail, at_s)
            )
            if login.accepted:
                hits.append(pair)
                console_probe.log_out(console, prompts, deadline)
    except DeviceError as exc:
        return Trial(tuple(attempts), exc, hits=tuple(hits))
    return Trial(tuple(attempts), hits=tuple(hits))
