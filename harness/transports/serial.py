"""Serial consoles through pyserial: a pty path, /dev/ttyUSB0, socket://, rfc2217://, loop://.

Reads are short polls against a shared `Deadline`, so a console that floods output or
never shows a prompt ends the wait on time; the match buffer keeps only the tail.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import serial

from harness.core.deadline import Deadline
from harness.core.errors import DeviceTimeout, DeviceUnreachable
from harness.core.scope import Scope
from harness.core.transcript import Transcript

POLL_S = 0.05
TAIL = 64 * 1024
DRAIN_S = 0.5  # at most, to read what a console had already printed


NETWORK_SCHEMES = frozenset({"socket", "rfc2217"})
LOCAL_SCHEMES = frozenset({"", "loop"})


def pin_url(scope: Scope, url: str) -> str:
    """`url` with its host replaced by the one address the scope check allowed.

    pyserial would resolve a `socket://` or `rfc2217://` host name again, and could get
    another answer than the one checked; it gets the checked address instead. Other
    pyserial schemes (spy://, hwgrep://, alt://...) can open what the scope never saw.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in LOCAL_SCHEMES:
        return url
    if scheme not in NETWORK_SCHEMES or not parts.hostname or parts.port is None:
        raise DeviceUnreachable(
            url,
            "a console URL must be a device path, loop://, socket:// or rfc2217:// "
            "with host and port",
        )
    address = scope.resolve(parts.hostname)
    host = f"[{address}]" if address.version == 6 else str(address)
    return urlunsplit((scheme, f"{host}:{parts.port}", parts.path, parts.query, ""))


@dataclass(frozen=True)
class PortOptions:
    """How pyserial opens a pinned console URL."""

    url: str
    write_timeout: float | None


def port_options(pinned: str, timeout: float) -> PortOptions:
    """pyserial's URL and write timeout for a pinned console URL.

    pyserial's RFC 2217 client refuses a write timeout; its writes are bounded by the 5 s
    timeout of its own socket instead. It also waits for the server to confirm every
    modem-control change (DTR and RTS at open, BREAK), and ser2net in front of a line
    without modem lines (a pty) never confirms DTR, so every open would fail after 3 s:
    `ign_set_control` sends them without waiting. No console check depends on DTR, RTS
    or BREAK having taken effect.
    """
    parts = urlsplit(pinned)
    if parts.scheme.lower() != "rfc2217":
        return PortOptions(pinned, timeout)
    options = [o for o in parts.query.split("&") if o]
    if "ign_set_control" not in options:
        options.append("ign_set_control")
    return PortOptions(parts._replace(query="&".join(options)).geturl(), None)


class Console:
    """An open serial console with expect-style reads and a transcript."""

    def __init__(
        self,
        scope: Scope,
        url: str,
        *,
        baudrate: int,
        timeout: float,
        transcript: Transcript,
    ) -> None:
        self.target = url
        self.timeout = timeout
        self.transcript = transcript
        options = port_options(pin_url(scope, url), timeout)
        shown = url if options.url == url else f"{url} ({options.url})"
        transcript.event(f"open {shown} at {baudrate} baud")
        try:
            self._port = serial.serial_for_url(
                options.url, baudrate=baudrate, timeout=POLL_S, write_timeout=options.write_timeout
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceUnreachable(url, f"cannot open the console: {exc}") from None
        self._tail = b""

    def write(self, data: bytes, note: str = "", *, record: bool = True) -> None:
        """Send bytes; `record=False` for keys repeated many times (the caller notes them)."""
        if record:
            self.transcript.sent(data, note)
        self._write(data)

    def send_break(self, duration: float = 0.25) -> None:
        """A serial BREAK; consoles without a line (socket://, a pty) may ignore it."""
        self.transcript.event(f"BREAK for {duration:.2f}s")
        try:
            self._port.send_break(duration)
        except (serial.SerialException, OSError, ValueError) as exc:
            self.transcript.event(f"BREAK not supported by this port: {exc}")

    def read_for(self, seconds: float) -> bytes:
        """Everything the console prints within `seconds` (also kept for the next expect)."""
        deadline = Deadline(seconds)
        data = b""
        while not deadline.expired:
            data += self._read_available()
        return data

    @property
    def pending(self) -> bytes:
        """Output read but not yet matched by an expect."""
        return self._tail

    def write_secret(self, data: bytes, shown: str) -> None:
        """Type a secret: the transcript records `shown`, never the bytes."""
        self.transcript.send_secret(shown)
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException:
            raise DeviceTimeout(self.target, "write timed out (flow control?)") from None
        except (serial.SerialException, OSError) as exc:
            raise DeviceUnreachable(self.target, f"write failed: {exc}") from None

    def _read_available(self) -> bytes:
        try:
            data: bytes = self._port.read(max(1, self._port.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise DeviceUnreachable(self.target, f"read failed: {exc}") from None
        if data:
            self.transcript.received(data)
            self._tail = (self._tail + data)[-TAIL:]
        return data

    def expect(
        self, patterns: Sequence[re.Pattern[bytes]], deadline: Deadline
    ) -> tuple[int, bytes]:
        """Wait until one pattern matches the unread output: (pattern index, text up to it)."""
        while True:
            for index, pattern in enumerate(patterns):
                match = pattern.search(self._tail)
                if match:
                    seen = self._tail[: match.end()]
                    self._tail = self._tail[match.end() :]
                    return index, seen
            if deadline.expired:
                wanted = " or ".join(repr(p.pattern.decode(errors="replace")) for p in patterns)
                shown = self._tail[-200:].decode("utf-8", "replace")
                raise DeviceTimeout(self.target, f"no {wanted} in time; last output: {shown!r}")
            self._read_available()

    def drain(self) -> bytes:
        """Read and drop what the console printed before now (the transcript keeps it):
        output queued before a key press, such as a boot log and its login prompt, is not
        the answer to that key. Bounded by TAIL bytes and DRAIN_S seconds."""
        deadline = Deadline(DRAIN_S)
        data = self._tail
        while len(data) < TAIL and not deadline.expired:
            try:
                waiting = self._port.in_waiting
            except (serial.SerialException, OSError) as exc:
                raise DeviceUnreachable(self.target, f"read failed: {exc}") from None
            if not waiting:
                break
            data += self._read_available()
        self._tail = b""
        return data

    def forget(self) -> None:
        """Drop unread output so the next expect sees only what comes after now."""
        self._tail = b""

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
