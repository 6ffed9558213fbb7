"""The emulated pump over real sockets, a real pty and a real subprocess; no mocks.

Every pump listens on its own loopback address (127.0.3.N), so pumps never see each
other's ports, and every wait below is bounded.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import itertools
import json
import os
import re
import select
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
import serial
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.config.profile import load_profile
from harness.sim import pump as pump_module
from harness.sim.pump import EmulatedPump, SimConfig, weaknesses_for
from harness.sim.vendor_service import HELLO
from harness.sim.weaknesses import PLANTED, WEAKNESSES, Weakness
from harness.updates import medsec_v1

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 5.0
_hosts = itertools.count(1)

MakePump = Callable[..., EmulatedPump]


def altered_payload(image: bytes) -> bytes:
    """A signed medsec-v1 image with one payload byte flipped after signing."""
    parsed = medsec_v1.parse(image)
    offset = parsed.payload_offset + len(parsed.payload) // 2
    changed = bytearray(image)
    changed[offset] ^= 0xFF
    return bytes(changed)


def next_host() -> str:
    return f"127.0.3.{next(_hosts)}"


def new_pump(workdir: Path, *weaknesses: str, label: str = "test") -> EmulatedPump:
    pump = EmulatedPump(
        SimConfig(workdir=workdir, host=next_host(), weaknesses=frozenset(weaknesses), label=label)
    )
    pump.start()
    return pump


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedPump]:
    pump = new_pump(tmp_path_factory.mktemp("hardened"), label="hardened")
    yield pump
    pump.stop()


@pytest.fixture(scope="module")
def vulnerable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedPump]:
    pump = new_pump(tmp_path_factory.mktemp("vulnerable"), *PLANTED, label="vulnerable")
    yield pump
    pump.stop()


@pytest.fixture
def make_pump(tmp_path: Path) -> Iterator[MakePump]:
    """Fresh pumps for tests that change state (console session, installed version)."""
    pumps: list[EmulatedPump] = []

    def make(*weaknesses: str) -> EmulatedPump:
        pump = new_pump(tmp_path / f"pump{len(pumps)}", *weaknesses)
        pumps.append(pump)
        return pump

    yield make
    for pump in pumps:
        pump.stop()


# --- SSH -------------------------------------------------------------------------------


def ssh_connect(pump: EmulatedPump, **options: tuple[str, ...]) -> paramiko.Transport:
    endpoints = pump.endpoints
    sock = socket.create_connection((endpoints.host, endpoints.ssh_port), timeout=TIMEOUT)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = TIMEOUT
    security = transport.get_security_options()
    for name, value in options.items():
        setattr(security, name, value)
    transport.start_client(timeout=TIMEOUT)
    return transport


def ssh_run(transport: paramiko.Transport, command: str) -> tuple[int, str]:
    channel = transport.open_session(timeout=TIMEOUT)
    channel.settimeout(TIMEOUT)
    channel.exec_command(command)
    output = b""
    while chunk := channel.recv(4096):
        output += chunk
    assert channel.status_event.wait(TIMEOUT)
    channel.close()
    return channel.exit_status, output.decode()


def service_key(pump: EmulatedPump) -> paramiko.PKey:
    return paramiko.PKey.from_path(pump.keys.service_key_path)


def test_ssh_key_login_runs_commands(hardened: EmulatedPump) -> None:
    transport = ssh_connect(hardened)
    try:
        assert transport.remote_version == "SSH-2.0-pumpd"
        transport.auth_publickey("service", service_key(hardened))
        assert ssh_run(transport, "version") == (0, "2.4.1\n")
        assert ssh_run(transport, "id") == (
            0,
            "uid=1000(service) gid=1000(service) groups=1000(service)\n",
        )
        assert ssh_run(transport, "reboot now") == (127, "sh: reboot: not found\n")
    finally:
        transport.close()


def test_ssh_interactive_shell(hardened: EmulatedPump) -> None:
    transport = ssh_connect(hardened)
    try:
        transport.auth_publickey("service", service_key(hardened))
        channel = transport.open_session(timeout=TIMEOUT)
        channel.settimeout(TIMEOUT)
        channel.get_pty()
        channel.invoke_shell()
        seen = read_until(channel.recv, b"service@ip100:~$ ")
        channel.sendall(b"version\r")
        seen = read_until(channel.recv, b"service@ip100:~$ ")
        assert b"2.4.1\r\n" in seen
        channel.sendall(b"exit\r")
        assert channel.status_event.wait(TIMEOUT)
    finally:
        transport.close()


def ssh_login_refused(pump: EmulatedPump, username: str, secret: str | paramiko.PKey) -> bool:
    """One connection per user name: the server ends a session whose user name changes."""
    transport = ssh_connect(pump)
    try:
        if isinstance(secret, str):
            transport.auth_password(username, secret)
        else:
            transport.auth_publickey(username, secret)
    except paramiko.AuthenticationException:
        return not transport.is_authenticated()
    finally:
        transport.close()
    return False


def test_ssh_refuses_default_password_and_root(hardened: EmulatedPump) -> None:
    assert ssh_login_refused(hardened, "service", "service")
    assert ssh_login_refused(hardened, "root", "")
    assert ssh_login_refused(hardened, "root", "root")
    assert ssh_login_refused(hardened, "root", service_key(hardened))


def test_ssh_w17_accepts_vendor_default(vulnerable: EmulatedPump) -> None:
    assert ssh_login_refused(vulnerable, "root", "")
    transport = ssh_connect(vulnerable)
    try:
        transport.auth_password("service", "service")
        assert ssh_run(transport, "id")[1].startswith("uid=1000(service)")
    finally:
        transport.close()


@pytest.mark.parametrize(
    "options",
    [
        {"digests": ("hmac-sha1",)},
        {"ciphers": ("aes128-cbc",)},
        {"kex": ("diffie-hellman-group14-sha256",)},
    ],
    ids=["hmac-sha1", "cbc", "group14"],
)
def test_ssh_offers_strong_algorithms_only(
    hardened: EmulatedPump, options: dict[str, tuple[str, ...]]
) -> None:
    with pytest.raises(paramiko.SSHException):
        ssh_connect(hardened, **options).close()


# --- serial console ----------------------------------------------------------------------


def read_until(read: Callable[[int], bytes], needle: bytes, timeout: float = TIMEOUT) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not seen within {timeout}s; got {seen[-300:]!r}")
        with contextlib.suppress(TimeoutError):
            seen += read(4096)
    return seen


class Terminal:
    def __init__(self, path: str) -> None:
        self.port = serial.serial_for_url(path, baudrate=115200, timeout=0.05)

    def expect(self, needle: bytes) -> bytes:
        return read_until(self.port.read, needle)

    def send(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def terminal() -> Iterator[Callable[[EmulatedPump], Terminal]]:
    opened: list[Terminal] = []

    def open_console(pump: EmulatedPump) -> Terminal:
        opened.append(Terminal(pump.endpoints.console_path))
        return opened[-1]

    yield open_console
    for term in opened:
        term.close()


def test_console_service_login(
    make_pump: MakePump, terminal: Callable[[EmulatedPump], Terminal]
) -> None:
    pump = make_pump()
    password = pump.credentials.console_password
    term = terminal(pump)
    boot = term.expect(b"IP-100 login: ")
    assert b"pumpd: therapy services ready" in boot
    assert password.encode() not in boot
    term.send(b"\r")
    term.expect(b"IP-100 login: ")
    term.send(b"service\r")
    term.expect(b"Password: ")
    term.send(password.encode() + b"\r")
    after_password = term.expect(b"service@ip100:~$ ")
    assert password.encode() not in after_password
    term.send(b"version\r\n")  # CRLF is one line end: exactly one prompt follows
    seen = term.expect(b"2.4.1\r\nservice@ip100:~$ ")
    term.send(b"id\r")
    seen = term.expect(b"service@ip100:~$ ")
    assert b"uid=1000(service)" in seen
    assert b"$ service@ip100" not in seen
    term.send(b"flash\r")
    assert b"sh: flash: not found" in term.expect(b"service@ip100:~$ ")
    term.send(b"exit\r")
    term.expect(b"IP-100 login: ")


def test_console_refuses_bad_logins(
    make_pump: MakePump, terminal: Callable[[EmulatedPump], Terminal]
) -> None:
    pump = make_pump()
    term = terminal(pump)
    term.expect(b"IP-100 login: ")
    term.send(b"\x03")
    term.expect(b"^C\r\n\r\nIP-100 login: ")
    for username, password in ((b"service", b"wrong-password"), (b"root", b"")):
        term.send(username + b"\r")
        term.expect(b"Password: ")
        term.send(password + b"\r")
        seen = term.expect(b"IP-100 login: ")
        assert b"Login incorrect" in seen
        assert b"#" not in seen
        assert b"$" not in seen
        if password:
            assert password not in seen


def test_console_w18_root_without_password(
    make_pump: MakePump, terminal: Callable[[EmulatedPump], Terminal]
) -> None:
    pump = make_pump("W-18")
    term = terminal(pump)
    term.expect(b"IP-100 login: ")
    term.send(b"root\r")
    term.expect(b"Password: ")
    term.send(b"\r")
    term.expect(b"root@ip100:~# ")
    term.send(b"id\r")
    assert b"uid=0(root)" in term.expect(b"root@ip100:~# ")


# --- HTTPS API ---------------------------------------------------------------------------


def verified_context(pump: EmulatedPump) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pump.keys.ca_path))


def api(
    pump: EmulatedPump,
    method: str,
    path: str,
    body: bytes | None = None,
    auth: tuple[str, str] | None = None,
) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
    endpoints = pump.endpoints
    connection = http.client.HTTPSConnection(
        endpoints.host, endpoints.https_port, context=verified_context(pump), timeout=TIMEOUT
    )
    headers = {"Content-Type": "application/octet-stream"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        document = json.loads(response.read())
    finally:
        connection.close()
    return response.status, document, response


def raw_request(pump: EmulatedPump, request: bytes) -> bytes:
    endpoints = pump.endpoints
    context = verified_context(pump)
    raw = socket.create_connection((endpoints.host, endpoints.https_port), timeout=TIMEOUT)
    with raw, context.wrap_socket(raw, server_hostname=endpoints.host) as tls:
        tls.sendall(request)
        return read_until(tls.recv, b"\r\n\r\n")


def test_api_version_over_verified_tls(hardened: EmulatedPump) -> None:
    status, document, response = api(hardened, "GET", "/api/version")
    assert status == 200
    assert document == {"model": "IP-100", "hardware": "1.0", "version": "2.4.1"}
    assert response.getheader("Server") == "pumpd"
    status, document, _ = api(hardened, "GET", "/<script>")
    assert status == 404
    assert "script" not in json.dumps(document)


def tls_handshake(
    pump: EmulatedPump, version: ssl.TLSVersion, ciphers: str = "DEFAULT:@SECLEVEL=0"
) -> str | None:
    """The negotiated version, or None if the pump refused the handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose
        context.minimum_version = context.maximum_version = version
    context.set_ciphers(ciphers)
    endpoints = pump.endpoints
    with socket.create_connection((endpoints.host, endpoints.https_port), timeout=TIMEOUT) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                return tls.version()
        except (ssl.SSLError, ConnectionError):
            return None


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_refused_unless_w05(
    hardened: EmulatedPump, vulnerable: EmulatedPump, version: ssl.TLSVersion
) -> None:
    assert tls_handshake(hardened, version) is None
    assert tls_handshake(vulnerable, version) == version.name.replace("_", ".")


