"""`medsec init`: its UDP and web-login readers, the draft it writes (hostile text kept out
of the YAML), and what it refuses before sending anything."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from harness.cli import draft, main
from harness.config.profile import load_profile
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import tls_identity
from harness.probes.crypto.certs import CertInfo
from harness.probes.crypto.cleartext import PortFinding, Speaks
from harness.probes.crypto.tls import HelloOutcome, HelloResult
from harness.probes.crypto.tls_identity import TlsIdentity
from harness.probes.crypto.tls_suites import TlsVersion
from harness.probes.surface import udp_services, web_login
from harness.probes.surface.discovery import DeviceSurvey, PortSurvey, SshIdentity
from harness.probes.surface.udp_services import UdpFinding
from harness.probes.surface.web_login import LoginHint, PageSeen, WebFront
from harness.transports.http import HttpResponse
from harness.transports.net import ScanResult

HOSTILE = "evil\n  injected: true\x1b[2J\u202e"


# --- UDP ---------------------------------------------------------------------------------


def test_the_coap_request_asks_for_the_resource_directory() -> None:
    assert udp_services.coap_discovery(0x1234) == (b"\x40\x01\x12\x34\xbb.well-known\x04core")


def test_ntp_and_coap_answers_are_told_from_anything_else() -> None:
    server = bytes([0x24, 2]) + bytes(46)  # version 4, mode 4 (server), stratum 2
    assert udp_services.parse_ntp(server) == "NTP v4 server, stratum 2"
    assert udp_services.parse_ntp(udp_services.NTP_CLIENT_REQUEST) is None  # our own echo
    assert udp_services.parse_ntp(b"\x24") is None
    ack = bytes([0x60, 0x45]) + struct.pack(">H", 7) + b"\xff</sensors>;ct=40"
    assert udp_services.parse_coap(ack, 7) == "CoAP ACK 2.05: </sensors>;ct=40"
    assert udp_services.parse_coap(ack, 8) is None  # not the answer to our message
    assert udp_services.parse_coap(b"\x00\x00\x00\x07", 7) is None  # not CoAP version 1


# --- web login ---------------------------------------------------------------------------


def _answer(status: int, headers: dict[str, str], body: bytes = b"") -> HttpResponse:
    return HttpResponse(status, "", tuple(headers.items()), body, 0.01)


BASE = "http://127.0.0.1:8080"


def test_a_basic_or_digest_challenge_is_a_login() -> None:
    basic = web_login.hint(BASE, "/", _answer(401, {"WWW-Authenticate": 'Basic realm="x"'}))
    assert basic is not None
    assert (basic.style, basic.path, basic.method) == ("basic", "/", "GET")
    digest = web_login.hint(BASE, "/", _answer(401, {"WWW-Authenticate": 'Digest realm="x"'}))
    assert digest is not None
    assert digest.style == "digest"


def test_a_login_path_that_refuses_get_takes_credentials_by_post() -> None:
    json_api = _answer(405, {"Content-Type": "application/json", "Allow": "POST"})
    found = web_login.hint(BASE, "/api/login", json_api)
    assert found is not None
    assert (found.style, found.method, found.seen) == (
        "json",
        "POST",
        "405 to GET /api/login (Allow: POST)",
    )
    assert web_login.hint(BASE, "/other", json_api) is None  # only a login path counts


def test_a_form_with_a_password_field_is_read_with_its_fields() -> None:
    page = (
        "<html><form action='/search'><input name=q></form>"
        "<form method=post action='auth.cgi'><input type=hidden name=csrf>"
        "<input type=text name=user><input type=password name=pass></form>"
    )
    found = web_login.login_form(page, f"{BASE}/ui/index.html")
    assert found == LoginHint(
        "form", "/ui/auth.cgi", "POST", "a form at /ui/index.html with password field 'pass'",
        "user", "pass",
    )  # fmt: skip
    elsewhere = "<form action='https://sso.example/login'><input type=password name=p></form>"
    assert web_login.login_form(elsewhere, BASE + "/") is None
    assert web_login.login_form("<form><input type=password name=p" + "<" * 10_000, BASE) is None


# html.parser takes seconds to minutes on these (quadratic); each is MAX_PARSED long.
QUADRATIC_PAGES = {
    "<a repeated": "<a " * (web_login.MAX_PARSED // 3),
    "<!-- repeated": "<!--" * (web_login.MAX_PARSED // 4),
    "</ repeated": "</" * (web_login.MAX_PARSED // 2),
}
LOGIN = "<form method=post action=login><input name=u><input type=password name=p></form>"


@pytest.mark.parametrize("junk", sorted(QUADRATIC_PAGES))
def test_a_page_that_parses_in_quadratic_time_is_searched_within_its_budget(junk: str) -> None:
    for page, found in ((QUADRATIC_PAGES[junk], False), (LOGIN + QUADRATIC_PAGES[junk], True)):
        answer = _answer(200, {"Content-Type": "text/html"}, page.encode())
        started = time.monotonic()
        login = web_login.hint(BASE, "/", answer)
        elapsed = time.monotonic() - started
        # Before: 5 s to minutes each ("<a " repeated ran out a 60 s guard).
        assert elapsed < web_login.PARSE_BUDGET_S + 0.5, f"{elapsed:.2f}s"
        assert (login is not None) == found  # a form before the junk is still read


Answer = tuple[int, dict[str, str], bytes]  # status, headers, body


@contextlib.contextmanager
def _http_server(host: str, answer: Callable[[str], Answer]) -> Iterator[str]:
    """A loopback web server answering each GET path with `answer(path)`; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = answer(self.path)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def web_server(loopback_address: str) -> Iterator[str]:
    """`/` redirects to `/ui/`, which shows a login form."""
    form = b"<form method=post action=login><input name=u><input type=password name=p>"

    def answer(path: str) -> Answer:
        if path == "/":
            return 302, {"Location": "/ui/"}, b""
        return 200 if path == "/ui/" else 404, {"Content-Type": "text/html"}, form

    with _http_server(loopback_address, answer) as url:
        yield url


