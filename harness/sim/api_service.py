"""The pump's HTTPS therapy API: version read-out and the authenticated update upload.

TLS is handled per connection in the connection's own thread, so a client that never
finishes its handshake cannot block the accept loop. The hardened pump speaks TLS 1.2
(AEAD suites with ECDHE only) and TLS 1.3. W-05 adds TLS 1.0 and 1.1: a ClientHello
whose highest offered version is below 1.2 is answered by a legacy context, every other
one by the hardened context, so TLS 1.2 and 1.3 look the same as on the hardened pump.
Every answer carries HSTS, a CSP that forbids framing, nosniff and no-store; the
`Server` header says `pumpd`, and with W-13 the version and a TLS library's too, as
does the JSON of every error answer.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import logging
import socket
import socketserver
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.sim import api_accounts
from harness.sim.firmware import FirmwareState
from harness.sim.listener import peer_name

SOCKET_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 32
MAX_IMAGE_BYTES = 16 * 1024 * 1024
BODY_DEADLINE_S = 60.0
DISCARD_DEADLINE_S = 5.0
HELLO_DEADLINE_S = 5.0
TCP_CLOSE_WAIT = 8  # tcpi_state once the peer's FIN arrived (linux/tcp_states.h)
UPDATE_USER = "update"
SERVER_HEADER = "pumpd"
DISCLOSED_TLS_LIBRARY = "OpenSSL/1.1.1k"  # W-13's claim (see harness/sim/sbom.py)
SHUTDOWN_POLL_S = 0.25  # how soon serve_forever sees a stop; each look is a wake-up when idle
CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
HARDENED_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"
_TLS12 = 0x0303
HANDSHAKE_RECORD = 0x16  # a TLS record's content type: handshake


def hardened_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2 and 1.3; TLS 1.2 only with forward-secret AEAD suites; no renegotiation."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(HARDENED_TLS12_CIPHERS)
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(cert, key)
    return context


def legacy_context(cert: Path, key: Path) -> ssl.SSLContext:
    """W-05: TLS 1.0 and up with OpenSSL's default suites at security level 0."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated is the point here
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers(LEGACY_CIPHERS)
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.load_cert_chain(cert, key)
    return context


def client_max_version(hello: bytes) -> int | None:
    """The highest TLS version (0x0301 = TLS 1.0) a ClientHello record offers, None if unreadable.

    Reads `supported_versions` when present (GREASE values ignored), else the
    legacy version field; only the first record is looked at.
    """
    try:
        if hello[0] != HANDSHAKE_RECORD:
            return None
        record = hello[5 : 5 + int.from_bytes(hello[3:5], "big")]
        if record[0] != 0x01:
            return None
        message = record[4 : 4 + int.from_bytes(record[1:4], "big")]
        legacy = int.from_bytes(message[0:2], "big")
        at = 2 + 32
        at += 1 + message[at]  # session id
        at += 2 + int.from_bytes(message[at : at + 2], "big")  # cipher suites
        at += 1 + message[at]  # compression methods
        if at + 2 > len(message):
            return legacy
        end = min(len(message), at + 2 + int.from_bytes(message[at : at + 2], "big"))
        at += 2
        while at + 4 <= end:
            kind = int.from_bytes(message[at : at + 2], "big")
            size = int.from_bytes(message[at + 2 : at + 4], "big")
            at += 4
            if kind == 0x002B:
                data = message[at : at + size]
                offered = [int.from_bytes(data[i : i + 2], "big") for i in range(1, 1 + data[0], 2)]
                real = [v for v in offered if v & 0x0F0F != 0x0A0A]
                return max(real) if real else legacy
            at += size
        return legacy
    except (IndexError, ValueError):
        return None


