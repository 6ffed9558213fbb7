"""The pump's SSH service (paramiko): `service` by key or password, never `root`.

The algorithm lists live in `algorithms_for` only. W-17 adds the vendor default password.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import queue
import secrets
import socket
import string
import time
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import cast

import paramiko
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)

from harness.sim import shell
from harness.sim.firmware import FirmwareState
from harness.sim.listener import ListenerService, TcpListener, bind
from harness.sim.lockout import FailedLogins
from harness.transports.ssh_legacy import GROUP14_SHA1, enable_group14_sha1

LOCAL_VERSION = "SSH-2.0-pumpd"
MAX_CONNECTIONS = 16
SOCKET_TIMEOUT_S = 10.0
AUTH_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 120.0
POLL_S = 0.2
# How often a connection waiting for a channel looks whether its client has gone: its slot
# under MAX_CONNECTIONS stays taken until then, and probes open one after another.
JOB_POLL_S = 0.02
CLIENT_CLOSE_WAIT_S = 1.0
CLOSE_POLL_S = 0.005
VENDOR_DEFAULT_PASSWORD = "service"  # noqa: S105 - the planted W-17 default
ALLOWED_AUTHS = "publickey,password"
MAX_IDENTIFICATION = 255  # RFC 4253 4.2, CR LF included
IDENTIFICATION_POLL_S = 0.01
IDENTIFICATION_STALL_S = 1.0
CLIENT_VERSIONS = (b"SSH-2.0-", b"SSH-1.99-")  # a client sends no other line first


@dataclass(frozen=True)
class SshAlgorithms:
    """What the server offers, in preference order."""

    kex: tuple[str, ...]
    ciphers: tuple[str, ...]
    macs: tuple[str, ...]
    host_keys: tuple[str, ...]


STRONG = SshAlgorithms(
    kex=(
        "curve25519-sha256@libssh.org",
        "ecdh-sha2-nistp256",
        "ecdh-sha2-nistp384",
        "ecdh-sha2-nistp521",
        "diffie-hellman-group16-sha512",
    ),
    ciphers=(
        "aes256-gcm@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-ctr",
        "aes192-ctr",
        "aes128-ctr",
    ),
    # Encrypt-then-MAC only: the strict SSH policy (CRYPTO-008) accepts ETM or AEAD MACs.
    macs=("hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com"),
    host_keys=("ssh-ed25519",),
)


def algorithms_for(weaknesses: Collection[str]) -> SshAlgorithms:
    """The algorithm lists of a pump with these weaknesses.

    W-07 appends `hmac-sha1` to the MACs and `diffie-hellman-group14-sha1` to the kex
    list; paramiko 5.1 no longer ships that kex, so `_configure` registers a small
    subclass of its group14 kex on each transport (`transports.ssh_legacy`).
    """
    if "W-07" in weaknesses:
        return replace(STRONG, kex=(*STRONG.kex, GROUP14_SHA1), macs=(*STRONG.macs, "hmac-sha1"))
    return STRONG


def identification_ok(sock: socket.socket) -> bool:
    """Whether the client's first line (peeked, not read) is an SSH 2 identification of at
    most MAX_IDENTIFICATION bytes.

    Decided as soon as the bytes cannot become one (another start, too long) or stop
    coming for IDENTIFICATION_STALL_S: a peek cannot see the peer's close once bytes wait,
    and a thread held for the whole socket timeout per garbage connection would let a fuzzer
    fill the connection cap.
    """
    deadline = time.monotonic() + SOCKET_TIMEOUT_S
    data = b""
    grew_at = time.monotonic()
    try:
        while b"\n" not in data and len(data) <= MAX_IDENTIFICATION:
            now = time.monotonic()
            if now > deadline or (data and now - grew_at > IDENTIFICATION_STALL_S):
                return False
            if data:
                time.sleep(IDENTIFICATION_POLL_S)
            peeked = sock.recv(MAX_IDENTIFICATION + 1, socket.MSG_PEEK)
            if not peeked:
                return False
            if not any(v.startswith(peeked[: len(v)]) for v in CLIENT_VERSIONS):
                return False
            if len(peeked) > len(data):
                grew_at = time.monotonic()
            data = peeked
    except OSError:
        return False
    line, newline, _ = data.partition(b"\n")
    return bool(newline) and line.startswith(CLIENT_VERSIONS)


class _AlreadyIdentified:
    """A connection whose identification line we already sent: paramiko's own sending of
    it is swallowed, everything else passes through to the socket."""

    def __init__(self, sock: socket.socket, sent: bytes) -> None:
        self._sock = sock
        self._unsent_echo = sent

    def send(self, data: bytes) -> int:
        if self._unsent_echo:
            if not self._unsent_echo.startswith(bytes(data[: len(self._unsent_echo)])):
                raise OSError("paramiko began with another identification")
            taken = min(len(data), len(self._unsent_echo))
            self._unsent_echo = self._unsent_echo[taken:]
            return taken
        return self._sock.send(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def _wait_for_client_close(channel: paramiko.Channel, listener: TcpListener) -> None:
    """Let the client close an answered exec channel first (bounded by CLIENT_CLOSE_WAIT_S).

    paramiko's transport thread sends the reply to the exec request only after
    `check_channel_exec_request` has returned; a command this fast could otherwise close
    the channel before that reply, and a paramiko client then fails with "Channel closed"
    although it was answered (seen under load in CI). A client closes once it has the
    exit status; one that does not is closed on when the wait ends.
    """
    deadline = time.monotonic() + CLIENT_CLOSE_WAIT_S
    while not channel.closed and not listener.stopping and time.monotonic() < deadline:
        time.sleep(CLOSE_POLL_S)


def random_password(length: int = 20) -> str:
    """A random password of letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class _Job:
    channel: paramiko.Channel
    command: bytes | None  # None: an interactive shell


