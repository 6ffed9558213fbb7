"""Mutation operators for ROBUST-007: each turns a recorded message into a damaged one.

Every choice comes from `CaseRandom`, a SplitMix64 generator of our own: Python's `random`
promises its sequence across versions only for `random()` itself, and a case list must stay
the same for the same seed on every harness install. Binary messages get the byte-level
operators (length fields first: they are where parsers of TLS, SSH and MQTT trust the
peer); line-based text (HTTP, the SSH identification) gets token and line operators too.
A case stacks one to three operators, as radamsa's and AFL's havoc stages do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

MAX_CASE_BYTES = 65536  # no mutated message grows beyond 64 KiB
_MASK = (1 << 64) - 1
_T = TypeVar("_T")


class CaseRandom:
    """SplitMix64 (Steele, Lea, Flood 2014): small, fast, the same everywhere."""

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK

    def next64(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def below(self, bound: int) -> int:
        """Uniform in [0, bound); the modulo bias is below 2**-40 for our bounds."""
        return self.next64() % bound

    def between(self, low: int, high: int) -> int:
        """Uniform in [low, high]."""
        return low + self.below(high - low + 1)

    def choice(self, items: Sequence[_T]) -> _T:
        return items[self.below(len(items))]

    def weighted(self, table: Sequence[tuple[_T, int]]) -> _T:
        pick = self.below(sum(weight for _, weight in table))
        for item, weight in table:
            if pick < weight:
                return item
            pick -= weight
        raise AssertionError("unreachable: pick < total weight")

    def bytes(self, count: int) -> bytes:
        return bytes(self.below(256) for _ in range(count))


Mutator = Callable[[CaseRandom, bytes], tuple[bytes, str]]

INTERESTING_BYTES = (0x00, 0x01, 0x0A, 0x0D, 0x20, 0x25, 0x7F, 0x80, 0xFE, 0xFF)
INTERESTING_INTS = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)
HOSTILE_TOKENS = (
    b"A" * 4096,
    b"%s%n%x%d" * 16,
    b"-1",
    b"0",
    b"4294967296",
    b"18446744073709551616",
    b"1e999",
    b"\x00",
    b"../" * 32,
    b"\r\n",
    b"",
    b"\xc0\xaf\xff\xfe",
    b"{" * 1024,
    b"[" * 1024,
    b'"',
)
_TOKEN = re.compile(rb"[^\s:/,;=&?\"{}\[\]()]+")


def flip_bits(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    out = bytearray(data)
    bits = [rng.below(len(out) * 8) for _ in range(rng.between(1, 8))]
    for bit in bits:
        out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out), f"flip bits {','.join(map(str, bits))}"


def interesting_bytes(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    out = bytearray(data)
    spots = []
    for _ in range(rng.between(1, 4)):
        at, value = rng.below(len(out)), rng.choice(INTERESTING_BYTES)
        out[at] = value
        spots.append(f"{at}=0x{value:02x}")
    return bytes(out), f"set bytes {','.join(spots)}"


def _write_int(data: bytes, at: int, width: int, value: int) -> bytes:
    value = min(value, (1 << (8 * width)) - 1)
    return data[:at] + value.to_bytes(width, "big") + data[at + width :]


def interesting_int(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    width = min(rng.choice((2, 4)), len(data))
    at = rng.below(len(data) - width + 1)
    value = rng.choice(INTERESTING_INTS)
    return _write_int(data, at, width, value), f"int{8 * width} at {at} = {value:#x}"


def length_field(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    """Find a big-endian field whose value fits in what follows it (a plausible length)
    and give it a boundary value: zero, one off, the whole message, all ones, the sign bit."""
    for _ in range(64):
        width = rng.weighted(((1, 1), (2, 4), (3, 2), (4, 2)))
        if width > len(data):
            continue
        at = rng.below(len(data) - width + 1)
        value = int.from_bytes(data[at : at + width], "big")
        if not 0 < value <= len(data) - at - width:
            continue
        top = (1 << (8 * width)) - 1
        new = rng.choice(
            (0, value - 1, value + 1, 2 * value, len(data), top, top - 1, top // 2 + 1)
        )
        new = min(new, top)
        described = f"length field at {at} ({width} bytes) {value} -> {new}"
        return _write_int(data, at, width, new), described
    return interesting_int(rng, data)


def truncate(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    if len(data) < 2:
        return flip_bits(rng, data)
    keep = rng.between(1, len(data) - 1)
    return data[:keep], f"truncate to {keep} bytes"


def delete_chunk(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    if len(data) < 2:
        return flip_bits(rng, data)
    size = rng.between(1, min(len(data) - 1, 256))
    at = rng.below(len(data) - size + 1)
    return data[:at] + data[at + size :], f"delete {size} bytes at {at}"


def duplicate_chunk(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    size = rng.between(1, min(len(data), 64))
    at = rng.below(len(data) - size + 1)
    times = min(rng.between(2, 256), max(1, (MAX_CASE_BYTES - len(data)) // size))
    chunk = data[at : at + size]
    return data[:at] + chunk * times + data[at + size :], f"repeat {size} bytes at {at} x{times}"


def insert_random(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    at, size = rng.below(len(data) + 1), rng.between(1, 64)
    return data[:at] + rng.bytes(size) + data[at:], f"insert {size} random bytes at {at}"


def inflate(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    at = rng.below(len(data) + 1)
    fill = rng.choice((b"A", b"\x00", b"\xff", b"%"))
    size = min(rng.choice((256, 1024, 4096, 16384, MAX_CASE_BYTES)), MAX_CASE_BYTES - len(data))
    return data[:at] + fill * size + data[at:], f"insert {size} x {fill!r} at {at}"


def overwrite_chunk(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    size = rng.between(1, min(len(data), 32))
    source, target = rng.below(len(data) - size + 1), rng.below(len(data) - size + 1)
    out = data[:target] + data[source : source + size] + data[target + size :]
    return out, f"copy {size} bytes from {source} over {target}"


def token_replace(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    tokens = list(_TOKEN.finditer(data))
    if not tokens:
        return insert_random(rng, data)
    token, hostile = rng.choice(tokens), rng.choice(HOSTILE_TOKENS)
    out = data[: token.start()] + hostile + data[token.end() :]
    replaced = f"{token.group()[:32]!r} at {token.start()}"
    return out, f"token {replaced} -> {hostile[:16]!r} ({len(hostile)} bytes)"


def line_repeat(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    lines = data.split(b"\r\n")
    at = rng.below(len(lines))
    size = len(lines[at]) + 2
    times = min(rng.choice((2, 100, 1000)), max(1, (MAX_CASE_BYTES - len(data)) // size))
    out = b"\r\n".join(lines[:at] + [lines[at]] * times + lines[at + 1 :])
    return out, f"repeat line {at + 1} x{times}"


def line_endings(rng: CaseRandom, data: bytes) -> tuple[bytes, str]:
    ending = rng.choice((b"\n", b"\r", b"", b"\r\r\n", b"\n\r", b"\r\n\r\n"))
    return data.replace(b"\r\n", ending), f"line endings -> {ending!r}"


BINARY: tuple[tuple[Mutator, int], ...] = (
    (length_field, 6),
    (flip_bits, 3),
    (interesting_bytes, 3),
    (interesting_int, 2),
    (truncate, 2),
    (duplicate_chunk, 2),
    (delete_chunk, 1),
    (insert_random, 1),
    (inflate, 1),
    (overwrite_chunk, 1),
)
TEXT: tuple[tuple[Mutator, int], ...] = (
    *BINARY,
    (token_replace, 8),
    (line_repeat, 2),
    (line_endings, 2),
)


def mutate(rng: CaseRandom, data: bytes, *, text: bool) -> tuple[bytes, tuple[str, ...]]:
    """`data` damaged by one to three stacked operators; never `data` itself, never empty,
    never longer than `MAX_CASE_BYTES`."""
    table = TEXT if text else BINARY
    out, applied = data, []
    for _ in range(rng.weighted(((1, 5), (2, 3), (3, 2)))):
        operator = rng.weighted(table)
        out, described = operator(rng, out)
        out = out[:MAX_CASE_BYTES] or data[:1]
        applied.append(f"{operator.__name__}: {described}")
    while out == data:  # an operator can undo another; one more bit flip cannot
        out, described = flip_bits(rng, out)
        applied.append(f"flip_bits: {described}")
    return out, tuple(applied)
