"""The UPDATE probes' rules: cleartext upload endpoints, the device's verdict messages, liveness."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.config.profile import Network, Profile, Service
from harness.core.errors import Inconclusive, ProtocolViolation
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes import liveness
from harness.probes.update import cleartext
from harness.probes.update.delivery import AuthMode, DeliveryReply, SwupdateEvent
from harness.probes.update.trial import UpdateOutcome, send_image
from harness.probes.update.version_readers import parse_version_reply
from harness.transports.http import HttpResponse
from harness.updates.attacks import UpdateImage
from tests.integration import swupdate_agent

LOOPBACK = Scope.of(["127.0.0.1/32"])
HOST = "127.0.0.1"


@contextlib.contextmanager
def serving(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback TCP server that runs `answer` on every connection; yields its port."""
    with socket.create_server((HOST, 0)) as server:
        server.settimeout(0.2)
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except (TimeoutError, OSError):
                    continue
                with conn, contextlib.suppress(OSError):
                    answer(conn)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield server.getsockname()[1]
        finally:
            stop.set()
            thread.join()


def http_answer(response: bytes) -> Callable[[socket.socket], None]:
    """Read one request head, send `response`."""

    def answer(conn: socket.socket) -> None:
        conn.settimeout(2)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        conn.sendall(response)

    return answer


def closed_port() -> int:
    with socket.create_server((HOST, 0)) as probe:
        port: int = probe.getsockname()[1]
    return port


def _response(status: int, reason: str, *headers: tuple[str, str]) -> HttpResponse:
    return HttpResponse(status, reason, headers, b"", 0.01)


# --- cleartext upload endpoints (UPDATE-009) -----------------------------------------------


def test_the_cleartext_twins_are_the_urls_own_port_then_port_80() -> None:
    assert cleartext.cleartext_urls("https://10.0.0.5:8443/api/update") == [
        "http://10.0.0.5:8443/api/update",
        "http://10.0.0.5:80/api/update",
    ]
    assert cleartext.cleartext_urls("https://[fd00::5]/", "/upload") == [
        "http://[fd00::5]:443/upload",
        "http://[fd00::5]:80/upload",
    ]
    assert cleartext.cleartext_urls("http://10.0.0.5/up") == ["http://10.0.0.5:80/up"]


def test_a_redirect_to_https_takes_no_image_in_cleartext() -> None:
    url = "http://10.0.0.5:80/up"
    found = cleartext.classify(
        url, _response(301, "Moved", ("Location", "https://10.0.0.5/up")), ""
    )
    assert found == cleartext.CleartextEndpoint(
        url,
        301,
        "https://10.0.0.5/up",
        False,
        f"{url}: redirect to https://10.0.0.5/up (no image accepted in cleartext)",
    )


@pytest.mark.parametrize(
    ("status", "location"),
    [(200, ""), (401, ""), (302, "http://10.0.0.5/elsewhere"), (405, "https://x/")],
)
def test_any_other_http_answer_is_cleartext(status: int, location: str) -> None:
    url = "http://10.0.0.5:80/up"
    headers = (("Location", location),) if location else ()
    found = cleartext.classify(url, _response(status, "Said", *headers), "")
    assert found.cleartext
    assert (found.status, found.redirect) == (status, "")
    assert found.note == f"CLEARTEXT {url}: answered HTTP {status} Said"


def test_no_http_answer_is_not_cleartext() -> None:
    found = cleartext.classify("http://h:80/", None, "")
    assert not found.cleartext
    assert found.status is None
    assert found.note == "http://h:80/: no HTTP answer in cleartext (connection closed)"
    lost = cleartext.classify("http://h:80/", None, "no answer within 5s")
    assert lost.note == "http://h:80/: no HTTP answer in cleartext (no answer within 5s)"


def test_the_probe_tells_a_redirect_from_a_cleartext_answer_from_no_listener() -> None:
    redirect = (
        b"HTTP/1.1 308 Permanent Redirect\r\nLocation: https://x/up\r\nContent-Length: 0\r\n\r\n"
    )
    accepted = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    transcript = Transcript("cleartext")
    with serving(http_answer(redirect)) as moved, serving(http_answer(accepted)) as taken:
        found = [
            cleartext.probe_endpoint(
                LOOPBACK, f"http://{HOST}:{port}/up", timeout=2, transcript=transcript
            )
            for port in (moved, taken, closed_port())
        ]
    assert [(f.status, f.redirect, f.cleartext) for f in found] == [
        (308, "https://x/up", False),
        (200, "", True),
        (None, "", False),
    ]
    assert found[1].note == f"CLEARTEXT http://{HOST}:{taken}/up: answered HTTP 200 OK"
    assert "no cleartext listener" in found[2].note
    assert "connect failed" in found[2].note
    assert any(b"POST /up HTTP/1.1" in item.data for item in transcript.items)


def test_channel_encryption_judges_the_scheme_and_collects_the_cleartext_endpoints() -> None:
    transcript = Transcript("cleartext")
    with serving(http_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) as port:
        found = cleartext.channel_encryption(
            LOOPBACK, f"http://{HOST}:{port}/", "swupdate", timeout=2, transcript=transcript
        )
    assert not found.https
    assert [e.url for e in found.endpoints] == [
        f"http://{HOST}:{port}/upload",
        f"http://{HOST}:80/upload",
    ]
    assert found.cleartext[:1] == found.endpoints[:1]  # port 80 is whatever this machine has


