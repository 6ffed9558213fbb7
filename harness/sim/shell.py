"""The pump's tiny shell, shared by the SSH service and the serial console.

`LineEditor` turns typed bytes into lines (CR, LF and CRLF each end one line) with a
bounded buffer; `execute` runs one line as the given account.
"""

from __future__ import annotations

from dataclasses import dataclass

LINE_LIMIT = 1024
CTRL_C, CTRL_D, CTRL_Z = 0x03, 0x04, 0x1A
_BACKSPACE = (0x08, 0x7F)
_NOT_FOUND_NAME_LIMIT = 64


@dataclass(frozen=True)
class Account:
    """A Unix account of the pump."""

    name: str
    uid: int

    @property
    def prompt(self) -> str:
        return f"{self.name}@ip100:~{'#' if self.uid == 0 else '$'} "


SERVICE = Account("service", 1000)
ROOT = Account("root", 0)


@dataclass(frozen=True)
class CommandResult:
    """Output lines (without line ends), exit status, and whether the session ends."""

    lines: tuple[str, ...]
    status: int
    logout: bool = False


def execute(line: str, account: Account, firmware_version: str) -> CommandResult:
    """Run one command line: `version`, `id`, `exit`, `cat /etc/shadow`; else not found."""
    words = line.split()
    if not words:
        return CommandResult((), 0)
    name = words[0]
    if name == "version":
        return CommandResult((firmware_version,), 0)
    if name == "id":
        user = f"{account.uid}({account.name})"
        return CommandResult((f"uid={user} gid={user} groups={user}",), 0)
    if name in ("exit", "logout"):
        return CommandResult((), 0, logout=True)
    if words == ["cat", "/etc/shadow"]:
        if account.uid != 0:
            return CommandResult(("cat: /etc/shadow: Permission denied",), 1)
        return CommandResult(tuple(f"{a.name}:!:19700:0:99999:7:::" for a in (ROOT, SERVICE)), 0)
    return CommandResult((f"sh: {printable(name, _NOT_FOUND_NAME_LIMIT)}: not found",), 127)


def printable(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with anything but printable ASCII shown as `?`."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])


@dataclass(frozen=True)
class Key:
    """What one typed byte meant: a finished line, a control key, or nothing yet."""

    echo: bytes = b""
    line: str | None = None
    control: int | None = None


class LineEditor:
    """Typed bytes in, lines out; printable ASCII only, at most `limit` characters kept."""

    def __init__(self, limit: int = LINE_LIMIT) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self._after_cr = False

    @property
    def empty(self) -> bool:
        return not self._buffer

    def clear(self) -> None:
        self._buffer.clear()

    def feed(self, byte: int) -> Key:
        """Take one byte; returns the echo it deserves and a line or control key if any."""
        after_cr, self._after_cr = self._after_cr, False
        if byte == 0x0A and after_cr:
            return Key()  # the LF of a CRLF pair
        if byte in (0x0D, 0x0A):
            self._after_cr = byte == 0x0D
            line = self._buffer.decode("ascii")
            self._buffer.clear()
            return Key(line=line)
        if byte in (CTRL_C, CTRL_D, CTRL_Z):
            return Key(control=byte)
        if byte in _BACKSPACE:
            if self._buffer:
                self._buffer.pop()
                return Key(echo=b"\b \b")
            return Key()
        if 0x20 <= byte <= 0x7E and len(self._buffer) < self._limit:
            self._buffer.append(byte)
            return Key(echo=bytes((byte,)))
        return Key()  # other control bytes, non-ASCII, and anything past the limit


def caret(control: int) -> bytes:
    """How a terminal shows a control key: 0x03 -> b"^C"."""
    return b"^" + bytes((control + 0x40,))
