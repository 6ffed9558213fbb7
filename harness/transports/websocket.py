"""A listening websocket (RFC 6455, through `websocket-client`): text messages collected.

Used for update agents that report progress on a websocket (SWUpdate's `/ws`): the
socket is opened, after the scope check, before the upload, and a reader thread keeps
every message (bounded) until it is closed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import websocket

from harness.core.deadline import Deadline
from harness.core.errors import DeviceUnreachable, ProtocolViolation
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports.http_upload import open_connection

MAX_MESSAGES = 4000
POLL_S = 0.1


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
        self._ws = websocket.WebSocket()
        shown = {
            k: ("<redacted>" if k == "Authorization" else v) for k, v in (headers or {}).items()
        }
        transcript.sent(f"GET {url} (websocket upgrade) {shown}".encode())
        try:
            self._ws.connect(  # type: ignore[no-untyped-call]
                url,
                socket=sock,
                timeout=timeout,
                header=[f"{k}: {v}" for k, v in (headers or {}).items()],
                suppress_origin=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            sock.close()
            raise ProtocolViolation(
                self.target, f"websocket upgrade refused: HTTP {exc.status_code}"
            ) from None
        except (websocket.WebSocketException, OSError) as exc:
            sock.close()
            raise DeviceUnreachable(self.target, f"websocket upgrade failed: {exc}") from None
        transcript.event("websocket open")
        self._ws.settimeout(POLL_S)
        self._messages: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"ws-{self.target}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                return
            text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
            self.transcript.received(text.encode(), "websocket")
            with self._lock:
                if len(self._messages) < MAX_MESSAGES:
                    self._messages.append(text)

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
