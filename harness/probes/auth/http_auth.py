"""Logging in to a device's HTTP API, trying credentials, and probing protected endpoints.

A login is judged by what the device hands out: a session token (the profile's
`http.login.token_field` in a JSON reply), a session cookie, or (Basic style) a 2xx
answer. 401, 403 and 429 without a session are refusals; anything else cannot be
judged and is kept as undecided, so a dead login endpoint is never taken for a refusal.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pydantic import SecretStr

from harness.config.profile import Http, HttpEndpoint
from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout, ProtocolViolation
from harness.core.redact import Secret, reveal, shown
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.auth.credentials import Attempt, Pair, Trial
from harness.probes.auth.lockout import LoginTry, TryLogin
from harness.transports import http as http_transport
from harness.transports.http import HttpResponse, TlsTrust

LOGIN_REFUSALS = frozenset({401, 403, 429})
ACCESS_REFUSALS = frozenset({401, 403})  # a protected endpoint's answer without a valid session


@dataclass(frozen=True)
class HttpApi:
    """The profiled API and how to reach it: its chain is checked against `ca_file` and
    a failure recorded, but required only with `http.verify_tls` (CRYPTO-005 judges it)."""

    scope: Scope
    http: Http
    ca_file: Path | None
    timeout: float
    trust: TlsTrust = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trust", TlsTrust(self.ca_file, required=self.http.verify_tls))

    def send(
        self,
        method: str,
        path: str,
        transcript: Transcript,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        basic_auth: tuple[str, Secret] | None = None,
    ) -> HttpResponse:
        return http_transport.request(
            self.scope,
            method,
            self.http.url(path),
            timeout=self.timeout,
            transcript=transcript,
            body=body,
            headers=headers,
            basic_auth=basic_auth,
            trust=self.trust,
        )


@dataclass(frozen=True)
class Session:
    """How a logged-in client proves it: one request header (its value is a secret)."""

    kind: str  # bearer | cookie | basic
    header: str
    value: str = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {self.header: self.value}

    @property
    def secret(self) -> str:
        """The part of the header value to redact from evidence."""
        return self.value.split(" ", 1)[-1].split("=", 1)[-1]


class LoginVerdict(str, enum.Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class LoginResult:
    """One login attempt as the device answered it."""

    verdict: LoginVerdict
    latency_s: float
    detail: str
    session: Session | None = field(default=None, repr=False)
    cookies: tuple[str, ...] = field(default=(), repr=False)  # its Set-Cookie headers


def login(api: HttpApi, username: str, password: Secret, transcript: Transcript) -> LoginResult:
    """One attempt at the profiled login endpoint; DeviceError if the device does not answer."""
    spec = api.http.login
    transcript.send_secret(f"login {username!r} / {shown(password)} ({spec.style})")
    if spec.style == "basic":
        reply = api.send(
            spec.request_method, spec.path, transcript, basic_auth=(username, password)
        )
    else:
        fields = {spec.username_field: username, spec.password_field: reveal(password)}
        if spec.style == "json":
            content_type, body = "application/json", json.dumps(fields)
        else:
            content_type, body = "application/x-www-form-urlencoded", urlencode(fields)
        headers = {"Content-Type": content_type}
        reply = api.send(
            spec.request_method, spec.path, transcript, headers=headers, body=body.encode()
        )
    return _judge_login(api.http, reply, username, password)


def _judge_login(http: Http, reply: HttpResponse, username: str, password: Secret) -> LoginResult:
    result = _verdict(http, reply, username, password)
    cookies = tuple(v for k, v in reply.headers if k.lower() == "set-cookie")
    return dataclasses.replace(result, cookies=cookies)


def _verdict(http: Http, reply: HttpResponse, username: str, password: Secret) -> LoginResult:
    spec = http.login
    session = _token_session(reply, spec.token_field) or _cookie_session(reply, spec.session_cookie)
    ok_status = 200 <= reply.status < 400
    if spec.style == "basic" and session is None and 200 <= reply.status < 300:
        value = base64.b64encode(f"{username}:{reveal(password)}".encode()).decode()
        session = Session("basic", "Authorization", f"Basic {value}")
    if session is not None and (ok_status or session.kind == "bearer"):
        detail = f"HTTP {reply.status}; {session.kind} session issued"
        return LoginResult(LoginVerdict.ACCEPTED, reply.elapsed_s, detail, session)
    if reply.status in LOGIN_REFUSALS:
        detail = f"HTTP {reply.status}"
        if reply.header("Retry-After"):
            detail += f" (Retry-After {reply.header('Retry-After')})"
        return LoginResult(LoginVerdict.REFUSED, reply.elapsed_s, detail)
    detail = f"HTTP {reply.status} {reply.reason}: neither a refusal nor a session"
    return LoginResult(LoginVerdict.UNDECIDED, reply.elapsed_s, detail)


def _token_session(reply: HttpResponse, token_field: str) -> Session | None:
    if "json" not in (reply.header("Content-Type") or "") and not reply.body.startswith(b"{"):
        return None
    try:
        document = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        return None
    token = document.get(token_field) if isinstance(document, dict) else None
    if isinstance(token, str) and token:
        return Session("bearer", "Authorization", f"Bearer {token}")
    return None


def _cookie_session(reply: HttpResponse, name: str | None) -> Session | None:
    for key, value in reply.headers:
        if key.lower() != "set-cookie":
            continue
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(value)
        except CookieError:
            continue
        for morsel in cookie.values():
            if (name is None or morsel.key == name) and morsel.value:
                return Session("cookie", "Cookie", f"{morsel.key}={morsel.value}")
    return None


def password_logins(
    api: HttpApi, username: str, transcript: Transcript, seen: Callable[[str], None]
) -> TryLogin:
    """Login attempts for one user, for the lockout trial; `seen` gets each session secret."""

    def attempt(password: Secret, redacted: str) -> LoginTry:
        result = login(api, username, password, transcript)
        if result.session is not None:
            seen(result.session.secret)
        if result.verdict is LoginVerdict.UNDECIDED:
            raise ProtocolViolation(api.http.base_url, f"login answered {result.detail}")
        return LoginTry(result.verdict is LoginVerdict.ACCEPTED, result.latency_s, result.detail)

    return attempt


def try_pairs(
    api: HttpApi, pairs: Iterable[Pair], *, deadline: Deadline, transcript: Transcript
) -> tuple[Trial, tuple[str, ...]]:
    """Each pair at the login endpoint; (the trial, session secrets seen, to redact)."""
    attempts: list[Attempt] = []
    hits: list[Pair] = []
    seen: list[str] = []
    started = time.monotonic()
    try:
        for pair in pairs:
            if deadline.expired:
                raise DeviceTimeout(api.http.base_url, f"budget spent after {len(attempts)} tries")
            result = login(api, pair.username, pair.password, transcript)
            accepted = result.verdict is LoginVerdict.ACCEPTED
            if result.session is not None:
                seen.append(result.session.secret)
            if accepted:
                hits.append(pair)
            attempts.append(
                Attempt.of(
                    "http",
                    pair,
                    accepted,
                    result.latency_s,
                    result.detail,
                    time.monotonic() - started,
                    decided=result.verdict is not LoginVerdict.UNDECIDED,
                )
            )
    except DeviceError as exc:
        return Trial(tuple(attempts), exc, hits=tuple(hits)), tuple(seen)
    return Trial(tuple(attempts), hits=tuple(hits)), tuple(seen)


@dataclass(frozen=True)
class AccessAttempt:
    """One request to a protected endpoint with one kind of credential.

    401 and 403 refuse; another 4xx (lighttpd answers a malformed `Authorization` with
    400) refuses only when the state is read back unchanged, and without a state read it
    decides nothing."""

    endpoint: str
    request: str
    credential: str
    status: int
    latency_s: float
    state_changed: bool | None  # None: the profile names no state_path
    detail: str = ""

    @property
    def _other_4xx(self) -> bool:
        return 400 <= self.status < 500 and self.status not in ACCESS_REFUSALS

    @property
    def refused(self) -> bool:
        if self.state_changed:
            return False
        return self.status in ACCESS_REFUSALS or (self._other_4xx and self.state_changed is False)

    @property
    def decided(self) -> bool:
        """False for another 4xx with no state read back: neither refused nor let through."""
        return not (self._other_4xx and self.state_changed is None)


@dataclass(frozen=True)
class AccessFinding:
    """What a protected endpoint did with each credential, and the positive control."""

    endpoint: str
    attempts: tuple[AccessAttempt, ...]
    control: AccessAttempt
    state_before: str = ""  # what the state read said before the requests (evidence)

    @property
    def let_through(self) -> tuple[AccessAttempt, ...]:
        """Requests without a valid session that were answered, or changed the state."""
        return tuple(a for a in self.attempts if a.decided and not a.refused)

    @property
    def undecided(self) -> tuple[AccessAttempt, ...]:
        """4xx answers other than 401/403 with no state read back to show nothing changed."""
        return tuple(a for a in self.attempts if not a.decided)

    @property
    def control_failed(self) -> bool:
        """The profiled account's own request failed, so the refusals prove nothing."""
        return not 200 <= self.control.status < 300


