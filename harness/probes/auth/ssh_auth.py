"""SSH authentication posture: methods offered, root login, privileges, lockout attempts.

Every function opens its own connection(s) through `SshSession`, which checks scope and
bounds each I/O by the profile's timeout.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

import paramiko

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout
from harness.core.redact import Secret, reveal, shown
from harness.core.transcript import Transcript
from harness.probes.auth.credentials import Attempt, NewTranscript, Pair, Trial
from harness.probes.auth.lockout import LoginTry
from harness.probes.auth.ssh_passwords import PasswordConnection
from harness.transports.ssh import AuthResult, ConnectionClosed, SshSession, SshTarget


@dataclass(frozen=True)
class MethodsFinding:
    """What one connection learnt about authentication."""

    banner: str
    none_accepted: bool
    offered: tuple[str, ...]
    untrusted_key_tried: bool
    untrusted_key_accepted: bool
    untrusted_key: str = ""  # type and fingerprint of the fresh key offered

    def problems(self, expected: AbstractSet[str]) -> tuple[str, ...]:
        """How the offered methods and the untrusted key's fate differ from `expected`."""
        problems = []
        offered = set(self.offered)
        if offered != expected:
            extra, missing = sorted(offered - expected), sorted(expected - offered)
            problems.append(
                f"offers {sorted(offered)}, policy wants {sorted(expected)}"
                + (f" (extra: {extra})" if extra else "")
                + (f" (missing: {missing})" if missing else "")
            )
        if self.untrusted_key_accepted:
            problems.append("a key the device has never seen was accepted")
        return tuple(problems)


def auth_methods(target: SshTarget, transcript: Transcript) -> MethodsFinding:
    """`none` for the profiled user, then a freshly generated key the device cannot trust."""
    with target.connect(transcript) as session:
        none = session.try_none(target.username)
        banner = session.server_version
        if none.accepted:
            return MethodsFinding(banner, True, (), False, False)
        offered = none.allowed_methods
        if "publickey" not in offered:
            return MethodsFinding(banner, False, offered, False, False)
        key = _fresh_key()
        result = session.try_key(target.username, key, "a freshly generated key")
        label = f"{key.get_name()} {key.fingerprint}"
        return MethodsFinding(banner, False, offered, True, result.accepted, label)


def _fresh_key() -> paramiko.PKey:
    import io

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


@dataclass(frozen=True)
class RootTrial:
    """Root login attempts; `uid` is what `id -u` printed in a session that was let in."""

    trial: Trial
    uid: str = ""


def try_root(
    target: SshTarget,
    pairs: Iterable[Pair],
    *,
    deadline: Deadline,
    new_transcript: NewTranscript,
) -> RootTrial:
    """As `root`: the profiled key, the profiled password, then `pairs`, reconnecting as
    needed, each connection on a transcript of its own."""
    steps: list[tuple[str, paramiko.PKey | Pair]] = []
    key = target.load_key()
    if key is not None:
        steps.append(("profiled key", key))
    if target.password:
        steps.append(("profiled password", Pair("root", reveal(target.password), "profile")))
    steps += [(pair.source, pair) for pair in pairs]
    attempts: list[Attempt] = []
    hits: list[Pair] = []
    uid = ""
    session: SshSession | None = None
    started = time.monotonic()
    connections = itertools.count(1)

    def reconnect() -> SshSession:
        if session is not None:
            session.close()
        label = f"SSH {target}, connection {next(connections)} (user root)"
        return target.connect(new_transcript(label))

    def attempt(on: SshSession, secret: paramiko.PKey | Pair) -> AuthResult:
        if isinstance(secret, Pair):
            return on.try_password("root", secret.password, shown(secret.password))
        return on.try_key("root", secret, "the profiled key")

    try:
        for source, secret in steps:
            if deadline.expired:
                raise DeviceTimeout(f"{target.host}:{target.port}", "budget spent")
            fresh = session is None or not session.active
            if fresh:
                session = reconnect()
            assert session is not None
            try:
                result = attempt(session, secret)
            except ConnectionClosed:  # hung up unanswered (MaxAuthTries): once more, anew
                if fresh:
                    raise
                session = reconnect()
                result = attempt(session, secret)
            if result.method == "none" and isinstance(secret, Pair):
                secret = replace(secret, password="")  # in without a password: the finding
            secret_shown = (
                shown(secret.password) if isinstance(secret, Pair) else f"key {secret.fingerprint}"
            )
            detail = result.detail or result.method
            if result.accepted:
                if isinstance(secret, Pair):
                    hits.append(secret)
                _, out = session.run("id -u")
                uid = out.strip()
                how = result.detail or result.method
                detail = f"session opened ({how}); id -u: {uid or '(nothing)'}"
                session.close()
                session = None
            attempts.append(
                Attempt(
                    "ssh",
                    "root",
                    secret_shown,
                    source,
                    result.accepted,
                    result.latency_s,
                    detail,
                    time.monotonic() - started,
                )
            )
            if result.method == "none":
                break  # root needs no password: the other passwords would say the same
    except DeviceError as exc:
        return RootTrial(Trial(tuple(attempts), exc, hits=tuple(hits)), uid)
    finally:
        if session is not None:
            session.close()
    return RootTrial(Trial(tuple(attempts), hits=tuple(hits)), uid)


@dataclass(frozen=True)
class CommandRun:
    command: str
    status: int  # the command's exit status
    output: str

    @property
    def executed(self) -> bool:
        return self.status == 0


@dataclass(frozen=True)
class PrivilegeFinding:
    """The profiled account's uid, and what each privileged command did."""

    uid: str  # as `id -u` printed it
    runs: tuple[CommandRun, ...]

    @property
    def root(self) -> bool:
        return self.uid == "0"


def run_commands(
    target: SshTarget, commands: Iterable[str], transcript: Transcript
) -> PrivilegeFinding:
    """`id -u` and each command as the profiled account."""
    with target.login(transcript) as session:
        _, uid = session.run("id -u")
        runs = tuple(CommandRun(c, *session.run(c)) for c in commands)
    return PrivilegeFinding(_uid(uid), runs)


def _uid(output: str) -> str:
    """The numeric uid from `id -u` output, or from `uid=N(...)` if the shell ignored `-u`."""
    found = re.search(r"uid=(\d+)", output)
    return found.group(1) if found else output.strip()


class PasswordLogins:
    """Password attempts for one user over SSH, for the lockout trial, on a reused connection.

    A context manager: leaving it closes the connection.
    """

    def __init__(self, target: SshTarget, username: str, new_transcript: NewTranscript) -> None:
        self._target = target
        self._username = username
        connections = itertools.count(1)
        self._connection = PasswordConnection(
            lambda: target.connect(
                new_transcript(f"SSH {target}, connection {next(connections)} (user {username})")
            )
        )

    def __call__(self, password: Secret, redacted: str) -> LoginTry:
        result = self._connection.try_password(self._username, password, redacted)
        if result.accepted:
            self._target.logins.record(self._username)
        detail = result.detail or ("accepted" if result.accepted else "refused")
        return LoginTry(result.accepted, result.latency_s, detail)

    def __enter__(self) -> PasswordLogins:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()
