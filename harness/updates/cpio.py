"""CPIO "newc" archives (magic 070701), the container of SWUpdate's `.swu` images.

Each entry is a 110-byte ASCII header (13 eight-digit hex fields), the NUL-terminated
name padded to 4 bytes, then the data padded to 4 bytes. The archive ends with the entry
`TRAILER!!!` and is padded to 512 bytes. Only what `.swu` images need: regular files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAGIC = b"070701"
HEADER_SIZE = 110
TRAILER = "TRAILER!!!"
BLOCK = 512
_FILE_MODE = 0o100644


class CpioError(ValueError):
    """The bytes are not a well-formed newc archive; the message says where."""


@dataclass(frozen=True)
class Entry:
    """One file of the archive."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Located:
    """Where an entry sits in the archive bytes."""

    name: str
    header_offset: int
    data_offset: int
    size: int

    @property
    def end(self) -> int:
        return self.data_offset + self.size


def _pad4(length: int) -> int:
    return -length % 4


def header(name: str, size: int, inode: int) -> bytes:
    """The header and padded name of an entry of `size` data bytes."""
    raw_name = name.encode() + b"\0"
    fields = (inode, _FILE_MODE if name != TRAILER else 0, 0, 0, 1, 0, size, 0, 0, 0, 0)
    text = MAGIC + b"".join(b"%08X" % v for v in (*fields, len(raw_name), 0))
    out = text + raw_name
    return out + b"\0" * _pad4(len(out))


def entry(name: str, data: bytes, inode: int) -> bytes:
    """One complete entry: header, name, data, padding."""
    return header(name, len(data), inode) + data + b"\0" * _pad4(len(data))


def trailer(length_so_far: int) -> bytes:
    """The trailer entry plus padding of the whole archive to 512 bytes."""
    end = header(TRAILER, 0, 0)
    return end + b"\0" * (-(length_so_far + len(end)) % BLOCK)


def write(entries: Iterable[Entry]) -> bytes:
    """An archive of `entries`, in order, with its trailer."""
    out = b"".join(entry(e.name, e.data, index) for index, e in enumerate(entries, 1))
    return out + trailer(len(out))


def parse(data: bytes) -> list[Located]:
    """Every entry before the trailer, with offsets; CpioError for anything malformed."""
    found: list[Located] = []
    at = 0
    while True:
        if at + HEADER_SIZE > len(data):
            raise CpioError(f"header at {at} overruns the archive of {len(data)} bytes")
        if data[at : at + 6] != MAGIC:
            raise CpioError(f"bad magic {data[at : at + 6]!r} at {at}")
        try:
            fields = [int(data[at + 6 + 8 * i : at + 14 + 8 * i], 16) for i in range(13)]
        except ValueError:
            raise CpioError(f"header at {at} has a non-hex field") from None
        size, name_size = fields[6], fields[11]
        name_at = at + HEADER_SIZE
        name = data[name_at : name_at + name_size].rstrip(b"\0").decode("utf-8", "replace")
        data_at = name_at + name_size + _pad4(HEADER_SIZE + name_size)
        if name == TRAILER:
            return found
        if data_at + size > len(data):
            raise CpioError(f"entry {name!r} of {size} bytes overruns the archive")
        found.append(Located(name, at, data_at, size))
        at = data_at + size + _pad4(size)
