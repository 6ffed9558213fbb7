"""Malformed SSH input (ROBUST-002): identification lines and binary packets that break
RFC 4253, each on a fresh connection; the server must close the connection."""

from __future__ import annotations

import random

from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto.ssh_algos import CLIENT_IDENT
from harness.probes.robust.cases import Case, Reaction, Reply, exchange

LONG_IDENTIFICATION = 64 * 1024  # RFC 4253 4.2 allows 255 characters
GARBAGE_SEED = 0x5EC  # the garbage packet is the same bytes in every run


def malformed_input(target: str) -> list[Case]:
    """ROBUST-002's fixed set."""
    garbage = random.Random(GARBAGE_SEED).randbytes(21)
    return [
        Case(
            "long-identification",
            f"an identification line of {LONG_IDENTIFICATION // 1024} KiB (at most 255 bytes "
            "are allowed)",
            b"SSH-2.0-" + b"A" * LONG_IDENTIFICATION + b"\r\n",
            target,
        ),
        Case(
            "not-ssh-identification",
            "lines that are no SSH identification (an HTTP request)",
            b"GET / HTTP/1.1\r\nHost: medsec\r\n\r\n",
            target,
        ),
        Case(
            "garbage-packet",
            "our identification, then a binary packet of 21 random bytes (its length is no "
            "multiple of the block size)",
            CLIENT_IDENT + len(garbage).to_bytes(4, "big") + garbage,
            target,
        ),
        Case(
            "absurd-packet-length",
            "our identification, then a packet announcing 4294967280 bytes",
            CLIENT_IDENT + (0xFFFFFFF0).to_bytes(4, "big") + bytes(12),
            target,
        ),
    ]


def describe(data: bytes) -> str:
    line = data.split(b"\n", 1)[0].strip()
    return repr(line[:80].decode("ascii", "replace")) if line else ""


def send(
    scope: Scope, host: str, port: int, case: Case, *, timeout: float, transcript: Transcript
) -> Reply:
    """The case on a fresh connection; everything the server sends until it closes."""
    return exchange(
        scope, host, port, case, timeout=timeout, transcript=transcript, describe=describe
    )


def problem(case: Case, reply: Reply) -> str | None:
    """ROBUST-002: the server closes the connection (after its own identification, or a
    disconnect message, if it likes)."""
    if reply.closed:
        return None
    if reply.reaction is Reaction.SILENT:
        return f"neither answered nor closed within {reply.elapsed_s:.1f}s"
    return f"the connection stayed open {reply.elapsed_s:.1f}s after the input"