@pytest.mark.parametrize("pump_name", ["hardened", "vulnerable"])
def test_tls12_only_aead_suites(pump_name: str, request: pytest.FixtureRequest) -> None:
    pump: EmulatedPump = request.getfixturevalue(pump_name)
    assert tls_handshake(pump, ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA") is None
    assert tls_handshake(pump, ssl.TLSVersion.TLSv1_2, "ECDHE+AESGCM") == "TLSv1.2"
    assert tls_handshake(pump, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"


def signed_image(pump: EmulatedPump, version: str, payload: bytes = b"firmware" * 64) -> bytes:
    key = serialization.load_pem_private_key(pump.keys.signing_key_path.read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    return medsec_v1.build(payload, version=version, model="IP-100", hardware="1.0", key=key)


def update_auth(pump: EmulatedPump) -> tuple[str, str]:
    return pump.credentials.update_username, pump.credentials.update_password


def running_version(pump: EmulatedPump) -> str:
    version: str = api(pump, "GET", "/api/version")[1]["version"]
    return version


def test_update_channel_hardened(make_pump: MakePump) -> None:
    pump = make_pump()
    good = signed_image(pump, "2.5.0")

    status, _, response = api(pump, "POST", "/api/update", good)
    assert status == 401
    assert response.getheader("WWW-Authenticate", "").startswith("Basic")
    assert api(pump, "POST", "/api/update", good, ("update", "wrong"))[0] == 401
    host = pump.endpoints.host.encode()
    assert raw_request(
        pump, b"POST /api/update HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    ).startswith(b"HTTP/1.1 411")
    oversized = b"POST /api/update HTTP/1.1\r\nHost: x\r\nContent-Length: 17000000\r\n\r\n"
    assert raw_request(pump, oversized).startswith(b"HTTP/1.1 413")
    assert running_version(pump) == "2.4.1"

    status, document, _ = api(pump, "POST", "/api/update", good, update_auth(pump))
    assert (status, document) == (200, {"accepted": True, "version": "2.5.0"})
    assert running_version(pump) == "2.5.0"
    transport = ssh_connect(pump)
    try:
        transport.auth_publickey("service", service_key(pump))
        assert ssh_run(transport, "version") == (0, "2.5.0\n")
    finally:
        transport.close()

    altered = altered_payload(signed_image(pump, "2.6.0"))
    status, document, _ = api(pump, "POST", "/api/update", altered, update_auth(pump))
    assert status == 422
    assert document["accepted"] is False
    assert "payload" in document["reason"]

    status, document, _ = api(
        pump, "POST", "/api/update", signed_image(pump, "2.4.0"), update_auth(pump)
    )
    assert status == 422
    assert "rollback" in document["reason"]
    assert api(pump, "POST", "/api/update", b"MSV1junk", update_auth(pump))[0] == 422
    assert running_version(pump) == "2.5.0"


def test_update_w09_installs_altered_payload(make_pump: MakePump) -> None:
    pump = make_pump("W-09")
    altered = altered_payload(signed_image(pump, "2.5.0"))
    status, document, _ = api(pump, "POST", "/api/update", altered, update_auth(pump))
    assert (status, document) == (200, {"accepted": True, "version": "2.5.0"})
    rollback = signed_image(pump, "2.4.9")
    assert api(pump, "POST", "/api/update", rollback, update_auth(pump))[0] == 422
    assert running_version(pump) == "2.5.0"


# --- vendor service, profile, weakness selection -----------------------------------------


def test_vendor_port_only_with_w12(hardened: EmulatedPump, vulnerable: EmulatedPump) -> None:
    assert hardened.endpoints.vendor_port is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((hardened.endpoints.host, 9999), timeout=TIMEOUT).close()
    port = vulnerable.endpoints.vendor_port
    assert port == 9999
    with socket.create_connection((vulnerable.endpoints.host, port), timeout=TIMEOUT) as sock:
        assert read_until(sock.recv, HELLO)[:8] == HELLO
        sock.sendall(b"\x00\x00\x00\x01")
        assert read_until(sock.recv, b"PMP\x02").startswith(b"PMP\x02")


def test_written_profile_loads(vulnerable: EmulatedPump, tmp_path: Path) -> None:
    path = vulnerable.write_profile(tmp_path / "pump.yaml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    profile = load_profile(path)
    endpoints = vulnerable.endpoints
    assert profile.device.model == "IP-100"
    assert profile.device.firmware == "2.4.1"
    assert profile.network is not None
    assert profile.ssh is not None
    assert profile.network.expected_tcp == (
        endpoints.ssh_port,
        endpoints.https_port,
        endpoints.telemetry_port,
    )
    assert endpoints.vendor_port not in profile.network.expected_tcp
    assert profile.ssh.key_file == vulnerable.keys.service_key_path
    assert profile.serial is not None
    assert profile.serial.url == endpoints.console_path
    assert profile.update is not None
    assert profile.update.next_version == "2.5.0"
    body = json.dumps(api(vulnerable, "GET", "/api/version")[1])
    found = re.search(profile.update.version_regex, body)
    assert found is not None
    assert found.group(1) == "2.4.1"
    assert profile.threat_model is not None
    assert profile.threat_model.is_file()
    assert stat.S_IMODE(profile.update.signing_key.stat().st_mode) == 0o600


def test_weakness_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert weaknesses_for("hardened", []) == frozenset()
    assert weaknesses_for("vulnerable", []) == frozenset(PLANTED)
    assert weaknesses_for("hardened", ["W-05"]) == {"W-05"}
    with pytest.raises(ValueError, match="W-05, W-06"):
        weaknesses_for("hardened", ["W-99"])
    # A row the emulator cannot plant yet (every real row may be planted by now).
    unplanted = Weakness("W-98", "not plantable yet", "AUTH-001", planted=False)
    monkeypatch.setattr(pump_module, "WEAKNESSES", {**WEAKNESSES, "W-98": unplanted})
    with pytest.raises(ValueError, match="not planted"):
        weaknesses_for("hardened", ["W-98"])
    with pytest.raises(ValueError, match="variant"):
        weaknesses_for("sloppy", [])


def test_pump_refuses_bad_config(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown weakness"):
        EmulatedPump(SimConfig(workdir=tmp_path, weaknesses=frozenset({"W-99"}))).start()
    with pytest.raises(ValueError, match="every interface"):
        EmulatedPump(SimConfig(workdir=tmp_path, host="0.0.0.0")).start()  # noqa: S104


# --- the runner as a process -------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def test_runner_starts_fast_and_stops_on_sigterm(tmp_path: Path) -> None:
    profile_path = tmp_path / "sim.yaml"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "harness.sim",
        "--variant",
        "hardened",
        "--host",
        next_host(),
        "--write-profile",
        str(profile_path),
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = b""
        while not line.endswith(b"\n") and time.monotonic() - started < 10:
            if select.select([process.stdout], [], [], 0.1)[0]:
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        elapsed = time.monotonic() - started
        cpu_s = _cpu_seconds(process.pid)
        assert line.endswith(b"\n"), process.stderr.read() if process.stderr else line
        # Its own CPU time, not the wall clock: other tests share the cores under `-n`.
        assert cpu_s < 2.0, f"ready after {cpu_s:.2f}s of CPU ({elapsed:.2f}s wall)"
        ready = json.loads(line)
        assert ready["ready"] is True
        assert ready["weaknesses"] == []
        assert ready["vendor_port"] is None
        assert ready["pid"] == process.pid
        assert ready["profile"] == str(profile_path.resolve())
        profile = load_profile(profile_path)
        assert profile.serial is not None
        assert profile.serial.password is not None
        assert profile.serial.password.get_secret_value().encode() not in line
        workdir = Path(ready["workdir"])
        assert (workdir / "sim.log").is_file()

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=3) == 0
        assert process.stdout.read() == b""
        assert not workdir.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=3)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_update_w19_hands_unauthenticated_images_to_the_verifier(make_pump: MakePump) -> None:
    pump = make_pump("W-19")
    status, document, _ = api(pump, "POST", "/api/update", signed_image(pump, "2.4.1"))
    assert status == 422  # stored and verified without credentials; anti-rollback refuses it
    assert "anti-rollback" in document["reason"]
    status, document, _ = api(pump, "POST", "/api/update", signed_image(pump, "2.5.0"))
    assert (status, document) == (200, {"accepted": True, "version": "2.5.0"})
    assert "without credentials stored" in (pump.config.workdir / "sim.log").read_text()
