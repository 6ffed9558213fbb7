"""Malformed and oversized TLS ClientHellos (ROBUST-001, and the SNI field of ROBUST-004).

Each case starts from a valid TLS 1.2 ClientHello (built by `tls_wire`) and breaks one
thing in its bytes, so the server is led into exactly one parser path. A hello longer
than one record is split into records of at most 2^14 bytes, as TLS requires, so that
what is tested is the field and not the record layer.
"""

from __future__ import annotations

from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import tls, tls_wire
from harness.probes.crypto.tls_suites import TlsVersion
from harness.probes.robust.cases import Case, Reaction, Reply, exchange

MAX_FRAGMENT = 1 << 14
OVERSIZED_EXTENSION = 60 * 1024
OVERSIZED_SNI = 65000  # a server_name extension holds at most 65535 bytes
GREASE_EXTENSION = 0xFAFA  # RFC 8701: a server must ignore it, whatever its size
SSL2_CIPHER_SPECS = bytes.fromhex("0100800700c0020080")  # RC4-MD5, 3DES, RC4-EXPORT
_ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
           40: "handshake_failure", 47: "illegal_parameter", 50: "decode_error",
           70: "protocol_version", 80: "internal_error", 112: "unrecognized_name"}  # fmt: skip


def _hello(server_name: str | None = None, suites: tuple[int, ...] = tls.LEGACY_SUITES) -> bytes:
    """The handshake message (no record header) of a valid TLS 1.2 ClientHello."""
    record = tls_wire.hello_record(tls_wire.Offer(TlsVersion.TLS1_2, suites, server_name))
    return record[5:]


def records(handshake: bytes, version: int = 0x0301) -> bytes:
    """`handshake` in handshake records of at most 2^14 bytes each."""
    out = b""
    for at in range(0, len(handshake), MAX_FRAGMENT):
        fragment = handshake[at : at + MAX_FRAGMENT]
        out += bytes([tls_wire.HANDSHAKE]) + version.to_bytes(2, "big")
        out += len(fragment).to_bytes(2, "big") + fragment
    return out


def _suites_at(handshake: bytes) -> int:
    """Offset of the cipher-suite length in a ClientHello handshake message."""
    session_id_at = 4 + 2 + 32
    return session_id_at + 1 + handshake[session_id_at]


def _extensions_at(handshake: bytes) -> int:
    """Offset of the extensions length in a ClientHello handshake message."""
    at = _suites_at(handshake)
    at += 2 + int.from_bytes(handshake[at : at + 2], "big")
    return at + 1 + handshake[at]


def _with_length(handshake: bytes) -> bytes:
    """The message with its 3-byte handshake length set to what follows the header."""
    return handshake[:1] + (len(handshake) - 4).to_bytes(3, "big") + handshake[4:]


def suite_length_overrun() -> bytes:
    """A hello whose cipher-suite length claims 65534 bytes, far past the record's end."""
    hello = _hello()
    at = _suites_at(hello)
    return records(hello[:at] + (0xFFFE).to_bytes(2, "big") + hello[at + 2 :])


def handshake_length_overrun() -> bytes:
    """A complete record whose handshake message says it is 4 KiB longer than it is."""
    hello = _hello()
    claimed = len(hello) - 4 + 4096
    return records(hello[:1] + claimed.to_bytes(3, "big") + hello[4:])


def truncated_record() -> bytes:
    """A record header announcing 2^14 bytes, followed by only the hello's first 64."""
    hello = _hello()[:64]
    return bytes([tls_wire.HANDSHAKE]) + b"\x03\x01" + MAX_FRAGMENT.to_bytes(2, "big") + hello


def with_extension(kind: int, size: int) -> bytes:
    """A valid hello carrying one more extension of `size` bytes, in several records."""
    hello = _hello()
    at = _extensions_at(hello)
    length = int.from_bytes(hello[at : at + 2], "big") + 4 + size
    extension = kind.to_bytes(2, "big") + size.to_bytes(2, "big") + b"\x00" * size
    body = hello[:at] + length.to_bytes(2, "big") + hello[at + 2 :] + extension
    return records(_with_length(body))


