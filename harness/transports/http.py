"""HTTP(S) requests to the device, scope-checked, timed and recorded.

How a request treats the device's certificate chain is a `TlsTrust`: required (the
update channel with `tls.ca_file`, or `http.verify_tls`), checked (the AUTH checks: a
chain that does not verify is recorded and the request is made without verification,
since judging the chain is CRYPTO-005's job), or unchecked (nothing to check against).
Every line a request leaves in the transcript names its connection by the local port.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness.core.errors import (
    DeviceError,
    DeviceTimeout,
    DeviceUnreachable,
    NotConnected,
    ProtocolViolation,
)
from harness.core.redact import Secret, reveal
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import tls_context
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


@dataclass(frozen=True)
class TlsTrust:
    """How https requests treat the device's certificate chain.

    `required`: the chain must verify against `ca_file` (the system store without one),
    else the request fails. Not required: with a `ca_file` the chain is still checked and
    a failure recorded (once per target, then remembered), and the request is made
    without verification; without one nothing is checked.
    """

    ca_file: Path | None = None
    required: bool = False
    _failures: dict[str, str] = field(default_factory=dict, init=False, compare=False, repr=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, compare=False, repr=False
    )

    @classmethod
    def of(cls, ca_file: Path | None) -> TlsTrust:
        """Required against `ca_file` when there is one, unchecked otherwise."""
        return cls(ca_file, required=ca_file is not None)

    @property
    def anchors(self) -> str:
        return self.ca_file.name if self.ca_file is not None else "the system trust store"

    def failure(self, target: str) -> str | None:
        """Why the chain of `target` did not verify, if it was checked and failed."""
        with self._lock:
            return self._failures.get(target)

    def failures(self) -> dict[str, str]:
        """Every target whose chain was checked and failed, and why."""
        with self._lock:
            return dict(self._failures)

    def failed(self, target: str, reason: str) -> None:
        with self._lock:
            self._failures[target] = reason

    def context(self, target: str, transcript: Transcript) -> ssl.SSLContext:
        """The context for the next connection to `target`, its treatment noted."""
        if self.required or (self.ca_file is not None and self.failure(target) is None):
            cafile = str(self.ca_file) if self.ca_file is not None else None
            context = tls_context.verifying(cafile)  # names are CRYPTO-006's to judge
            how = "required" if self.required else "checked"
            transcript.event(f"TLS: server chain {how} against {self.anchors}")
            return context
        context = tls_context.unverified()
        failure = self.failure(target)
        transcript.event(
            "TLS: server certificate not verified "
            + (
                f"(its chain failed against {self.anchors}: {failure}; CRYPTO-005 judges it)"
                if failure
                else "(no tls.ca_file in the profile)"
            )
        )
        return context


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
    trust: TlsTrust | None = None,
) -> HttpResponse:
    """Send one request and read the whole answer (at most MAX_BODY bytes), all within
    `EXCHANGE_FACTOR` times the I/O timeout. The chain is treated as `trust` says
    (default: `TlsTrust.of(ca_file)`); a chain that is only checked and fails is
    recorded, and the request made once more without verification."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    trust = trust or TlsTrust.of(ca_file)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    exchange = _Exchange(
        address=str(scope.resolve(parts.hostname)),
        hostname=parts.hostname,
        port=port,
        target=f"{parts.hostname}:{port}",
        method=method,
        path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        headers=_headers(parts.netloc, headers, basic_auth),
        body=body,
        timeout=timeout,
        transcript=transcript,
    )
    if parts.scheme == "http":
        return exchange.run(None)
    try:
        return exchange.run(trust.context(exchange.target, transcript))
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
        if trust.required:
            raise DeviceUnreachable(
                exchange.target,
                f"the certificate chain does not verify against {trust.anchors} ({reason}), "
                "and it must (http.verify_tls, or the update channel's tls.ca_file)",
            ) from None
        trust.failed(exchange.target, reason)
        transcript.event(f"TLS: the chain does not verify against {trust.anchors}: {reason}")
    return exchange.run(trust.context(exchange.target, transcript))


def _headers(
    netloc: str, headers: dict[str, str] | None, basic_auth: tuple[str, Secret] | None
) -> dict[str, str]:
    all_headers = {"Host": netloc, "User-Agent": "medsec-harness", **(headers or {})}
    if basic_auth is not None:
        user, password = basic_auth[0], reveal(basic_auth[1])
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        all_headers["Authorization"] = f"Basic {token}"
    return all_headers


@dataclass(frozen=True)
class _Exchange:
    """One request on one connection, pinned to the checked address."""

    address: str
    hostname: str
    port: int
    target: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float
    transcript: Transcript

    def run(self, context: ssl.SSLContext | None) -> HttpResponse:
        """The answer; a certificate verification failure is raised as it is (the caller
        decides), every other failure as a DeviceError."""
        method, path, target = self.method, self.path, self.target
        # The connection keeps the name (SNI, Host) but reaches only the address checked.
        connection: http.client.HTTPConnection
        if context is not None:
            connection = http.client.HTTPSConnection(
                self.hostname, self.port, timeout=self.timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(self.hostname, self.port, timeout=self.timeout)
        started = time.monotonic()
        local = ""
        try:
            with ExchangeDeadline(
                self.timeout * EXCHANGE_FACTOR, target, f"{method} {path}"
            ) as guard:
                # Watched from its creation, so a trickled TLS handshake counts too.
                connection._create_connection = guard.watching(  # type: ignore[attr-defined]
                    lambda _name, *args, **kwargs: socket.create_connection(
                        (self.address, self.port), *args, **kwargs
                    )
                )
                connection.connect()
                local = f":{connection.sock.getsockname()[1]}"
                self._record_request(local)
                connection.request(method, path, body=self.body, headers=self.headers)
                response = connection.getresponse()
                data = response.read(MAX_BODY)
        except TimeoutError:
            raise self._lost(local, DeviceTimeout(target, f"{method} {path} timed out")) from None
        except ssl.SSLCertVerificationError as exc:
            self.transcript.event(f"{method} {path}: the certificate chain did not verify")
            raise exc
        except ssl.SSLError as exc:
            failed = DeviceUnreachable(target, f"TLS handshake failed: {exc.reason or exc}")
            raise self._lost(local, failed) from None
        except http.client.HTTPException as exc:
            invalid = ProtocolViolation(target, f"not a valid HTTP answer: {exc!r}")
            raise self._lost(local, invalid) from None
        except OSError as exc:
            kind = DeviceUnreachable if local else NotConnected  # no local port: no connection
            failed = kind(target, f"{method} {path}: {exc.strerror or exc}")
            raise self._lost(local, failed) from None
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
        self.transcript.received(
            head.encode() + b"\n" + data[:_SHOWN_BODY] + suffix,
            f"connection {local}, {elapsed:.3f}s",
        )
        return answer

    def _lost(self, local: str, error: DeviceError) -> DeviceError:
        """`error`, noted in the transcript against the connection (if one was made)."""
        on = f"on connection {local}" if local else "(no connection)"
        self.transcript.event(f"{self.method} {self.path} {on}: {error}")
        return error

    def _record_request(self, local: str) -> None:
        shown = {
            k: (v.split(" ", 1)[0] + " <redacted>" if k == "Authorization" else v)
            for k, v in self.headers.items()
        }
        self.transcript.sent(
            f"{self.method} {self.path} HTTP/1.1\n".encode()
            + "".join(f"{k}: {v}\n" for k, v in shown.items()).encode(),
            f"connection {local} to {self.address}:{self.port}, {len(self.body or b'')} body bytes",
        )