def test_the_front_follows_one_same_origin_redirect_to_the_form(web_server: str) -> None:
    host = web_server.split("//")[1].split(":")[0]
    front = web_login.web_front(
        Scope.of([f"{host}/32"]), web_server, timeout=5, transcript=Transcript("t")
    )
    assert [(p.path, p.status) for p in front.pages] == [("/", 302), ("/ui/", 200)]
    assert front.login is not None
    assert (front.login.path, front.login.method, front.login.username_field) == (
        "/ui/login", "POST", "u",
    )  # fmt: skip


def test_the_front_notes_a_page_it_could_not_search_and_the_draft_shows_it(
    loopback_address: str,
) -> None:
    body = QUADRATIC_PAGES["<a repeated"].encode()

    def answer(path: str) -> Answer:
        return 200 if path == "/" else 404, {"Content-Type": "text/html"}, body

    with _http_server(loopback_address, answer) as base:
        started = time.monotonic()
        front = web_login.web_front(
            Scope.of([f"{loopback_address}/32"]), base, timeout=5, transcript=Transcript("t")
        )
        elapsed = time.monotonic() - started
    assert elapsed < 2 * (web_login.PARSE_BUDGET_S + 0.5)  # `/` and `/login`
    assert front.login is None
    note = front.pages[0].note
    # Which of the two it says depends on the machine's speed: out of time, or at the end
    # of the page with an unfinished tag left (the parser buffers it without a search).
    assert "characters were parsed within" in note or "were never parsed" in note, note
    text = draft.render(
        _survey(None, front.pages[0]), command="medsec init", addresses=[loopback_address],
        scan_ports=None, when="2030-01-01T00:00:00+00:00",
    )  # fmt: skip
    assert f"#   /: {note}" in text


# --- TLS or not -------------------------------------------------------------------------


class _NotTls:
    """A server that reads what comes, answers `answer` (or nothing) and closes; counts."""

    def __init__(self, host: str, answer: bytes) -> None:
        self.listener = socket.create_server((host, 0))
        self.port = int(self.listener.getsockname()[1])
        self.answer = answer
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self.connections += 1
                conn.settimeout(2)
                conn.recv(65536)
                conn.sendall(self.answer)


@pytest.mark.parametrize(
    ("answer", "hellos"),
    [(b"", 2), (b"HTTP/1.1 400 Bad Request\r\n\r\n", 1)],
    ids=["closes: TLS 1.2 then 1.3", "answers HTTP: one hello"],
)
def test_a_port_that_is_not_tls_is_asked_at_most_twice(
    loopback_address: str, answer: bytes, hellos: int
) -> None:
    server = _NotTls(loopback_address, answer)
    try:
        found = tls_identity.identify(
            Scope.of([f"{loopback_address}/32"]), loopback_address, server.port, timeout=2,
            server_name=None, transcript=Transcript("t"),
        )  # fmt: skip
    finally:
        server.listener.close()
    assert found is None
    assert server.connections == hellos


# --- the draft ---------------------------------------------------------------------------


def _leaf() -> CertInfo:
    when = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    return CertInfo(
        0, f"CN={HOSTILE}", "CN=ca", when, when, "EC", 256, "secp256r1", "sha256", "ecdsa",
        (f"{HOSTILE}.example",), (), True, HOSTILE, False, False, "00", "",
    )  # fmt: skip