class _Session(paramiko.ServerInterface):
    """Authentication and channel decisions for one connection."""

    def __init__(self, service: SshService, peer: str) -> None:
        self._service = service
        self._peer = peer
        self.account: shell.Account | None = None
        self.jobs: queue.Queue[_Job] = queue.Queue()
        self.pty_channels: set[int] = set()

    def get_allowed_auths(self, username: str) -> str:
        return ALLOWED_AUTHS

    def check_auth_password(self, username: str, password: str) -> int:
        failed = self._service.failed_logins
        if failed.locked(username):
            return self._decide(username, "password (account locked)", False)
        ok = self._service.password_ok(username, password)
        if ok:
            failed.succeeded(username)
        else:
            failed.failed(username)
        return self._decide(username, "password", ok)

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        expected = self._service.client_key
        ok = (
            username == shell.SERVICE.name
            and key.get_name() == expected.get_name()
            and hmac.compare_digest(key.asbytes(), expected.asbytes())
        )
        return self._decide(username, f"publickey {key.get_name()}", ok)

    def _decide(self, username: str, method: str, ok: bool) -> int:
        self._service.log.info(
            "ssh %s auth %s user=%r %s",
            self._peer,
            method,
            username,
            "accepted" if ok else "refused",
        )
        if ok:
            self.account = shell.SERVICE
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(
        self,
        channel: paramiko.Channel,
        term: bytes,
        width: int,
        height: int,
        pixelwidth: int,
        pixelheight: int,
        modes: bytes,
    ) -> bool:
        self.pty_channels.add(channel.get_id())
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.jobs.put(_Job(channel, None))
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.jobs.put(_Job(channel, command))
        return True


