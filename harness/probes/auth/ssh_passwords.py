"""Password attempts over one reused SSH connection, reopened when the server closes it."""

from __future__ import annotations

from collections.abc import Callable

from harness.core.errors import DeviceUnreachable
from harness.core.redact import Secret
from harness.transports.ssh import AuthResult, SshSession


class PasswordConnection:
    """Password attempts on one SSH connection, kept open between attempts.

    OpenSSH closes a connection after MaxAuthTries (and drops one whose user name
    changes, so use one of these per user name): an attempt that finds a reused
    connection closed is made once more on a fresh one. A connection that got in is
    closed at once, since an authenticated connection cannot authenticate again.
    """

    def __init__(self, connect: Callable[[], SshSession]) -> None:
        self._connect = connect
        self._session: SshSession | None = None

    def try_password(self, username: str, password: Secret, redacted: str) -> AuthResult:
        session = self._session
        reused = session is not None and session.active
        if session is None or not session.active:
            session = self._reconnect()
        try:
            result = session.try_password(username, password, redacted)
        except DeviceUnreachable:
            if not reused:
                raise
            result = self._reconnect().try_password(username, password, redacted)
        if result.accepted:
            self.close()
        return result

    def _reconnect(self) -> SshSession:
        self.close()
        self._session = self._connect()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> PasswordConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