# A credential kind as the evidence names it, and the session sent with it (None: none).
CredentialKind = tuple[str, Session | None]


def forged_credentials(control: Session, expired_token: SecretStr | None) -> list[CredentialKind]:
    """No credentials, a malformed session like `control`'s, and the profile's expired token."""
    forged: list[CredentialKind] = [
        ("no credentials", None),
        ("a malformed token", _malformed_session(control)),
    ]
    if expired_token is not None:
        expired = _expired_session(control, expired_token.get_secret_value())
        forged.append(("an expired token", expired))
    return forged


def _body(endpoint: HttpEndpoint) -> tuple[bytes | None, dict[str, str]]:
    """The endpoint's harmless body and its Content-Type."""
    if endpoint.body is None:
        return None, {}
    if isinstance(endpoint.body, str):
        return endpoint.body.encode(), {"Content-Type": "text/plain"}
    return json.dumps(endpoint.body).encode(), {"Content-Type": "application/json"}


def _malformed_session(like: Session) -> Session:
    """A credential of the right shape that no device issued."""
    junk = "medsec-malformed-" + secrets.token_hex(8)
    if like.kind == "cookie":
        return Session("cookie", "Cookie", like.value.split("=", 1)[0] + "=" + junk)
    if like.kind == "basic":
        return Session("basic", "Authorization", "Basic " + junk)
    return Session("bearer", "Authorization", "Bearer " + junk)


