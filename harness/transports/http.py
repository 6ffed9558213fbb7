"""HTTP(S) requests to the device, scope-checked, timed and recorded.

TLS verification uses `tls.ca_file` when the profile names one; without it the
connection is encrypted but unauthenticated and the exchange says so (certificate
judgement belongs to the CRYPTO checks, not to delivering a request).
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.core.errors import DeviceTimeout, DeviceUnreachable, ProtocolViolation
from harness.core.redact import Secret, reveal
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports.deadline_guard import EXCHANGE_FACTOR, ExchangeDeadline

MAX_BODY = 4 * 1024 * 1024
_SHOWN_BODY = 4096


@dataclass(frozen=True)
class HttpResponse:
    """What the device answered."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    elapsed_s: float

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(
    scope: Scope,
    method: str,
    url: str,
    *,
    timeout: float,
    transcript: Transcript,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    basic_auth: tuple[str, Secret] | None = None,
    ca_file: Path | None = None,
) -> HttpResponse:
    """Send one request and read the whole answer (at most MAX_BODY bytes), all within
    `EXCHANGE_FACTOR` times the I/O timeout."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    address = str(scope.resolve(parts.hostname))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = f"{parts.hostname}:{port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # The connection keeps the name (SNI, Host) but reaches only the address checked.
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, port, timeout=timeout, context=_tls_context(ca_file, transcript)
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    all_headers = {"Host": parts.netloc, "User-Agent": "medsec-harness", **(headers or {})}
    if basic_auth is not None:
        user, password = basic_auth[0], reveal(basic_auth[1])
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        all_headers["Authorization"] = f"Basic {token}"
    shown_headers = {
        k: ("Basic <redacted>" if k == "Authorization" else v) for k, v in all_headers.items()
    }
    transcript.sent(
        f"{method} {path} HTTP/1.1\n".encode()
        + "".join(f"{k}: {v}\n" for k, v in shown_headers.items()).encode(),
        f"request to {address}:{port} with {len(body or b'')} body bytes",
    )
    started = time.monotonic()
    budget = timeout * EXCHANGE_FACTOR
    try:
        with ExchangeDeadline(budget, target, f"{method} {path}") as guard:
            # Pinned to the checked address, and watched from its creation (so a trickled
            # TLS handshake counts against the exchange too).
            connection._create_connection = guard.watching(  # type: ignore[attr-defined]
                lambda _name, *args, **kwargs: socket.create_connection(
                    (address, port), *args, **kwargs
                )
            )
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            data = response.read(MAX_BODY)
    except TimeoutError:
        raise DeviceTimeout(target, f"{method} {path} timed out") from None
    except ssl.SSLError as exc:
        raise DeviceUnreachable(target, f"TLS handshake failed: {exc.reason or exc}") from None
    except http.client.HTTPException as exc:
        raise ProtocolViolation(target, f"not a valid HTTP answer: {exc!r}") from None
    except OSError as exc:
        raise DeviceUnreachable(target, f"{method} {path}: {exc.strerror or exc}") from None
    finally:
        connection.close()
    elapsed = time.monotonic() - started
    answer = HttpResponse(
        response.status, response.reason, tuple(response.getheaders()), data, elapsed
    )
    head = f"HTTP/1.1 {answer.status} {answer.reason}\n" + "".join(
        f"{k}: {v}\n" for k, v in answer.headers
    )
    suffix = b"" if len(data) <= _SHOWN_BODY else b"\n... (%d bytes)" % len(data)
    transcript.received(head.encode() + b"\n" + data[:_SHOWN_BODY] + suffix, f"{elapsed:.3f}s")
    return answer


def _tls_context(ca_file: Path | None, transcript: Transcript) -> ssl.SSLContext:
    if ca_file is not None:
        context = ssl.create_default_context(cafile=str(ca_file))
        context.check_hostname = False  # names are CRYPTO-006's to judge; the chain is checked
        transcript.event(f"TLS: server chain verified against {ca_file.name}")
        return context
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    transcript.event("TLS: server certificate not verified (no tls.ca_file in the profile)")
    return context
