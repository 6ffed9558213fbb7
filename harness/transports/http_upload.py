"""Streaming HTTP(S) uploads: big bodies sent in pieces, cut on purpose, or cut by the device.

`http.request` reads a whole body into memory and treats a broken connection as an
error. An update upload needs more: an endless-data image streamed under our own cap, a
transfer cut at a chosen byte, and a device that answers early (413, 401) and closes
while we still send. `upload` reports all of these as data (`UploadResult`), raising only
when the device could not be reached at all. Digest authentication (RFC 7616, MD5,
qop=auth) is here too, since SWUpdate's web server speaks only that.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import re
import secrets
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.core.errors import DeviceTimeout, DeviceUnreachable, NotConnected
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports.deadline_guard import EXCHANGE_FACTOR, ExchangeDeadline
from harness.transports.http import MAX_BODY, HttpResponse, TlsTrust

_SHOWN_BODY = 4096
_CHALLENGE_FIELD = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


@dataclass(frozen=True)
class UploadResult:
    """What happened to one upload."""

    response: HttpResponse | None
    sent: int  # body bytes that left the harness
    total: int  # body bytes the request announced
    cut: bool  # the harness stopped sending on purpose (cut_at)
    lost: str  # what went wrong on the wire after connecting ("" if nothing)
    elapsed_s: float


def digest_authorization(
    challenge: str, method: str, uri: str, username: str, password: str
) -> str:
    """The `Authorization` value answering a `WWW-Authenticate: Digest ...` challenge."""
    fields = {
        m.group(1).lower(): m.group(2) or m.group(3) for m in _CHALLENGE_FIELD.finditer(challenge)
    }
    realm, nonce = fields.get("realm", ""), fields.get("nonce", "")

    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1 = md5(f"{username}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    cnonce, count = secrets.token_hex(8), "00000001"
    response = md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
    parts = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        "qop=auth",
        f"nc={count}",
        f'cnonce="{cnonce}"',
        f'response="{response}"',
        "algorithm=MD5",
    ]
    if "opaque" in fields:
        parts.append(f'opaque="{fields["opaque"]}"')
    return "Digest " + ", ".join(parts)


def open_connection(
    scope: Scope, url: str, *, timeout: float, transcript: Transcript, ca_file: Path | None
) -> tuple[socket.socket, str]:
    """A connected (TLS for https) socket to the URL's host, after the scope check."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise ValueError(f"not an http(s) or ws(s) URL: {url}")
    secure = parts.scheme in ("https", "wss")
    address = str(scope.resolve(parts.hostname))
    port = parts.port or (443 if secure else 80)
    target = f"{parts.hostname}:{port}"
    transcript.event(f"connect {address}:{port}")
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except TimeoutError:
        raise DeviceTimeout(target, "connect timed out") from None
    except OSError as exc:
        raise NotConnected(target, f"connect failed: {exc.strerror or exc}") from None
    if not secure:
        return raw, target
    trust = TlsTrust.of(ca_file)
    try:
        context = trust.context(target, transcript)
        tls = context.wrap_socket(raw, server_hostname=parts.hostname)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        reason = exc.verify_message or str(exc)
        raise DeviceUnreachable(
            target, f"the certificate chain does not verify against {trust.anchors} ({reason})"
        ) from None
    except (ssl.SSLError, OSError) as exc:
        raw.close()
        raise DeviceUnreachable(target, f"TLS handshake failed: {exc}") from None
    transcript.event(f"TLS {tls.version()} {tls.cipher()}")
    return tls, target


def upload(
    scope: Scope,
    method: str,
    url: str,
    *,
    length: int,
    chunks: Iterable[bytes],
    headers: dict[str, str],
    timeout: float,
    transcript: Transcript,
    ca_file: Path | None = None,
    cut_at: int | None = None,
) -> UploadResult:
    """Send a request whose body of `length` bytes comes from `chunks`, read the answer.

    With `cut_at`, the connection is closed after that many body bytes and no answer is
    awaited (an interrupted transfer). A send error (the device closed early) is noted
    and the answer, if the device sent one, is still read.
    """
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.monotonic()
    sock, target = open_connection(
        scope, url, timeout=timeout, transcript=transcript, ca_file=ca_file
    )
    all_headers = {
        "Host": parts.netloc,
        "User-Agent": "medsec-harness",
        "Content-Length": str(length),
        "Connection": "close",
        **headers,
    }
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in all_headers.items()
    )
    shown = "".join(
        f"{k}: {'<redacted>' if k == 'Authorization' else v}\n" for k, v in all_headers.items()
    )
    transcript.sent(
        f"{method} {path} HTTP/1.1\n{shown}".encode(), f"request head, {length} body bytes follow"
    )
    sent, lost, cut = 0, "", False
    try:
        sock.settimeout(timeout)
        sock.sendall(head.encode() + b"\r\n")
        for chunk in chunks:
            if cut_at is not None and sent + len(chunk) >= cut_at:
                sock.sendall(chunk[: cut_at - sent])
                sent = cut_at
                cut = True
                break
            sock.sendall(chunk)
            sent += len(chunk)
    except TimeoutError:
        lost = f"the device stopped reading after {sent} of {length} body bytes"
    except OSError as exc:
        why = exc.strerror or exc
        lost = f"the device closed the connection after {sent} of {length} body bytes ({why})"
    if cut:
        transcript.event(
            f"transfer cut on purpose after {sent} of {length} body bytes; connection closed"
        )
        _close(sock)
        return UploadResult(None, sent, length, True, "", time.monotonic() - started)
    transcript.event(lost or f"sent all {length} body bytes")
    response, answer_lost = _read_response(sock, target, timeout, transcript)
    _close(sock)
    return UploadResult(
        response,
        sent,
        length,
        False,
        "; ".join(x for x in (lost, answer_lost) if x),
        time.monotonic() - started,
    )


def _read_response(
    sock: socket.socket, target: str, timeout: float, transcript: Transcript
) -> tuple[HttpResponse | None, str]:
    started = time.monotonic()
    sock.settimeout(timeout)
    response = http.client.HTTPResponse(sock)
    budget = timeout * EXCHANGE_FACTOR
    try:
        with ExchangeDeadline(budget, target, "the answer") as guard:
            guard.watch(sock)
            response.begin()
            body = response.read(MAX_BODY)
    except DeviceTimeout:
        transcript.event(f"no complete answer within {budget:.0f}s")
        return None, f"no complete answer within {budget:.0f}s"
    except TimeoutError:
        transcript.event(f"no answer within {timeout:.0f}s")
        return None, f"no answer within {timeout:.0f}s"
    except (http.client.HTTPException, OSError) as exc:
        transcript.event(f"no HTTP answer: {exc!r}")
        return None, f"no HTTP answer ({type(exc).__name__})"
    elapsed = time.monotonic() - started
    answer = HttpResponse(
        response.status, response.reason, tuple(response.getheaders()), body, elapsed
    )
    head = f"HTTP/1.1 {answer.status} {answer.reason}\n" + "".join(
        f"{k}: {v}\n" for k, v in answer.headers
    )
    suffix = b"" if len(body) <= _SHOWN_BODY else b"\n... (%d bytes)" % len(body)
    transcript.received(
        head.encode() + b"\n" + body[:_SHOWN_BODY] + suffix, f"{elapsed:.3f}s ({target})"
    )
    return answer, ""


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
