"""A listening websocket (RFC 6455, through `websocket-client`): text messages collected.

Used for update agents that report progress on a websocket (SWUpdate's `/ws`): the
socket is opened, after the scope check, before the upload, and a reader thread keeps
every message (bounded) until it is closed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import websocket

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceUnreachable, ProtocolViolation
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports.deadline_guard import EXCHANGE_FACTOR, ExchangeDeadline
from harness.transports.http_upload import open_connection

MAX_MESSAGES = 4000
MAX_FRAME = 1 << 20  # bytes a frame may announce; checked before its payload is read
MAX_MESSAGE = 1 << 20  # bytes of one message, over all of its fragments
MAX_KEPT = 8 << 20  # bytes of messages kept for the verdict
MAX_UPGRADE_ANSWER = 64 * 1024  # bytes of the answer to the upgrade: status, headers, body
POLL_S = 0.1


class _UpgradeReader:
    """The socket as websocket-client reads the upgrade answer through it, refusing more
    than MAX_UPGRADE_ANSWER bytes.

    The library reads the status and header lines without a limit on their length or
    number (and a refusal's whole announced body), so the cap is kept here, in `recv`.
    Everything else is the socket's own.
    """

    def __init__(self, sock: socket.socket, target: str) -> None:
        self._sock = sock
        self._target = target
        self._read = 0

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(min(size, MAX_UPGRADE_ANSWER + 1 - self._read))
        self._read += len(data)
        if self._read > MAX_UPGRADE_ANSWER:
            raise ProtocolViolation(
                self._target,
                f"the answer to the websocket upgrade ran past {MAX_UPGRADE_ANSWER} bytes",
            )
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


class _BoundedWebSocket(websocket.WebSocket):
    """websocket-client's socket, refusing a frame or message larger than our caps.

    The library reads a frame's whole announced length into memory; a device announcing
    2^40 bytes would grow the harness without end. The frame header and length are read
    first (the library then continues from them), so the cap holds before allocation.
    """

    def __init__(self) -> None:
        super().__init__()
        self._message_bytes = 0

    def recv_frame(self) -> websocket.ABNF:
        buffer = self.frame_buffer
        if buffer.needs_header():
            buffer.recv_header()
        if buffer.needs_length():
            buffer.recv_length()
        assert buffer.header is not None  # recv_header set it or raised
        length = buffer.length or 0
        fin, opcode = buffer.header[0], buffer.header[4]
        if length > MAX_FRAME:
            raise websocket.WebSocketProtocolException(
                f"a frame announced {length} bytes (cap {MAX_FRAME})"
            )
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY, 0):
            self._message_bytes = length + (self._message_bytes if opcode == 0 else 0)
            if self._message_bytes > MAX_MESSAGE:
                raise websocket.WebSocketProtocolException(
                    f"a message grew past {MAX_MESSAGE} bytes"
                )
        frame: websocket.ABNF = super().recv_frame()  # type: ignore[no-untyped-call]
        if fin:
            self._message_bytes = 0
        return frame


class MessageSocket:
    """An open websocket whose incoming text messages are kept in order."""

    def __init__(
        self,
        scope: Scope,
        url: str,
        *,
        timeout: float,
        transcript: Transcript,
        headers: dict[str, str] | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.url = url
        self.transcript = transcript
        sock, self.target = open_connection(
            scope, url, timeout=timeout, transcript=transcript, ca_file=ca_file
        )
        self._ws = _BoundedWebSocket()
        shown = {
            k: ("<redacted>" if k == "Authorization" else v) for k, v in (headers or {}).items()
        }
        transcript.sent(f"GET {url} (websocket upgrade) {shown}".encode())
        budget = timeout * EXCHANGE_FACTOR
        try:
            # Each read has `timeout`; the whole answer has `budget` (a trickle ends too).
            with ExchangeDeadline(budget, self.target, "the websocket upgrade") as guard:
                guard.watch(sock)
                self._upgrade(url, _UpgradeReader(sock, self.target), timeout, headers or {})
        except DeviceError:
            sock.close()
            raise
        self._ws.sock = sock  # frames are read from the socket itself, under their own caps
        transcript.event("websocket open")
        self._ws.settimeout(POLL_S)
        self._messages: list[str] = []
        self._kept = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"ws-{self.target}", daemon=True)
        self._thread.start()

    def _upgrade(
        self, url: str, reader: _UpgradeReader, timeout: float, headers: dict[str, str]
    ) -> None:
        """The upgrade handshake through `reader`; a failure raised as a DeviceError."""
        try:
            self._ws.connect(  # type: ignore[no-untyped-call]
                url,
                socket=reader,
                timeout=timeout,
                header=[f"{k}: {v}" for k, v in headers.items()],
                suppress_origin=True,
                redirect_limit=0,  # a redirect is the device's answer, never followed
            )
        except websocket.WebSocketBadStatusException as exc:
            raise ProtocolViolation(
                self.target, f"websocket upgrade refused: HTTP {exc.status_code}"
            ) from None
        except (websocket.WebSocketException, OSError) as exc:
            answer = self._ws.handshake_response
            if answer is not None and answer.status != 101:
                location = (answer.headers or {}).get("location", "")
                self.transcript.received(f"HTTP {answer.status} Location: {location}".encode())
                raise ProtocolViolation(
                    self.target,
                    f"websocket upgrade answered HTTP {answer.status} to {location!r}: "
                    "a redirect, not followed",
                ) from None
            raise DeviceUnreachable(self.target, f"websocket upgrade failed: {exc}") from None

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError) as exc:
                self.transcript.event(f"websocket reading ended: {exc or type(exc).__name__}")
                return
            text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
            self.transcript.received(text.encode(), "websocket")
            with self._lock:
                if len(self._messages) < MAX_MESSAGES and self._kept + len(text) <= MAX_KEPT:
                    self._messages.append(text)
                    self._kept += len(text)

    @property
    def messages(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._messages)

    def wait(self, done: Callable[[tuple[str, ...]], bool], deadline: Deadline) -> bool:
        """Poll until `done(messages)`, the peer closes, or the deadline; whether done."""
        while not deadline.expired:
            if done(self.messages):
                return True
            if not self._thread.is_alive():
                return done(self.messages)
            time.sleep(POLL_S)
        return done(self.messages)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * POLL_S + 1)
        with contextlib.suppress(websocket.WebSocketException, OSError):
            self._ws.close(timeout=1)
        self.transcript.event("websocket closed")

    def __enter__(self) -> MessageSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