class SshService(ListenerService):
    """The SSH server of one pump, bound to (host, a free port)."""

    def __init__(
        self,
        *,
        host: str,
        host_key: paramiko.PKey,
        client_key: paramiko.PKey,
        firmware: FirmwareState,
        weaknesses: Collection[str],
        log: logging.Logger,
        failed_logins: FailedLogins | None = None,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self.client_key = client_key
        self.log = log
        self.failed_logins = failed_logins or FailedLogins(after=1, lock_s=0.0, enabled=False)
        self._idle_timeout_s = idle_timeout_s
        self._host_key = host_key
        self._firmware = firmware
        self._algorithms = algorithms_for(weaknesses)
        # paramiko's own messages go to the pump's log (not stderr), warnings only.
        self._paramiko_log = f"{log.name}.paramiko"
        logging.getLogger(self._paramiko_log).setLevel(logging.WARNING)
        # Random at every start and never written anywhere: password login exists, but
        # only a planted default could let anyone in with it.
        self._password = random_password()
        self._default_password = "W-17" in weaknesses
        self._listener = TcpListener(
            "ssh",
            bind(host, 0),
            self._serve,
            log,
            max_connections=MAX_CONNECTIONS,
            timeout=SOCKET_TIMEOUT_S,
        )

    @property
    def password(self) -> str:
        """The strong password of `service` (a tester's AUTH-009 account)."""
        return self._password

    def password_ok(self, username: str, password: str) -> bool:
        """Whether this username/password pair may log in (root never may)."""
        if username != shell.SERVICE.name:
            return False
        given = password.encode("utf-8", "surrogateescape")
        ok = hmac.compare_digest(given, self._password.encode())
        if self._default_password:
            ok = hmac.compare_digest(given, VENDOR_DEFAULT_PASSWORD.encode()) or ok
        return ok

    def _serve(self, sock: socket.socket, peer: str) -> None:
        # A server speaks first (RFC 4253 4.2): clients that only read the identification
        # (banner grabbers, SURFACE-004) must get it before we look at theirs.
        identification = f"{LOCAL_VERSION}\r\n".encode()
        try:
            sock.sendall(identification)
        except OSError:
            return
        if not identification_ok(sock):
            # paramiko would wait for more lines, or take a line of any length
            self.log.info("ssh %s closed: invalid identification", peer)
            with contextlib.suppress(OSError):
                sock.sendall(b"Invalid SSH identification string.\r\n")
            return
        connection = _AlreadyIdentified(sock, identification)
        transport = paramiko.Transport(cast(socket.socket, connection))  # duck-typed socket
        try:
            self._configure(transport)
            session = _Session(self, peer)
            try:
                transport.start_server(server=session)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self.log.info("ssh %s handshake failed: %s", peer, type(exc).__name__)
                return
            self._run(transport, session, peer)
        finally:
            transport.close()

    def _configure(self, transport: paramiko.Transport) -> None:
        transport.set_log_channel(self._paramiko_log)
        transport.local_version = LOCAL_VERSION
        transport.banner_timeout = SOCKET_TIMEOUT_S
        transport.handshake_timeout = SOCKET_TIMEOUT_S
        transport.auth_timeout = AUTH_TIMEOUT_S
        transport.add_server_key(self._host_key)
        if GROUP14_SHA1 in self._algorithms.kex:
            enable_group14_sha1(transport)
        options = transport.get_security_options()
        options.kex = self._algorithms.kex
        options.ciphers = self._algorithms.ciphers
        options.digests = self._algorithms.macs
        options.key_types = self._algorithms.host_keys

    def _run(self, transport: paramiko.Transport, session: _Session, peer: str) -> None:
        started = last_activity = time.monotonic()
        while transport.is_active() and not self._listener.stopping:
            now = time.monotonic()
            if not transport.is_authenticated():
                if now - started > AUTH_TIMEOUT_S:
                    self.log.info(
                        "ssh %s closed: not authenticated in %.0f s", peer, AUTH_TIMEOUT_S
                    )
                    return
                last_activity = now  # idle time counts from authentication on
            elif now - last_activity > self._idle_timeout_s:
                self.log.info("ssh %s closed: idle", peer)
                return
            try:
                job = session.jobs.get(timeout=JOB_POLL_S)
            except queue.Empty:
                continue
            account = session.account or shell.SERVICE
            if job.command is None:
                self._shell(job.channel, account, job.channel.get_id() in session.pty_channels)
            else:
                self._exec(job.channel, account, job.command, peer)
            last_activity = time.monotonic()

    def _exec(
        self, channel: paramiko.Channel, account: shell.Account, command: bytes, peer: str
    ) -> None:
        line = command.decode("utf-8", "replace")
        self.log.info("ssh %s exec %r", peer, shell.printable(line, 80))
        result = shell.execute(line, account, self._firmware.version)
        try:
            for text in result.lines:
                channel.sendall((text + "\n").encode())
            channel.send_exit_status(result.status)
            channel.shutdown_write()
            _wait_for_client_close(channel, self._listener)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            channel.close()

    def _shell(self, channel: paramiko.Channel, account: shell.Account, echo: bool) -> None:
        editor = shell.LineEditor()
        channel.settimeout(POLL_S)
        last_input = time.monotonic()
        status = 0
        try:
            channel.sendall(account.prompt.encode())
            while not self._listener.stopping and not channel.closed:
                try:
                    data = channel.recv(1024)
                except TimeoutError:
                    if time.monotonic() - last_input > self._idle_timeout_s:
                        break
                    continue
                if not data:
                    break
                last_input = time.monotonic()
                out, done, status = self._shell_input(data, editor, account, echo)
                if out:
                    channel.sendall(out)
                if done:
                    break
            channel.send_exit_status(status)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            channel.close()

    def _shell_input(
        self, data: bytes, editor: shell.LineEditor, account: shell.Account, echo: bool
    ) -> tuple[bytes, bool, int]:
        out = bytearray()
        for byte in data:
            key = editor.feed(byte)
            if echo:
                out += key.echo
            if key.control is not None:
                if key.control == shell.CTRL_D and editor.empty:
                    out += b"logout\r\n"
                    return bytes(out), True, 0
                if key.control != shell.CTRL_D:
                    editor.clear()
                    out += shell.caret(key.control) + b"\r\n" + account.prompt.encode()
            elif key.line is not None:
                out += b"\r\n"
                result = shell.execute(key.line, account, self._firmware.version)
                for text in result.lines:
                    out += text.encode() + b"\r\n"
                if result.logout:
                    out += b"logout\r\n"
                    return bytes(out), True, result.status
                out += account.prompt.encode()
        return bytes(out), False, 0
