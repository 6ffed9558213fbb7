"""TLS servers that misbehave mid-handshake: each CRYPTO check ends as `error` (or `failed`
where the misbehaviour is the finding) with the bytes as evidence, on time, and the run
goes on."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from pathlib import Path

import yaml

from harness.reporting.results import Outcome, load
from tests.integration import fakes
from tests.integration.cli import medsec_run
from tests.integration.crypto_daemons import make_pki

TLS_CHECKS = ("CRYPTO-002", "CRYPTO-003", "CRYPTO-004", "CRYPTO-005", "CRYPTO-006", "CRYPTO-007")


def _record(kind: int, body: bytes) -> bytes:
    return bytes([kind, 3, 3]) + struct.pack(">H", len(body)) + body


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


SERVER_HELLO = _record(
    0x16,
    _handshake(2, b"\x03\x03" + b"\x42" * 32 + b"\x00" + b"\xc0\x2f" + b"\x00" + b"\x00\x00"),
)
BAD_CERTIFICATE = _record(
    0x16,
    _handshake(11, (9).to_bytes(3, "big") + (6).to_bytes(3, "big") + b"\x30\x04\xde\xad\xbe\xef")
    + _handshake(14, b""),
)


def _after_hello(reply: bytes, *, reset: bool = False) -> fakes.Handler:
    def handler(conn: socket.socket) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                if conn.recv(65536):
                    break
        conn.sendall(reply)
        if reset:  # an RST instead of a FIN
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    return handler


def test_misbehaving_tls_servers_give_errors_with_evidence_on_time(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    host = loopback_address
    with (
        fakes.tcp_server(host, _after_hello(SERVER_HELLO[:30], reset=True)) as resets,
        fakes.tcp_server(host, _after_hello(b"\x00garbage\xff" * 8)) as garbage,
        fakes.tcp_server(host, _after_hello(SERVER_HELLO)) as stalls,
        fakes.tcp_server(host, _after_hello(SERVER_HELLO + BAD_CERTIFICATE)) as bad_cert,
    ):
        services = {"resets": resets, "garbage": garbage, "stalls": stalls, "badcert": bad_cert}
        profile = tmp_path / "faulty.yaml"
        profile.write_text(
            yaml.safe_dump(
                {
                    "schema": "medsec/profile/v1",
                    "device": {"name": "faulty", "vendor": "T", "model": "F", "firmware": "1"},
                    "scope": {"allow": [f"{host}/32"]},
                    "network": {
                        "host": host,
                        "expected_tcp": list(services.values()),
                        "scan_ports": ",".join(str(p) for p in services.values()),
                        "services": [
                            {"name": name, "port": port, "protocol": "https"}
                            for name, port in services.items()
                        ],
                    },
                    "tls": {"ca_file": str(make_pki(tmp_path, host).ca)},
                    "policy": {"timeout_s": 1.0},
                }
            )
        )
        started = time.monotonic()
        done = medsec_run(profile, tmp_path / "run", "--suite", "crypto", "--quiet", timeout=180)
        elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    results = load(tmp_path / "run" / "results.json")
    by = {(c.id, c.target): c for c in results.checks}
    for name in services:
        for check_id in TLS_CHECKS:
            check = by[(check_id, name)]
            expected = {Outcome.ERROR}
            if (name, check_id) == ("badcert", "CRYPTO-005"):
                expected = {Outcome.FAILED}  # a certificate that does not parse is the finding
            if name == "badcert" and check_id == "CRYPTO-007":
                # its complete first flight lacks renegotiation_info: a true finding
                expected = {Outcome.FAILED}
                assert "secure renegotiation" in check.reason
            assert check.outcome in expected, (name, check_id, check.outcome, check.reason)
            assert check.duration_s < 10, (name, check_id, check.duration_s)
            assert check.evidence, (name, check_id)
    assert "not a TLS record" in by[("CRYPTO-002", "garbage")].reason
    assert "timeout" in by[("CRYPTO-002", "stalls")].reason or "incomplete" in (
        by[("CRYPTO-002", "stalls")].reason
    )
    assert "closed" in by[("CRYPTO-002", "resets")].reason
    assert "does not parse" in by[("CRYPTO-005", "badcert")].reason
    assert "not valid X.509" in by[("CRYPTO-004", "badcert")].reason
    handshakes = tmp_path / "run/evidence/CRYPTO-002/garbage/handshakes.json"
    assert "00676172626167" in json.loads(handshakes.read_text())[0]["server_hex"]
    assert (tmp_path / "run/evidence/CRYPTO-002/garbage/handshakes.pcap").stat().st_size > 100
    assert elapsed < 90