def _expired_session(like: Session, token: str) -> Session:
    if like.kind == "cookie":
        return Session("cookie", "Cookie", like.value.split("=", 1)[0] + "=" + token)
    return Session("bearer", "Authorization", "Bearer " + token)


def probe_endpoint(
    api: HttpApi,
    endpoint: HttpEndpoint,
    variants: list[CredentialKind],
    control: Session,
    transcript: Transcript,
) -> AccessFinding:
    """Send the endpoint's request with each credential variant, then with `control`.

    After each variant the state is read back (with `control`) and compared with the
    state before; the control request must succeed, or the endpoint proves nothing.
    """
    body, content_type = _body(endpoint)
    request = f"{endpoint.method} {endpoint.path}"
    first = before = _state(api, endpoint, control, transcript)
    attempts: list[AccessAttempt] = []
    for label, session in variants:
        if attempts:
            before = _state(api, endpoint, control, transcript)
        transcript.event(f"{request} with {label}")
        headers = {**content_type, **(session.headers if session else {})}
        reply = api.send(endpoint.method, endpoint.path, transcript, headers=headers, body=body)
        after = _state(api, endpoint, control, transcript)
        changed = None if before is None else after != before
        attempts.append(
            AccessAttempt(
                endpoint.name,
                request,
                label,
                reply.status,
                reply.elapsed_s,
                changed,
                reply.text.strip()[:200],
            )
        )
    transcript.event(f"{request} with the profiled account (positive control)")
    headers = {**content_type, **control.headers}
    reply = api.send(endpoint.method, endpoint.path, transcript, headers=headers, body=body)
    positive = AccessAttempt(
        endpoint.name,
        request,
        "profiled account (positive control)",
        reply.status,
        reply.elapsed_s,
        None,
        reply.text.strip()[:200],
    )
    return AccessFinding(endpoint.name, tuple(attempts), positive, first or "")


def _state(
    api: HttpApi, endpoint: HttpEndpoint, control: Session, transcript: Transcript
) -> str | None:
    if endpoint.state_path is None:
        return None
    reply = api.send("GET", endpoint.state_path, transcript, headers=control.headers)
    return f"HTTP {reply.status} {_canonical(reply.body)}"


def _canonical(body: bytes) -> str:
    try:
        document: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        return body.decode("utf-8", "replace")
    return json.dumps(document, sort_keys=True)
