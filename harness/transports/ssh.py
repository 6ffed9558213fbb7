"""SSH client sessions over paramiko, for checks that log in or run commands.

The transport opens the TCP connection itself (after the scope check) and hands the
socket to paramiko, with paramiko's banner, handshake and auth timeouts set to the
profile's I/O timeout. The server's host key is recorded, never trusted or refused:
auditing is not connecting to a known host.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import paramiko

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout, DeviceUnreachable, ProtocolViolation
from harness.core.redact import Secret, reveal, shown
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import net
from harness.transports.deadline_guard import EXCHANGE_FACTOR

MAX_OUTPUT = 1 << 20  # bytes of one command's output kept
LOGIN_RETRY_PAUSE_S = 2.0


class ConnectionClosed(DeviceUnreachable):
    """The device closed the connection (it answered, then hung up)."""


@dataclass(frozen=True)
class AuthResult:
    """One authentication attempt as the server answered it."""

    username: str
    method: str
    accepted: bool
    latency_s: float
    allowed_methods: tuple[str, ...] = ()
    detail: str = ""

    @property
    def why(self) -> str:
        """The refusal as the server gave it, with the methods it still offers."""
        offers = (
            f" (server offers: {', '.join(self.allowed_methods)})" if self.allowed_methods else ""
        )
        return (self.detail or "refused") + offers


class SshSession:
    """One SSH connection: handshake, authentication attempts, commands."""

    def __init__(
        self, scope: Scope, host: str, port: int, *, timeout: float, transcript: Transcript
    ) -> None:
        self.target = f"{host}:{port}"
        self.timeout = timeout
        self.transcript = transcript
        self._transport = open_transport(scope, host, port, timeout=timeout, transcript=transcript)
        self._offered: dict[str, tuple[str, ...]] = {}  # per user: methods `none` was told
        start_client(self._transport, self.target, timeout=timeout)
        self.server_version = str(self._transport.remote_version)
        try:  # paramiko may return from a failed handshake and only say so here
            key = self._transport.get_remote_server_key()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._transport.close()
            raise _convert(self.target, exc, "SSH handshake") from None
        self.host_key = f"{key.get_name()} {key.fingerprint}"
        transcript.received(self.server_version.encode(), "server identification")
        cipher = getattr(self._transport, "remote_cipher", "?")
        transcript.event(f"host key {self.host_key}; cipher {cipher}")

    @property
    def active(self) -> bool:
        return bool(self._transport.is_active())

    def try_password(self, username: str, password: Secret, shown: str) -> AuthResult:
        """One password attempt; `shown` is the redacted password.

        The connection's first attempt for a user asks method `none` first: the answer
        lists the methods the server offers (neither OpenSSH nor dropbear counts it as a
        failure), and an account that needs no password at all (dropbear -B with a blank
        password, PermitEmptyPasswords) is let in by it, reported as accepted by `none`.
        Where the server offers keyboard-interactive but not password, the password
        answers its prompt: paramiko's fallback would first send a `password` request,
        which OpenSSH counts against MaxAuthTries and may hang up on before the real
        attempt is made. A server that hangs up without answering raises
        `ConnectionClosed`: the password was not judged.
        """
        if username not in self._offered:
            let_in = self._ask_methods(username)
            if let_in is not None:
                return let_in
        offered = self._offered[username]
        self.transcript.send_secret(f"password auth {username!r} / {shown}")
        started = time.monotonic()
        method = "password"
        try:
            if offered and "password" not in offered:
                if "keyboard-interactive" not in offered:
                    return self._refused(username, started, offered, "method not offered")
                method = "keyboard-interactive"
                more = self._transport.auth_interactive(username, _answers(reveal(password)))
            else:
                more = self._transport.auth_password(
                    username, reveal(password), fallback=not offered
                )
        except paramiko.BadAuthenticationType as exc:
            return self._refused(username, started, tuple(exc.allowed_types), "method not offered")
        except paramiko.AuthenticationException as exc:
            self._raise_if_hung_up(f"{method} authentication", exc)
            return self._refused(username, started, (), str(exc) or "refused", method)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _convert(self.target, exc, "password authentication") from None
        latency = time.monotonic() - started
        if more:  # partial success: the password was right, and the server wants more
            detail = f"password right, but the server also asks for: {', '.join(more)}"
            return self._refused(username, started, tuple(more), detail, method)
        self.transcript.event(f"{username!r} authenticated ({method}) after {latency:.3f}s")
        return AuthResult(username, method, True, latency)

    def _ask_methods(self, username: str) -> AuthResult | None:
        """Method `none` for `username`, once per connection: None, after noting the
        methods offered, or the accepted result of a server that asks no password."""
        result = self.try_none(username)
        self._offered[username] = result.allowed_methods
        if not result.accepted:
            return None
        return replace(result, detail="logged in without a password (method none)")

    def _raise_if_hung_up(self, during: str, exc: paramiko.AuthenticationException) -> None:
        """`ConnectionClosed` if the server closed the connection without answering the
        attempt (paramiko sets the attempt's event on a success or failure message only)."""
        handler = getattr(self._transport, "auth_handler", None)
        event = getattr(handler, "auth_event", None)
        answered = event is not None and event.is_set()
        if not answered and not self._transport.is_active():
            raise ConnectionClosed(
                self.target,
                f"{during}: the server hung up without answering ({exc}), so the attempt "
                "was not judged",
            )

    def try_none(self, username: str) -> AuthResult:
        """The `none` method: the server's refusal lists the methods it offers."""
        self.transcript.sent(f"none auth {username!r}".encode(), "method query")
        started = time.monotonic()
        try:
            self._transport.auth_none(username)
        except paramiko.BadAuthenticationType as exc:
            allowed = tuple(exc.allowed_types)
            return self._refused(username, started, allowed, "none refused", "none")
        except paramiko.AuthenticationException as exc:
            self._raise_if_hung_up("none authentication", exc)
            return self._refused(username, started, (), str(exc) or "refused", "none")
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _convert(self.target, exc, "none authentication") from None
        latency = time.monotonic() - started
        self.transcript.event(f"{username!r} authenticated with method none")
        return AuthResult(username, "none", True, latency)

    def try_key(self, username: str, key: paramiko.PKey, label: str) -> AuthResult:
        """One public-key attempt; `label` says which key it was (never its private part)."""
        offered = f"{label} ({key.get_name()} {key.fingerprint})"
        self.transcript.sent(f"publickey auth {username!r} with {offered}".encode())
        started = time.monotonic()
        try:
            self._transport.auth_publickey(username, key)
        except paramiko.BadAuthenticationType as exc:
            allowed = tuple(exc.allowed_types)
            return self._refused(username, started, allowed, "method not offered", "publickey")
        except paramiko.AuthenticationException as exc:
            self._raise_if_hung_up("public-key authentication", exc)
            return self._refused(username, started, (), str(exc) or "refused", "publickey")
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _convert(self.target, exc, "public-key authentication") from None
        latency = time.monotonic() - started
        self.transcript.event(f"{username!r} authenticated with {label} after {latency:.3f}s")
        return AuthResult(username, "publickey", True, latency)

    def open_shell(self) -> paramiko.Channel:
        """An interactive shell with a pty on the authenticated connection."""
        self.transcript.event("open an interactive shell with a pty")
        try:
            channel = self._transport.open_session(timeout=self.timeout)
            channel.settimeout(self.timeout)
            channel.get_pty()
            channel.invoke_shell()
        except TimeoutError:
            raise DeviceTimeout(self.target, "opening a shell timed out") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _convert(self.target, exc, "opening a shell") from None
        return channel

    def _refused(
        self,
        username: str,
        started: float,
        allowed: tuple[str, ...],
        detail: str,
        method: str = "password",
    ) -> AuthResult:
        latency = time.monotonic() - started
        self.transcript.event(f"{username!r} refused after {latency:.3f}s: {detail}")
        return AuthResult(username, method, False, latency, allowed, detail)

    def login(
        self, username: str, *, password: Secret | None = None, key_file: Path | None = None
    ) -> bool:
        """Authenticate with the profiled key or password; whether the server accepted."""
        self.transcript.event(
            f"login {username!r} with {'key ' + key_file.name if key_file else 'password'}"
        )
        try:
            if key_file is not None:
                self._transport.auth_publickey(username, paramiko.PKey.from_path(key_file))
            else:
                self._transport.auth_password(username, reveal(password or ""), fallback=True)
        except paramiko.AuthenticationException as exc:
            self.transcript.event(f"login refused: {exc}")
            return False
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _convert(self.target, exc, "login") from None
        return True

    def sftp(self) -> paramiko.SFTPClient:
        """An SFTP client on this (authenticated) connection."""
        try:
            client = paramiko.SFTPClient.from_transport(self._transport)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _convert(self.target, exc, "SFTP") from None
        if client is None:
            raise ProtocolViolation(self.target, "the server refused the SFTP subsystem")
        channel = client.get_channel()
        if channel is not None:
            channel.settimeout(self.timeout)
        return client

    def run(self, command: str) -> tuple[int, str]:
        """Run one command on an authenticated session; (exit status, output)."""
        self.transcript.sent(command.encode(), "exec")
        try:
            channel = self._transport.open_session(timeout=self.timeout)
            channel.settimeout(self.timeout)
            channel.exec_command(command)
            output = b""
            budget = Deadline(self.timeout * EXCHANGE_FACTOR)
            while chunk := channel.recv(65536):
                output += chunk
                if len(output) > MAX_OUTPUT:
                    break
                if budget.expired:  # a device trickling output within each read timeout
                    raise DeviceTimeout(
                        self.target,
                        f"command {command!r} still sending after {budget.seconds:.0f}s",
                    )
            status = channel.exit_status if channel.status_event.wait(self.timeout) else -1
            channel.close()
        except TimeoutError:
            raise DeviceTimeout(self.target, f"command {command!r} timed out") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _convert(self.target, exc, f"command {command!r}") from None
        self.transcript.received(output, f"exit status {status}")
        return status, output.decode("utf-8", "replace")

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LoginHistory:
    """When each account last logged in during the run (UTC, to the second)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}

    def record(self, username: str) -> None:
        with self._lock:
            self._last[username] = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S UTC")

    def last(self, username: str) -> str | None:
        with self._lock:
            return self._last.get(username)


@dataclass(frozen=True)
class SshTarget:
    """Where to connect and the profiled account (password or key, either may be absent),
    and the run's successful logins (see `login`)."""

    scope: Scope
    host: str
    port: int
    timeout: float
    username: str
    key_file: Path | None = None
    password: Secret | None = None
    logins: LoginHistory = field(default_factory=LoginHistory, compare=False, repr=False)

    def connect(self, transcript: Transcript) -> SshSession:
        return SshSession(
            self.scope, self.host, self.port, timeout=self.timeout, transcript=transcript
        )

    def load_key(self) -> paramiko.PKey | None:
        if self.key_file is None:
            return None
        try:
            return paramiko.PKey.from_path(self.key_file)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise DeviceUnreachable(str(self.key_file), f"cannot load the SSH key: {exc}") from None

    def login(self, transcript: Transcript) -> SshSession:
        """An authenticated session for the profiled account (key first, then password).

        A login that fails although the account logged in earlier in the run is tried
        once more after a pause (a device that briefly refuses after other checks'
        attempts); both tries are in the transcript, and a failure that persists says
        what the server answered each time.
        """
        first = self._try_login(transcript)
        if isinstance(first, SshSession):
            return first
        earlier = self.logins.last(self.username)
        if earlier is None:
            raise DeviceUnreachable(
                str(self), f"the profiled account {self.username!r} cannot log in: {first}"
            )
        transcript.event(
            f"login failed ({first}) although {self.username!r} logged in at {earlier}; "
            f"trying once more in {LOGIN_RETRY_PAUSE_S:.0f}s"
        )
        time.sleep(LOGIN_RETRY_PAUSE_S)
        second = self._try_login(transcript)
        if isinstance(second, SshSession):
            transcript.event("the second try logged in")
            return second
        raise DeviceUnreachable(
            str(self),
            f"the profiled account {self.username!r} cannot log in: {second}; "
            f"the first try: {first} (it logged in at {earlier}, earlier in this run)",
        )

    def _try_login(self, transcript: Transcript) -> SshSession | str:
        """A session, or what the server answered instead."""
        try:
            session = self.connect(transcript)
        except DeviceError as exc:
            return f"no connection ({exc})"
        answers = []
        try:
            key = self.load_key()
            if key is not None:
                result = session.try_key(self.username, key, "the profiled key")
                if result.accepted:
                    self.logins.record(self.username)
                    return session
                answers.append(f"key refused: {result.why}")
            if self.password is not None:
                result = session.try_password(self.username, self.password, shown(self.password))
                if result.accepted:
                    self.logins.record(self.username)
                    return session
                answers.append(f"password refused: {result.why}")
        except DeviceError as exc:
            session.close()
            return "; ".join([*answers, f"the connection failed ({exc})"])
        except BaseException:
            session.close()
            raise
        session.close()
        return "; ".join(answers) or "no key or password profiled"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def open_transport(
    scope: Scope, host: str, port: int, *, timeout: float, transcript: Transcript, purpose: str = ""
) -> paramiko.Transport:
    """A paramiko Transport on a connection to an in-scope address, its banner, handshake
    and auth timeouts set; not started, so the caller may narrow its algorithms first."""
    sock = net.tcp_socket(
        scope, host, port, timeout=timeout, transcript=transcript, label="ssh connect",
        purpose=purpose,
    )  # fmt: skip
    transport = paramiko.Transport(sock)
    transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = timeout
    return transport


def start_client(
    transport: paramiko.Transport, target: str, *, timeout: float, during: str = "SSH handshake"
) -> None:
    """The client handshake; on failure the transport is closed and a DeviceError raised."""
    try:
        transport.start_client(timeout=timeout)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        transport.close()
        raise _convert(target, exc, during) from None


def _answers(password: str) -> Callable[[str, str, list[tuple[str, bool]]], list[str]]:
    """A keyboard-interactive handler that types `password` at the server's prompt.

    Several prompts at once (a password and a one-time code): the password goes to the
    one that asks for a password (else the first), the others get nothing, so a password
    alone never passes for a full login.
    """

    def answer(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        if not prompts:
            return []
        wanted = next((i for i, (text, _) in enumerate(prompts) if "pass" in text.lower()), 0)
        return [password if i == wanted else "" for i in range(len(prompts))]

    return answer


def _convert(target: str, exc: BaseException, during: str) -> DeviceError:
    if isinstance(exc, TimeoutError | socket.timeout):
        return DeviceTimeout(target, f"{during} timed out")
    if isinstance(exc, EOFError | ConnectionError):
        return ConnectionClosed(target, f"{during}: connection closed by the device")
    text = str(exc) or type(exc).__name__
    if "timeout" in text.lower():
        return DeviceTimeout(target, f"{during}: {text}")
    if "banner" in text.lower() or "protocol" in text.lower():
        return ProtocolViolation(target, f"{during}: {text}")
    return DeviceUnreachable(target, f"{during}: {text}")