def peek_client_hello(
    sock: socket.socket,
    deadline_s: float = HELLO_DEADLINE_S,
    cancelled: Callable[[], bool] = lambda: False,
) -> bytes:
    """The first TLS record the client sent, without consuming it (may be partial: a
    client that closed its side sends no more, however long the record says it is).

    Bytes that do not open a handshake record (a cleartext request, a debugger's packet)
    are returned at once: no ClientHello follows them, and a TLS stack refuses them as
    soon as it reads their first byte, as OpenSSL does."""
    deadline = time.monotonic() + deadline_s
    data = b""
    while time.monotonic() < deadline and not cancelled():
        data = sock.recv(5 + 16384, socket.MSG_PEEK)
        if not data or data[0] != HANDSHAKE_RECORD:
            return data
        if len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[3:5], "big"):
            return data
        if _peer_closed(sock):
            return data
        time.sleep(0.01)
    return data


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the peer's FIN arrived (Linux TCP_INFO; a peek cannot see it behind data)."""
    if not hasattr(socket, "TCP_INFO"):
        return False
    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except OSError:
        return True
    return state == TCP_CLOSE_WAIT


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with TLS in the connection thread and a connection cap."""

    daemon_threads = True
    block_on_close = False
    # The pump's other listeners' backlog (listener.py); socketserver's default of 5 let a
    # burst of connects (ROBUST-005's 40) overflow it, and a dropped SYN is retried 1 s
    # and 3 s later: the flood then took seconds to be accepted.
    request_queue_size = 64

    def __init__(self, service: ApiService, address: tuple[str, int]) -> None:
        self.service = service
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._live_lock = threading.Lock()
        self._live: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look the address up in DNS (getfqdn); not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = self.socket.accept()
        conn.settimeout(SOCKET_TIMEOUT_S)
        return conn, address

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.service.log.info(
                "https connection from %s refused: connection limit", peer_name(client_address)
            )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        peer = peer_name(client_address)
        self.service.log.info("https connection from %s", peer)
        self._track(request, True)
        try:
            context = self.service.context_for(request)
            # wrap_socket takes over the descriptor: track the TLS socket from here on,
            # so that stop() can cut a client that stalls in the handshake.
            tls = context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        except (ssl.SSLError, OSError) as exc:
            self.service.log.info("https %s TLS handshake failed: %s", peer, _tls_error(exc))
            return
        finally:
            self._track(request, False)
        self._track(tls, True)
        try:
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                self.service.log.info("https %s TLS handshake failed: %s", peer, _tls_error(exc))
                return
            self.service.log.info("https %s negotiated %s %s", peer, tls.version(), tls.cipher())
            try:
                _Handler(tls, client_address, self)
            except (ssl.SSLError, OSError) as exc:
                self.service.log.info("https %s connection lost: %s", peer, _tls_error(exc))
        finally:
            self._track(tls, False)
            tls.close()

    def _track(self, sock: socket.socket, live: bool) -> None:
        with self._live_lock:
            if live:
                self._live.add(sock)
            else:
                self._live.discard(sock)

    def cut_live(self) -> None:
        """Shut down every open client connection, so its thread ends now."""
        with self._live_lock:
            live = list(self._live)
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.service.log.exception("https %s request failed", peer_name(client_address))


def _tls_error(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or type(exc).__name__
    return type(exc).__name__


class _Handler(BaseHTTPRequestHandler):
    """GET /api/version, POST /api/update; anything else is a JSON 404."""

    server: _Server
    server_version = SERVER_HEADER
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    error_content_type = "application/json"

    def version_string(self) -> str:
        return self.server.service.server_header

    def do_GET(self) -> None:
        if self._path() == "/api/version":
            firmware = self.server.service.firmware
            # "version" first: a first-match version regex must not read the hardware "1.0".
            self._json(
                200,
                {
                    "version": firmware.version,
                    "model": firmware.model,
                    "hardware": firmware.hardware,
                },
            )
        elif not self._accounts():
            self._not_found()

    def do_POST(self) -> None:
        if self._path() == "/api/update":
            self._update()
        elif not self._accounts():
            self._not_found()

    def do_HEAD(self) -> None:
        self._json(404, {"error": "not found"}, body=False)

    def do_PUT(self) -> None:
        if not self._accounts():
            self._not_found()

    def _accounts(self) -> bool:
        """Login, configuration and password requests; False for any other path."""
        accounts = self.server.service.accounts
        if accounts is None or self._path() not in api_accounts.PATHS:
            return False
        body = b""
        if self.command != "GET":
            try:
                length = int(self.headers.get("Content-Length") or "0")
            except ValueError:
                length = -1
            if not 0 <= length <= api_accounts.MAX_BODY:
                self._json(400, {"error": "bad Content-Length"})
                return True
            body = self._read_body(length) or b""
        reply = accounts.handle(self.command, self._path(), self.headers.get("Authorization"), body)
        self._json(reply.status, reply.document, headers=reply.headers)
        return True

    def do_DELETE(self) -> None:
        self._not_found()

    def do_PATCH(self) -> None:
        self._not_found()

    def do_OPTIONS(self) -> None:
        self._not_found()

    def _path(self) -> str:
        return urlsplit(self.path).path

    def _not_found(self) -> None:
        self._json(404, {"error": "not found"})

    def _update(self) -> None:
        service = self.server.service
        peer = peer_name(self.client_address)
        length_text = self.headers.get("Content-Length")
        if length_text is None or "Transfer-Encoding" in self.headers:
            self._json(411, {"error": "Content-Length required"})
            return
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError(length_text)
        except ValueError:
            self._json(400, {"error": "bad Content-Length"})
            return
        if length > MAX_IMAGE_BYTES:
            self._json(413, {"error": f"image larger than {MAX_IMAGE_BYTES} bytes"})
            self._discard_body(length)
            return
        if not self._authorized() and not service.store_unauthenticated:
            service.log.info("https %s update refused: not authenticated", peer)
            self._json(
                401,
                {"error": "authentication required"},
                headers={"WWW-Authenticate": 'Basic realm="pumpd update", charset="UTF-8"'},
            )
            self._discard_body(length)
            return
        image = self._read_body(length)
        if image is None:
            return
        if service.store_unauthenticated and not self._authorized():
            service.log.info("https %s update without credentials stored (W-19)", peer)
        verdict = service.firmware.verify_and_install(image)
        service.log.info(
            "https %s update of %d bytes %s: %s (running %s)",
            peer,
            length,
            "accepted" if verdict.accepted else "refused",
            verdict.reason,
            verdict.version,
        )
        if verdict.accepted:
            self._json(200, {"accepted": True, "version": verdict.version})
        else:
            self._json(422, {"accepted": False, "reason": verdict.reason})

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, _, password = decoded.partition(b":")
        expected = self.server.service.update_password.encode()
        user_ok = hmac.compare_digest(user, UPDATE_USER.encode())
        return hmac.compare_digest(password, expected) and user_ok

    def _discard_body(self, length: int) -> None:
        """Read and drop a body that was answered early, for a bounded time.

        Closing with unread bytes makes the kernel send a reset, and a client that is
        still sending would lose the error reply; so the body is drained (never stored).
        """
        self.wfile.flush()
        deadline = time.monotonic() + DISCARD_DEADLINE_S
        remaining = length
        try:
            while remaining > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(remaining, 65536))
                if not chunk:
                    return
                remaining -= len(chunk)
        except OSError:
            return

    def _read_body(self, length: int) -> bytes | None:
        deadline = time.monotonic() + BODY_DEADLINE_S
        chunks: list[bytes] = []
        remaining = length
        try:
            while remaining and time.monotonic() < deadline:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
        except OSError:
            pass
        if remaining:
            self.close_connection = True
            self.server.service.log.info(
                "https %s update body incomplete (%d of %d bytes)",
                peer_name(self.client_address),
                length - remaining,
                length,
            )
            return None
        return b"".join(chunks)

    def _json(
        self,
        status: int,
        document: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        body: bool = True,
    ) -> None:
        service = self.server.service
        if service.disclose_versions and status >= 400:  # W-13: error pages name versions
            document = {**document, "server": service.server_header}
        payload = json.dumps(document).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Strict-Transport-Security", "max-age=31536000")
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if body:
            self.wfile.write(payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The default error page quotes the request; answer with a fixed JSON text instead.
        try:
            self._json(
                code,
                {"error": self.responses.get(code, ("error",))[0]},
                body=self.command != "HEAD" and code >= 200 and code not in (204, 304),
            )
        except OSError:
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.service.log.info(
            "https %s %r %r -> %s",
            peer_name(self.client_address),
            getattr(self, "command", None),
            getattr(self, "path", None),
            code,
        )

    def log_message(self, format: str, *args: Any) -> None:
        self.server.service.log.debug(
            "https %s %s", peer_name(self.client_address), repr(format % args)
        )


class ApiService:
    """The HTTPS API of one pump on (host, a free port)."""

    def __init__(
        self,
        *,
        host: str,
        cert: Path,
        key: Path,
        firmware: FirmwareState,
        update_password: str,
        weaknesses: Collection[str],
        log: logging.Logger,
        accounts: api_accounts.AccountsApi | None = None,
    ) -> None:
        self.firmware = firmware
        self.update_password = update_password
        self.store_unauthenticated = "W-19" in weaknesses  # W-19: upload without credentials
        self.disclose_versions = "W-13" in weaknesses
        self.accounts = accounts
        self.log = log
        self._hardened = hardened_context(cert, key)
        self._legacy = legacy_context(cert, key) if "W-05" in weaknesses else None
        self._server = _Server(self, (host, 0))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_S},
            name="sim-https",
            daemon=True,
        )
        self._stopped = False

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def server_header(self) -> str:
        """`pumpd`; with W-13 the running version and the TLS library's too."""
        if self.disclose_versions:
            return f"{SERVER_HEADER}/{self.firmware.version} {DISCLOSED_TLS_LIBRARY}"
        return SERVER_HEADER

    def context_for(self, sock: socket.socket) -> ssl.SSLContext:
        """The TLS context for this connection (see the module docstring)."""
        if self._legacy is None:
            return self._hardened
        version = client_max_version(peek_client_hello(sock, cancelled=lambda: self._stopped))
        if version is not None and version < _TLS12:
            return self._legacy
        return self._hardened

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=2.0)
        self._server.server_close()
        self._server.cut_live()