# --- the device's verdict messages ---------------------------------------------------------


def test_verdict_messages_keep_errors_and_outcomes_only() -> None:
    messages = (
        "Software Update started !",
        "[install_single_image] : Found installer for stream firmware.bin",
        "ERROR : Signature verification failed",
        "Image invalid or corrupted. Not installing ...",
        "SWUPDATE successful !",
        "Waiting for requests...",
    )
    reply = DeliveryReply(False, 200, "", messages=messages)
    assert reply.verdict_messages == (
        "ERROR : Signature verification failed",
        "Image invalid or corrupted. Not installing ...",
        "SWUPDATE successful !",
    )


def test_verdict_messages_show_at_most_twelve() -> None:
    reply = DeliveryReply(None, None, "", messages=tuple(f"error {n}" for n in range(20)))
    assert reply.verdict_messages == tuple(f"error {n}" for n in range(12))
    assert DeliveryReply(None, None, "", messages=("all quiet",)).verdict_messages == ()


NESTED = "[" * 100_000  # json.loads raises RecursionError here, not ValueError


def test_a_version_reply_nested_too_deep_for_json_is_read_by_the_regex() -> None:
    reply = '{"version": "2.1.0", "extra": ' + NESTED
    assert parse_version_reply(reply, r'"version": "([^"]+)"', "dev") == "2.1.0"
    with pytest.raises(ProtocolViolation, match="no version in the answer"):
        parse_version_reply(NESTED, r"v(\d+)", "dev")


def test_a_websocket_message_nested_too_deep_for_json_is_no_event() -> None:
    assert SwupdateEvent.parse('{"type": "status", "status": ' + NESTED) is None


# --- liveness, through the transports ------------------------------------------------------


@pytest.fixture
def tls_answer(tmp_path: Path) -> Callable[[socket.socket], None]:
    swupdate_agent.prepare(tmp_path, HOST, "unused")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "keys/tls.crt", tmp_path / "keys/tls.key")

    def answer(conn: socket.socket) -> None:
        conn.settimeout(2)
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    return answer


def test_liveness_handshakes_through_the_transports_into_the_transcript(
    lab_profile: Profile, tls_answer: Callable[[socket.socket], None]
) -> None:
    silent = closed_port()
    with serving(tls_answer) as tls_port, serving(lambda conn: None) as tcp_port:
        services = (
            Service(name="api", port=tls_port, protocol="https"),
            Service(name="raw", port=tcp_port, protocol="other"),
            Service(name="gone", port=silent, protocol="other"),
        )
        profile = lab_profile.model_copy(
            update={"network": Network(host=HOST, services=services), "serial": None}
        )
        transcript = Transcript("liveness")
        alive = liveness.confirm(profile, LOOPBACK, transcript)
    answers = {a.name: a for a in alive.answers}
    assert answers["api"].alive
    assert answers["api"].detail.startswith("TLS handshake, TLSv1.")
    assert (answers["raw"].alive, answers["raw"].detail) == (True, "TCP connect")
    assert not answers["gone"].alive
    assert answers["gone"].detail.startswith(f"{HOST}:{silent}: connect failed")
    assert not alive.alive
    notes = [item.note for item in transcript.items]
    assert f"connect {HOST}:{tls_port}" in notes
    assert any(note.startswith("TLS established: TLSv1.") for note in notes)
    assert f"connect {HOST}:{tcp_port}" in notes


class _RefusingChannel:
    """An update channel whose device answers every upload with 401."""

    description = "POST http://pump/api/update (raw)"

    def deliver(self, image: object, transcript: Transcript, **options: object) -> DeliveryReply:
        return DeliveryReply(False, 401, "unauthorized", auth_refused=True, login_refused=True)


class _FixedVersion:
    description = "fixed"

    def read(self, transcript: Transcript) -> str:
        return "2.4.1"


def _image() -> UpdateImage:
    return UpdateImage("altered-payload", b"\0" * 64, "one byte flipped", version="2.5.0")


def test_refused_profiled_credentials_make_a_refusal_inconclusive() -> None:
    """A device refusing the login would 'refuse' every attack image: that is no pass."""
    with pytest.raises(Inconclusive, match="the profiled credentials were refused"):
        send_image(
            _RefusingChannel(), _FixedVersion(), _image(), "2.4.1", Transcript("t"),
            reboot_timeout_s=1,
        )  # fmt: skip


@pytest.mark.parametrize("mode", [AuthMode.NONE, AuthMode.WRONG])
def test_without_credentials_a_401_is_the_verdict(mode: AuthMode) -> None:
    trial = send_image(
        _RefusingChannel(), _FixedVersion(), _image(), "2.4.1", Transcript("t"),
        reboot_timeout_s=1, auth=mode,
    )  # fmt: skip
    assert trial.reply.auth_refused
    assert trial.outcome is UpdateOutcome.REFUSED
