"""The transports against hostile devices: scope held, every exchange bounded in size and time.

Each test starts one misbehaving device from `hostile.py` on its own loopback address and
asserts the promise with a number: connections seen by an out-of-scope listener, growth of
the harness's peak memory, seconds an exchange took against its budget.
"""

from __future__ import annotations

import base64
import json
import resource
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout, ProtocolViolation
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import ssh_algos
from harness.reporting.results import Outcome, load
from harness.transports import http
from harness.transports.deadline_guard import EXCHANGE_FACTOR
from harness.transports.ssh import SshSession
from harness.transports.websocket import MAX_FRAME, MAX_UPGRADE_ANSWER, MessageSocket
from tests.integration import fakes, hostile
from tests.integration.cli import medsec


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_websocket_redirect_out_of_scope_is_never_followed(loopback_address: str) -> None:
    inside = loopback_address
    outside = "127.200.0.9"  # a loopback address the profile does not allow
    scope = Scope.of([f"{inside}/32"])
    transcript = Transcript("ws")
    with (
        hostile.watched(outside) as elsewhere,
        fakes.tcp_server(
            inside, hostile.redirects_to(f"ws://{outside}:{elsewhere.port}/ws")
        ) as port,
    ):
        with pytest.raises(ProtocolViolation, match="a redirect, not followed"):
            MessageSocket(
                scope,
                f"ws://{inside}:{port}/ws",
                timeout=3,
                transcript=transcript,
                headers={"Authorization": "Basic c2VydmljZTpodW50ZXIy"},
            )
        time.sleep(0.3)
        assert elsewhere.connections == 0
    assert f"Location: ws://{outside}" in transcript.to_text()


def test_a_frame_announcing_a_terabyte_is_refused_before_it_is_read(
    loopback_address: str,
) -> None:
    scope = Scope.of([f"{loopback_address}/32"])
    transcript = Transcript("ws")
    before = _peak_rss_mb()
    with fakes.tcp_server(loopback_address, hostile.websocket_frame_of(1 << 40)) as port:
        started = time.monotonic()
        with MessageSocket(
            scope, f"ws://{loopback_address}:{port}/ws", timeout=3, transcript=transcript
        ) as ws:
            ws.wait(lambda messages: False, Deadline(2.0))
            assert ws.messages == ()
        elapsed = time.monotonic() - started
    grown = _peak_rss_mb() - before
    assert grown < 100, f"peak memory grew by {grown:.0f} MB"
    assert elapsed < 5
    assert f"a frame announced {1 << 40} bytes (cap {MAX_FRAME})" in transcript.to_text()


def test_a_message_in_many_fragments_is_capped_too(loopback_address: str) -> None:
    scope = Scope.of([f"{loopback_address}/32"])
    transcript = Transcript("ws")

    def fragments(conn: object) -> None:
        import socket

        assert isinstance(conn, socket.socket)
        hostile._accept_upgrade(conn)
        conn.sendall(b"\x01\x7e\xff\xff" + b"a" * 0xFFFF)  # text, not final
        for _ in range(40):  # continuation frames, never final
            conn.sendall(b"\x00\x7e\xff\xff" + b"a" * 0xFFFF)

    with (
        fakes.tcp_server(loopback_address, fragments) as port,
        MessageSocket(
            scope, f"ws://{loopback_address}:{port}/ws", timeout=3, transcript=transcript
        ) as ws,
    ):
        ws.wait(lambda messages: False, Deadline(1.0))
    assert "a message grew past" in transcript.to_text()


UPGRADED = b"HTTP/1.1 101 Switching Protocols"
WS_ANSWERS = {
    "a status line that never ends": hostile.answers_endlessly(UPGRADED, b"A" * 65536),
    "header lines without end": hostile.answers_endlessly(
        UPGRADED + b"\r\n", b"".join(b"X-%d: %s\r\n" % (i, b"v" * 200) for i in range(300))
    ),
    "one byte every 0.2 s": hostile.trickles(
        UPGRADED + b"\r\nUpgrade: websocket\r\n" + b"X-Slow: 1\r\n" * 20, 0.2
    ),
}


@pytest.mark.parametrize("answer", sorted(WS_ANSWERS))
def test_a_websocket_upgrade_answer_is_bounded_in_size_and_time(
    loopback_address: str, answer: str
) -> None:
    scope = Scope.of([f"{loopback_address}/32"])
    timeout = 1.0
    before = _peak_rss_mb()
    with fakes.tcp_server(loopback_address, WS_ANSWERS[answer]) as port:
        started = time.monotonic()
        with pytest.raises(DeviceError) as raised:
            MessageSocket(
                scope, f"ws://{loopback_address}:{port}/ws", timeout=timeout,
                transcript=Transcript("ws"),
            )  # fmt: skip
        elapsed = time.monotonic() - started
    # Before: the harness read for as long as the device sent (minutes, gigabytes).
    if answer.startswith("one byte"):
        assert isinstance(raised.value, DeviceTimeout)
        assert "the websocket upgrade did not finish within 3s" in str(raised.value)
    else:
        assert isinstance(raised.value, ProtocolViolation)
        assert f"ran past {MAX_UPGRADE_ANSWER} bytes" in str(raised.value)
    assert elapsed < timeout * EXCHANGE_FACTOR + 1.0
    grown = _peak_rss_mb() - before
    assert grown < 100, f"peak memory grew by {grown:.0f} MB"


