"""One deadline for a whole exchange, for libraries whose timeouts bound each `recv` only.

A device that trickles one byte every few seconds never trips a per-read timeout
(http.client, paramiko channels): the exchange would last as long as the device likes.
`ExchangeDeadline` shuts the socket down when the exchange's time is up, which ends
any read blocked in a library, and turns whatever the library then raises (or the short
answer it returns) into `DeviceTimeout`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from harness.core.errors import DeviceTimeout

EXCHANGE_FACTOR = 3.0  # an exchange (connect, send, whole answer) may take 3 I/O timeouts


class ExchangeDeadline:
    """`with ExchangeDeadline(seconds, target, what) as guard: guard.watch(sock); ...`"""

    def __init__(self, seconds: float, target: str, what: str) -> None:
        self.seconds = seconds
        self.target = target
        self.what = what
        self.expired = threading.Event()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket | None) -> None:
        """Shut `sock` down if the deadline passes before the exchange ends."""
        if sock is not None:
            self._sockets.append(sock)
            if self.expired.is_set():
                self._expire()

    def watching(self, connect: Callable[..., socket.socket]) -> Callable[..., socket.socket]:
        """`connect` (e.g. `socket.create_connection`), watching every socket it returns."""

        def connect_and_watch(*args: Any, **kwargs: Any) -> socket.socket:
            sock = connect(*args, **kwargs)
            self.watch(sock)
            return sock

        return connect_and_watch

    def _expire(self) -> None:
        self.expired.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> ExchangeDeadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        if self.expired.is_set() and (exc is None or isinstance(exc, Exception)):
            raise DeviceTimeout(
                self.target, f"{self.what} did not finish within {self.seconds:.0f}s"
            ) from None
