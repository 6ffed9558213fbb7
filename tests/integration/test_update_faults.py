"""Update devices that misbehave, told apart: reboot, die, say yes without changing, never answer.

A small HTTP update device on loopback (`/version`, `/update`) misbehaves in one way per
test; the probe must name what happened from the verdict and the version read back, with
a bounded wait for a device that went away.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.update.delivery import HttpAuth, HttpChannel
from harness.probes.update.trial import UpdateOutcome, send_image
from harness.probes.update.version_readers import UrlVersion
from harness.updates.attacks import UpdateImage

DOWN_S = 1.0


class FakeUpdateDevice:
    """An update endpoint that misbehaves as `mode` says (claims, reboot, dead, silent)."""

    def __init__(self, host: str, mode: str) -> None:
        self.host, self.mode, self.version = host, mode, "1.0.0"
        self.stopping = threading.Event()
        self._server = self._serve(0)
        self.port = int(self._server.server_address[1])

    def _serve(self, port: int) -> ThreadingHTTPServer:
        device = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._json(200, {"version": device.version})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if device.mode == "claims":
                    self._json(200, {"accepted": True})
                elif device.mode == "silent":
                    device.stopping.wait(30)
                else:  # reboot or dead: the connection drops without an answer
                    self.close_connection = True
                    threading.Thread(target=device.go_down, daemon=True).start()

            def _json(self, status: int, document: dict[str, object]) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer((self.host, port), Handler)
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return server

    def go_down(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self.mode == "reboot" and not self.stopping.wait(DOWN_S):
            self._server = self._serve(self.port)

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def device(loopback_address: str, request: pytest.FixtureRequest) -> Iterator[FakeUpdateDevice]:
    fake = FakeUpdateDevice(loopback_address, request.param)
    yield fake
    fake.stop()


@pytest.mark.parametrize(
    ("device", "outcome", "went_away", "words"),
    [
        ("claims", UpdateOutcome.CLAIMED, False, "accepted it"),
        ("reboot", UpdateOutcome.NO_VERDICT, True, "no verdict"),
        ("dead", UpdateOutcome.GONE, True, "stopped answering"),
        ("silent", UpdateOutcome.NO_VERDICT, False, "no verdict"),
    ],
    indirect=["device"],
)
def test_each_misbehaviour_is_told_apart_within_the_wait(
    device: FakeUpdateDevice, outcome: UpdateOutcome, went_away: bool, words: str
) -> None:
    scope = Scope.of([f"{device.host}/32"])
    base = f"http://{device.host}:{device.port}"
    channel = HttpChannel(scope, f"{base}/update", None, None, timeout=1.0)
    reader = UrlVersion(scope, f"{base}/version", r"(\d+(?:\.\d+)+)", None, None, timeout=1.0)
    image = UpdateImage("altered-payload", b"x" * 4096, "an image the device must refuse")
    transcript = Transcript("update")
    started = time.monotonic()
    trial = send_image(channel, reader, image, "1.0.0", transcript, reboot_timeout_s=3 * DOWN_S)
    elapsed = time.monotonic() - started
    assert trial.outcome is outcome, trial.summary()
    assert trial.went_away is went_away
    assert words in trial.problem()
    assert not trial.refused_cleanly
    assert elapsed < 3 * DOWN_S + 5  # bounded by the I/O timeout and reboot_timeout_s
    if device.mode == "reboot":
        assert trial.back_after_s is not None
        assert trial.back_after_s >= 0.5
        assert trial.version_after == "1.0.0"
        assert "came back after" in trial.summary()
    if device.mode == "dead":
        assert trial.version_after is None
        assert "did not come back" in trial.summary()
    assert "version not readable" in transcript.to_text() or not went_away


def test_the_http_channel_puts_a_multipart_form_with_digest_credentials(
    loopback_address: str,
) -> None:
    seen: dict[str, object] = {}

    class Capture(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # the Digest challenge
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Digest qop="auth", realm="r", nonce="abc"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_PUT(self) -> None:
            seen["auth"] = self.headers.get("Authorization", "")
            seen["type"] = self.headers.get("Content-Type", "")
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer((loopback_address, 0), Capture)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        url = f"http://{loopback_address}:{server.server_address[1]}/fw"
        channel = HttpChannel(
            Scope.of([f"{loopback_address}/32"]),
            url,
            HttpAuth("digest", "tech", "pw"),
            None,
            timeout=2.0,
            method="PUT",
            upload="multipart",
        )
        image = UpdateImage("valid", b"FIRMWARE", "valid", signature=b"SIG")
        reply = channel.deliver(image, Transcript("update"))
    finally:
        server.shutdown()
        server.server_close()
    assert reply.accepted is True
    assert reply.status == 204
    body = seen["body"]
    assert isinstance(body, bytes)
    assert b'name="file"; filename="valid.img"' in body
    assert b"\r\n\r\nFIRMWARE\r\n" in body
    assert b'name="signature"' in body
    assert b"\r\n\r\nSIG\r\n" in body
    assert str(seen["type"]).startswith("multipart/form-data; boundary=")
    auth = str(seen["auth"])
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', auth))
    md5 = lambda text: hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()  # noqa: E731
    expected = md5(
        f"{md5('tech:r:pw')}:abc:{fields['nc']}:{fields['cnonce']}:auth:{md5('PUT:/fw')}"
    )
    assert fields["response"] == expected