def _hello(version: TlsVersion, accepted: bool) -> HelloResult:
    outcome = HelloOutcome.ACCEPTED if accepted else HelloOutcome.ALERT
    return HelloResult(version, outcome, None, None, None, b"", b"", 0.0)


def _survey(login: LoginHint | None, page: PageSeen | None = None) -> DeviceSurvey:
    banner = PortFinding(22, Speaks.SSH, HOSTILE, b"")
    tls = TlsIdentity((_hello(TlsVersion.TLS1_2, True), _hello(TlsVersion.TLS1_1, False)), _leaf())
    page = page or PageSeen("/", 200, "text/html", HOSTILE, None)
    front = WebFront("https://127.0.0.5:443", (page,), login)
    ssh = SshIdentity(f"SSH-2.0-{HOSTILE}", (), ("publickey",))
    ports = (
        PortSurvey(22, "ssh", banner, ssh=ssh),
        PortSurvey(443, "https", PortFinding(443, Speaks.CLOSED, "", b""), tls=tls, web=front),
        PortSurvey(8883, "other", PortFinding(8883, Speaks.UNKNOWN, HOSTILE, b"")),
    )
    scan = ScanResult("127.0.0.5", "127.0.0.5", 3, (22, 443, 8883), (), 0.1)
    udp = (UdpFinding(161, "snmp", f"community {HOSTILE}", b""),)
    return DeviceSurvey("127.0.0.5", scan, ports, (), udp, 1.0)


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "draft.yaml"
    path.write_text(text)
    return load_profile(path, require_env=False)


def test_the_draft_validates_and_keeps_device_text_in_comments(tmp_path: Path) -> None:
    login = LoginHint("form", "/cgi/login", "POST", HOSTILE, "user", "pass")
    text = draft.render(
        _survey(login), command="medsec init 127.0.0.5", addresses=["127.0.0.5"],
        scan_ports=None, when="2030-01-01T00:00:00+00:00",
    )  # fmt: skip
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\ninjected" not in text  # the hostile newline stayed inside one comment line
    document = yaml.safe_load(text)
    assert "injected" not in str(document)
    assert document["scope"] == {"allow": ["127.0.0.5/32"], "destructive": False}
    assert document["network"]["expected_tcp"] == [22, 443, 8883]
    assert document["network"]["expected_udp"] == [161]  # the answering SNMP agent
    assert [s["protocol"] for s in document["network"]["services"]] == ["ssh", "https", "other"]
    assert "password" not in document["ssh"]  # the server offers publickey only
    assert document["http"]["login"] == {
        "path": "/cgi/login", "method": "POST", "style": "form",
        "username_field": "user", "password_field": "pass",
    }  # fmt: skip
    assert document["http"]["account"]["password"] == "${MEDSEC_HTTP_PASSWORD}"
    profile = _load(tmp_path, text)
    assert [i.field for i in profile.unset_env] == ["http.account.password"]  # type: ignore[attr-defined]


def test_a_login_the_profile_cannot_express_stays_a_todo(tmp_path: Path) -> None:
    for login in (
        LoginHint("digest", "/", "GET", "401 Digest"),
        LoginHint("form", "/login", "POST", "form", "user name\n", "pass"),  # unsafe field
        LoginHint("basic", "/bad path", "GET", "401"),
    ):
        text = draft.render(
            _survey(login), command="medsec init 127.0.0.5", addresses=["127.0.0.5"],
            scan_ports="1-1024", when="now",
        )  # fmt: skip
        document = yaml.safe_load(text)
        assert "http" not in document, login
        assert "TODO: describe it" in text
        assert document["network"]["scan_ports"] == "1-1024"
        _load(tmp_path, text)


def test_init_refuses_an_address_nobody_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "192.0.2.10"]) == 2
    assert "refusing to probe 192.0.2.10: it is not loopback" in capsys.readouterr().err
    assert main(["init", "192.0.2.10", "--allow", "192.0.2.128/25"]) == 2
    assert main(["init", "127.0.0.1", "--allow", "not-a-network"]) == 2


def test_init_never_overwrites_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("precious")
    assert main(["init", "127.0.0.1", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_text() == "precious"


def test_init_refuses_bad_ports_and_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "127.0.0.1", "--ports", "22;rm -rf"]) == 2
    assert "give ranges such as 1-1024,8080" in capsys.readouterr().err
    assert main(["init", "127.0.0.1", "--out", str(tmp_path / "no" / "draft.yaml")]) == 2
    assert "no folder" in capsys.readouterr().err