def test_a_trickled_http_answer_ends_within_the_exchange_budget(loopback_address: str) -> None:
    scope = Scope.of([f"{loopback_address}/32"])
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n" + b"x" * 400
    timeout = 1.0
    with fakes.tcp_server(loopback_address, hostile.trickles(answer, 0.2)) as port:
        started = time.monotonic()
        with pytest.raises(DeviceTimeout, match="did not finish within 3s"):
            http.request(
                scope,
                "GET",
                f"http://{loopback_address}:{port}/",
                timeout=timeout,
                transcript=Transcript("http"),
            )
        elapsed = time.monotonic() - started
    # Before: each byte came within the 1 s read timeout, so it ran for 90 s.
    assert timeout * EXCHANGE_FACTOR <= elapsed < timeout * EXCHANGE_FACTOR + 1.0


SECRET = "Sup3r-Secret-pw!"


def _encodings(secret: str) -> dict[str, bytes]:
    raw = secret.encode()
    return {
        "raw": raw,
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
        "base64": base64.b64encode(raw),
        "base64 of admin:password": base64.b64encode(b"admin:" + raw)[8:],
        "url": urllib.parse.quote(secret, safe="").encode(),
        "json": json.dumps(secret)[1:-1].encode(),
    }


def test_a_device_echoing_logins_in_every_encoding_leaves_no_secret_anywhere(
    tmp_path: Path, loopback_address: str
) -> None:
    host = loopback_address
    with fakes.tcp_server(host, hostile.echoes_logins("admin", SECRET)) as port:
        profile = tmp_path / "echo.yaml"
        profile.write_text(
            yaml.safe_dump(
                {
                    "schema": "medsec/profile/v1",
                    "device": {"name": "echo", "vendor": "T", "model": "E", "firmware": "1"},
                    "scope": {"allow": [f"{host}/32"]},
                    "http": {
                        "base_url": f"http://{host}:{port}",
                        "login": {"path": "/login", "method": "GET", "style": "basic"},
                        "account": {"username": "admin", "password": SECRET},
                    },
                }
            )
        )
        out = tmp_path / "run"
        done = medsec("run", str(profile), "--out", str(out), "--suite", "auth")
    checks = {c.id: c for c in load(out / "results.json").checks}
    assert checks["AUTH-003"].outcome is Outcome.PASSED, checks["AUTH-003"].reason
    # The echo reached the evidence (so the test shows something), scrubbed:
    replies = (out / "evidence/AUTH-003/http/http.txt").read_text()
    assert "you_sent" in replies
    leaks = [
        f"{path.relative_to(out)}: {name}"
        for path in out.rglob("*")
        if path.is_file()
        for name, form in _encodings(SECRET).items()
        if form in path.read_bytes()
    ]
    terminal = (done.stdout + done.stderr).encode()
    leaks += [f"terminal: {name}" for name, form in _encodings(SECRET).items() if form in terminal]
    assert not leaks


def test_device_text_with_markup_and_escapes_cannot_break_or_drive_the_terminal(
    tmp_path: Path, loopback_address: str
) -> None:
    """An SSH identification carrying rich markup (`[/]`, which crashed the live progress
    into an INTERNALERROR with results.json still saying complete), an OSC window title
    and a bidi override: the run completes, the text prints as text, the terminal is ours."""
    host = loopback_address
    banner = b"SSH-1.5-Evil[/][bold] \x1b]0;owned\x07\x1b[2J \xe2\x80\xae\r\n"
    with fakes.tcp_server(host, fakes.greets(banner)) as port:
        profile = tmp_path / "banner.yaml"
        profile.write_text(
            yaml.safe_dump(
                {
                    "schema": "medsec/profile/v1",
                    "device": {
                        "name": "[/]\u202eevil",
                        "vendor": "T",
                        "model": "E",
                        "firmware": "1",
                    },
                    "scope": {"allow": [f"{host}/32"]},
                    "network": {"host": host, "expected_tcp": [port], "scan_ports": str(port)},
                    "ssh": {"port": port, "username": "service"},
                }
            )
        )
        out = tmp_path / "run"
        done = medsec("run", str(profile), "--out", str(out), "--suite", "crypto")
    results = load(out / "results.json")
    assert results.status == "complete"
    assert done.returncode == 1, done.stderr  # CRYPTO-008 errors on an SSH-1.5 server
    crypto_008 = next(c for c in results.checks if c.id == "CRYPTO-008")
    assert crypto_008.outcome is Outcome.ERROR
    terminal = done.stdout + done.stderr
    assert "INTERNALERROR" not in terminal
    assert "[/]" in terminal  # printed as text
    for control in ("\x1b]", "\x1b[2J", "\u202e"):
        assert control not in terminal


READERS: dict[str, Callable[[Scope, str, int], object]] = {
    "ssh session": lambda scope, host, port: SshSession(
        scope, host, port, timeout=2, transcript=Transcript("s")
    ),
    "ssh algorithms": lambda scope, host, port: ssh_algos.read_kexinit(
        scope, host, port, timeout=2, transcript=Transcript("s")
    ),
    "http": lambda scope, host, port: http.request(
        scope, "GET", f"http://{host}:{port}/", timeout=2, transcript=Transcript("h")
    ),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_flood_without_line_ends_is_an_error_in_bounded_time_and_memory(
    loopback_address: str, reader: str
) -> None:
    scope = Scope.of([f"{loopback_address}/32"])
    before = _peak_rss_mb()
    with fakes.tcp_server(loopback_address, hostile.floods()) as port:
        started = time.monotonic()
        with pytest.raises(DeviceError):
            READERS[reader](scope, loopback_address, port)
        elapsed = time.monotonic() - started
    assert elapsed < 2 * EXCHANGE_FACTOR + 1
    assert _peak_rss_mb() - before < 100
