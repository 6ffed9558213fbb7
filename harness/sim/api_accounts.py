"""The pump API's accounts: login with tokens, /api/config, and password changes.

Two accounts: `admin` (may change the configuration) and `operator` (may read it, may
not change it). Tokens are random, expire, and are bound to their account. Planted:
W-01 `admin` / `admin` also logs in; W-03 no lockout after failed logins; W-04
`PUT /api/config` without an `Authorization` header is accepted.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from harness.sim.lockout import FailedLogins

ADMIN_USER = "admin"
OPERATOR_USER = "operator"
VENDOR_DEFAULT_ADMIN_PASSWORD = "admin"  # noqa: S105 - the planted W-01 default
TOKEN_LIFETIME_S = 900.0
MAX_TOKENS = 256
MAX_BODY = 64 * 1024
PASSWORD_MIN_LENGTH = 12
WEAK_PARTS = ("password", "qwerty", "123456", "letmein", "admin", "welcome", "service")
PATHS = frozenset({"/api/login", "/api/config", "/api/account/password"})
_CONFIG_RANGE = range(0, 101)


@dataclass(frozen=True)
class Reply:
    """What a handler answers: status, JSON document, extra headers."""

    status: int
    document: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _unauthorized(message: str = "authentication required") -> Reply:
    return Reply(401, {"error": message}, {"WWW-Authenticate": 'Bearer realm="pumpd"'})


def password_problem(username: str, password: str) -> str | None:
    """Why the pump refuses `password` as a new password for `username`, or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"shorter than {PASSWORD_MIN_LENGTH} characters"
    lowered = password.lower()
    if username.lower() in lowered:
        return "contains the user name"
    if any(part in lowered for part in WEAK_PARTS):
        return "too common"
    return None


class AccountsApi:
    """State and request handling for the account endpoints of one pump."""

    def __init__(
        self,
        *,
        admin_password: str,
        operator_password: str,
        weaknesses: Collection[str],
        failed_logins: FailedLogins,
        log: logging.Logger,
    ) -> None:
        self._passwords = {ADMIN_USER: admin_password, OPERATOR_USER: operator_password}
        self._roles = {ADMIN_USER: "admin", OPERATOR_USER: "operator"}
        self._default_admin = "W-01" in weaknesses
        self._open_config = "W-04" in weaknesses
        self._failed = failed_logins
        self._log = log
        self._lock = threading.Lock()
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self.config: dict[str, int] = {"display_brightness": 70, "alarm_volume": 80}
        # A token that expired before the pump started: a tester replays it (AUTH-010).
        self.expired_token = secrets.token_urlsafe(32)
        self._tokens[self.expired_token] = (ADMIN_USER, time.monotonic() - 1.0)

    def handle(self, method: str, path: str, authorization: str | None, body: bytes) -> Reply:
        """Answer one request to a path in `PATHS`."""
        if path == "/api/login":
            return self._login(body) if method == "POST" else Reply(405, {"error": "use POST"})
        if path == "/api/config":
            if method == "GET":
                return self._read_config(authorization)
            if method == "PUT":
                return self._write_config(authorization, body)
            return Reply(405, {"error": "use GET or PUT"})
        if method == "POST":
            return self._change_password(authorization, body)
        return Reply(405, {"error": "use POST"})

    def _login(self, body: bytes) -> Reply:
        document = _json_object(body)
        if document is None:
            return Reply(400, {"error": "expected a JSON object"})
        username, password = document.get("username"), document.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return Reply(400, {"error": "username and password required"})
        if self._failed.locked(username):
            self._log.info("https login user=%r refused: locked", username[:32])
            retry = str(int(self._failed.lock_s) + 1)
            return Reply(429, {"error": "too many failed logins"}, {"Retry-After": retry})
        if not self._password_ok(username, password):
            self._failed.failed(username)
            self._log.info("https login user=%r refused", username[:32])
            return _unauthorized("invalid credentials")
        self._failed.succeeded(username)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (username, time.monotonic() + TOKEN_LIFETIME_S)
            while len(self._tokens) > MAX_TOKENS:
                self._tokens.popitem(last=False)
        self._log.info("https login user=%r accepted", username)
        return Reply(
            200,
            {"token": token, "role": self._roles[username], "expires_in": int(TOKEN_LIFETIME_S)},
        )

    def _password_ok(self, username: str, password: str) -> bool:
        expected = self._passwords.get(username)
        given = password.encode("utf-8", "surrogateescape")
        ok = expected is not None and hmac.compare_digest(given, expected.encode())
        if self._default_admin and username == ADMIN_USER:
            ok = hmac.compare_digest(given, VENDOR_DEFAULT_ADMIN_PASSWORD.encode()) or ok
        return ok

    def _account(self, authorization: str | None) -> str | None:
        """The account a `Bearer` token belongs to, if the token is known and current."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        with self._lock:
            found = self._tokens.get(token.strip())
        if found is None or time.monotonic() >= found[1]:
            return None
        return found[0]

    def _read_config(self, authorization: str | None) -> Reply:
        if self._account(authorization) is None:
            return _unauthorized()
        with self._lock:
            return Reply(200, {"config": dict(self.config)})

    def _write_config(self, authorization: str | None, body: bytes) -> Reply:
        account = self._account(authorization)
        if account is None and not (self._open_config and authorization is None):
            return _unauthorized()
        if account is not None and self._roles[account] != "admin":
            return Reply(403, {"error": "the configuration needs the admin role"})
        document = _json_object(body)
        if document is None or not document:
            return Reply(400, {"error": "expected a JSON object of settings"})
        for key, value in document.items():
            if key not in self.config or not isinstance(value, int) or value not in _CONFIG_RANGE:
                return Reply(400, {"error": "unknown setting or value out of range"})
        with self._lock:
            self.config.update(document)
            config = dict(self.config)
        self._log.info("https config changed by %s", account or "an unauthenticated client")
        return Reply(200, {"config": config})

    def _change_password(self, authorization: str | None, body: bytes) -> Reply:
        account = self._account(authorization)
        if account is None:
            return _unauthorized()
        document = _json_object(body)
        if document is None:
            return Reply(400, {"error": "expected a JSON object"})
        old, new = document.get("old_password"), document.get("new_password")
        if not isinstance(old, str) or not isinstance(new, str):
            return Reply(400, {"error": "old_password and new_password required"})
        if not self._password_ok(account, old):
            return Reply(403, {"error": "the old password is wrong"})
        problem = password_problem(account, new)
        if problem is not None:
            return Reply(422, {"error": f"new password refused: {problem}"})
        with self._lock:
            self._passwords[account] = new
        self._log.info("https password of %s changed", account)
        return Reply(200, {"changed": True})


def _json_object(body: bytes) -> dict[str, Any] | None:
    if len(body) > MAX_BODY:
        return None
    try:
        document = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None