def sslv2_hello() -> bytes:
    """An SSLv2 CLIENT-HELLO offering only SSLv2 cipher specs."""
    body = b"\x01\x00\x02" + len(SSL2_CIPHER_SPECS).to_bytes(2, "big") + b"\x00\x00\x00\x10"
    body += SSL2_CIPHER_SPECS + bytes(range(16))
    return (0x8000 | len(body)).to_bytes(2, "big") + body


def malformed_hellos(target: str) -> list[Case]:
    """ROBUST-001's fixed set, for one TLS service."""
    return [
        Case(
            "handshake-length-overrun",
            "a complete record whose handshake length claims 4 KiB more than it holds",
            handshake_length_overrun(),
            target,
            complete=False,
        ),
        Case(
            "suite-length-overrun",
            "a ClientHello whose cipher-suite length (65534) overruns the record",
            suite_length_overrun(),
            target,
        ),
        Case(
            "truncated-record",
            "a record header announcing 16384 bytes followed by only 64",
            truncated_record(),
            target,
            complete=False,
        ),
        Case(
            "empty-suite-list",
            "a ClientHello offering no cipher suite at all",
            records(_hello(suites=())),
            target,
        ),
        Case(
            "oversized-extensions",
            f"a valid ClientHello with a {OVERSIZED_EXTENSION // 1024} KiB GREASE extension "
            "over several records (a server may ignore it and answer)",
            with_extension(GREASE_EXTENSION, OVERSIZED_EXTENSION),
            target,
            well_formed=True,
        ),
        Case("sslv2-hello", "an SSLv2 CLIENT-HELLO (SSLv2 ciphers only)", sslv2_hello(), target),
    ]


def oversized_sni(target: str) -> Case:
    """ROBUST-004's TLS field: a server name of 65000 bytes, in several records."""
    return Case(
        "oversized-sni",
        f"a ClientHello whose server_name is {OVERSIZED_SNI} bytes long",
        records(_hello(server_name="a" * OVERSIZED_SNI)),
        target,
        well_formed=True,
    )


def _first_record_done(data: bytes) -> bool:
    if len(data) < 5:
        return False
    if data[0] not in (tls_wire.ALERT, tls_wire.HANDSHAKE):
        return True  # not TLS: whatever it is, it is no TLS record to wait for
    return len(data) >= 5 + int.from_bytes(data[3:5], "big")


def describe(data: bytes) -> str:
    """What the first record of a server's answer is."""
    if not data:
        return ""
    if data[0] == tls_wire.ALERT and len(data) >= 7:
        code = data[6]
        return f"TLS alert {code} ({_ALERTS.get(code, 'other')})"
    if data[0] == tls_wire.HANDSHAKE:
        return "TLS handshake record (the server went on with the handshake)"
    return f"{len(data)} bytes that are no TLS record"


def send(
    scope: Scope, host: str, port: int, case: Case, *, timeout: float, transcript: Transcript
) -> Reply:
    """The case on a fresh connection, and the server's first record or its close."""
    return exchange(
        scope, host, port, case, timeout=timeout, transcript=transcript,
        enough=_first_record_done, describe=describe,
    )  # fmt: skip


def problem(case: Case, reply: Reply) -> str | None:
    """ROBUST-001 and -004 (TLS): an alert or a close; silence only for a hello cut short;
    a handshake only for a well-formed hello."""
    if reply.reaction is Reaction.SILENT and case.complete:
        return f"neither an alert nor a close within {reply.elapsed_s:.1f}s"
    if reply.data[:1] == bytes([tls_wire.HANDSHAKE]) and not case.well_formed:
        return "the server went on with the handshake after a malformed hello"
    return None
