"""Malformed HTTP requests (ROBUST-003) and over-long HTTP fields (ROBUST-004), sent as raw
bytes on a fresh connection (TLS for an https API) so that nothing tidies them up."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import urlencode, urlsplit

from harness.config.profile import Http
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.robust.cases import Case, Reaction, Reply, exchange

BIG = 64 * 1024
NESTING = 10_000  # JSON arrays inside each other; parsers that recurse run out of stack
PROBE_USER = "medsec-probe"
REFUSALS = frozenset({*range(400, 500), 501, 505})  # 501, 505: method or version refused
_STATUS = re.compile(rb"^HTTP/\d\.\d (\d{3})")


def _request(method: str, target: str, host: str, headers: list[str], body: bytes = b"") -> bytes:
    head = [f"{method} {target} HTTP/1.1", f"Host: {host}", *headers, "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def malformed_requests(http: Http) -> list[Case]:
    """ROBUST-003's fixed set against the profiled API."""
    host = urlsplit(http.base_url).netloc
    json_type = "Content-Type: application/json"
    nested = b"[" * NESTING + b"]" * NESTING
    return [
        Case(
            "broken-request-line",
            "a request line with a NUL in the method, an unknown HTTP version and a 4th word",
            b"GET\x00/ HTTP/9.9 medsec\r\nHost: " + host.encode() + b"\r\n\r\n",
            "http",
        ),
        Case(
            "64k-header",
            "one header line of 64 KiB",
            _request("GET", "/", host, ["X-Medsec: " + "a" * BIG]),
            "http",
        ),
        Case(
            "contradictory-content-length",
            "two Content-Length headers that disagree (2 and 40)",
            _request(
                "POST", "/", host, [json_type, "Content-Length: 2", "Content-Length: 40"], b"{}"
            ),
            "http",
        ),
        Case(
            "huge-content-length",
            "a Content-Length of 10^23 bytes, and no body",
            _request("POST", "/", host, ["Content-Length: " + "9" * 23]),
            "http",
        ),
        Case(
            "bad-chunking",
            "a chunked body whose chunk size is not hexadecimal",
            _request(
                "POST", "/", host, ["Transfer-Encoding: chunked"], b"ZZ\r\nmedsec\r\n0\r\n\r\n"
            ),
            "http",
        ),
        Case(
            "nested-json",
            f"a JSON body of {NESTING} nested arrays, to the login endpoint",
            _request(
                "POST", http.login.path, host, [json_type, f"Content-Length: {len(nested)}"], nested
            ),
            "http",
        ),
    ]


def oversized_fields(http: Http) -> list[Case]:
    """ROBUST-004's HTTP fields: a 64 KiB path, and 64 KiB user name and password at the
    profiled login (in its style: JSON, form or Basic)."""
    host = urlsplit(http.base_url).netloc
    login = http.login
    name, password = "u" * BIG, "p" * BIG
    if login.style == "basic":
        token = base64.b64encode(f"{name}:{password}".encode()).decode()
        request = _request(
            login.request_method, login.path, host, [f"Authorization: Basic {token}"]
        )
    else:
        fields = {login.username_field: name, login.password_field: password}
        if login.style == "json":
            kind, body = "application/json", json.dumps(fields).encode()
        else:
            kind, body = "application/x-www-form-urlencoded", urlencode(fields).encode()
        headers = [f"Content-Type: {kind}", f"Content-Length: {len(body)}"]
        request = _request(login.request_method, login.path, host, headers, body)
    return [
        Case(
            "long-url",
            "a GET whose path is 64 KiB long",
            _request("GET", "/" + "a" * BIG, host, []),
            "http",
            well_formed=True,
        ),
        Case(
            "long-login-fields",
            f"a {login.style} login with a 64 KiB user name and a 64 KiB password",
            request,
            "http",
        ),
    ]


def status_of(data: bytes) -> int | None:
    match = _STATUS.match(data)
    return int(match.group(1)) if match else None


def describe(data: bytes) -> str:
    status = status_of(data)
    if status is not None:
        return f"HTTP {status}"
    return f"{len(data)} bytes that are no HTTP answer" if data else ""


def send(
    scope: Scope,
    http: Http,
    case: Case,
    *,
    server_name: str | None,
    timeout: float,
    transcript: Transcript,
) -> Reply:
    """The case on a fresh connection to the API (TLS for https), and the answer's head."""
    parts = urlsplit(http.base_url)
    reply = exchange(
        scope,
        parts.hostname or "",
        parts.port or (443 if parts.scheme == "https" else 80),
        case,
        timeout=timeout,
        transcript=transcript,
        tls=parts.scheme == "https",
        server_name=server_name,
        enough=lambda data: b"\r\n\r\n" in data,
        describe=describe,
    )
    status = status_of(reply.data)
    if status is not None and 200 <= status < 400:
        return Reply(reply.reaction, reply.data, reply.closed, reply.elapsed_s, reply.detail, True)
    return reply


def problem(case: Case, reply: Reply) -> str | None:
    """ROBUST-003 and -004 (HTTP): a 4xx answer (501 or 505 for what the server does not
    implement) or a close, never a hang; a well-formed input may also be answered."""
    if reply.reaction is Reaction.SILENT:
        if not case.complete:
            return None
        return f"neither an answer nor a close within {reply.elapsed_s:.1f}s"
    if reply.reaction is Reaction.CLOSED:
        return None
    status = status_of(reply.data)
    if status is None:  # an HTTP/0.9-style error text, say: judged by the close alone
        if reply.closed:
            return None
        return f"answered {len(reply.data)} bytes that are no HTTP answer, and kept the connection"
    if status in REFUSALS or (case.well_formed and status < 500):
        return None
    if status >= 500:
        return f"HTTP {status}: a server error instead of a refusal"
    return f"HTTP {status}: the request was taken instead of refused"
