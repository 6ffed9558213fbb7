"""The emulator's crypto parts over real sockets: the telemetry broker, W-06/07/08, the uplink."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from harness.core.transcript import Transcript
from harness.probes.crypto import cleartext, tls_client
from harness.sim.pump import EmulatedPump, SimConfig
from harness.sim.telemetry_pki import CLOUD_NAME
from harness.transports import net
from harness.transports.ssh_legacy import enable_group14_sha1

TIMEOUT = 5.0


@pytest.fixture(scope="module")
def pumps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, EmulatedPump]]:
    made = {}
    for index, (label, weaknesses) in enumerate(
        {"hardened": (), "weak": ("W-06", "W-07", "W-08")}.items()
    ):
        made[label] = EmulatedPump(
            SimConfig(
                workdir=tmp_path_factory.mktemp(label),
                host=f"127.0.5.{index + 2}",
                weaknesses=frozenset(weaknesses),
                label=label,
            )
        )
        made[label].start()
    yield made
    for pump in made.values():
        pump.stop()


def _mqtt(pump: EmulatedPump, packet: bytes, *, tls: bool) -> bytes:
    endpoints = pump.endpoints
    assert endpoints.telemetry_port is not None
    raw = socket.create_connection((endpoints.host, endpoints.telemetry_port), timeout=TIMEOUT)
    with raw:
        sock: socket.socket = raw
        if tls:
            context = ssl.create_default_context(cafile=str(pump.keys.ca_path))
            sock = context.wrap_socket(raw, server_hostname=endpoints.host)
        sock.sendall(packet)
        try:
            return sock.recv(4)
        except (ssl.SSLError, OSError):
            return b""


def test_broker_needs_the_telemetry_login(pumps: dict[str, EmulatedPump]) -> None:
    pump = pumps["hardened"]
    user, password = pump.telemetry_login
    assert _mqtt(pump, cleartext.mqtt_connect("a", user, password), tls=True) == b"\x20\x02\x00\x00"
    assert _mqtt(pump, cleartext.mqtt_connect("a", user, "wrong"), tls=True) == b"\x20\x02\x00\x05"
    assert _mqtt(pump, cleartext.mqtt_connect("a"), tls=True) == b"\x20\x02\x00\x05"


def test_plain_mqtt_only_with_w08(pumps: dict[str, EmulatedPump]) -> None:
    hello = cleartext.mqtt_connect("a")
    assert cleartext.parse_connack(_mqtt(pumps["hardened"], hello, tls=False)) is None
    assert cleartext.parse_connack(_mqtt(pumps["weak"], hello, tls=False)) == 5


def _kex(pump: EmulatedPump, kex: str, mac: str) -> None:
    endpoints = pump.endpoints
    sock = socket.create_connection((endpoints.host, endpoints.ssh_port), timeout=TIMEOUT)
    transport = paramiko.Transport(sock)
    enable_group14_sha1(transport)
    transport.banner_timeout = transport.handshake_timeout = TIMEOUT
    options = transport.get_security_options()
    options.kex, options.digests, options.ciphers = (kex,), (mac,), ("aes128-ctr",)
    try:
        transport.start_client(timeout=TIMEOUT)
    finally:
        transport.close()


def test_w07_really_negotiates_group14_sha1_and_hmac_sha1(
    pumps: dict[str, EmulatedPump],
) -> None:
    _kex(pumps["weak"], "diffie-hellman-group14-sha1", "hmac-sha1")
    with pytest.raises(paramiko.SSHException):
        _kex(pumps["hardened"], "diffie-hellman-group14-sha1", "hmac-sha1")


def test_uplink_reports_only_to_a_trusted_server(
    pumps: dict[str, EmulatedPump], tmp_path: Path
) -> None:
    pump = pumps["hardened"]
    profile = pump.profile()["tls_client"]
    host, _, port = profile["listen"].rpartition(":")
    trusted = (Path(profile["ca_cert"]).read_bytes(), Path(profile["ca_key"]).read_bytes())
    cases = tls_client.cases(CLOUD_NAME, host, trusted)
    with net.listen((host, int(port))) as listener:
        trials = tls_client.serve(
            listener, cases, wait_s=10, timeout=TIMEOUT, transcript=Transcript("t")
        )
    by = {t.case: t for t in trials}
    assert by["control"].handshake_completed
    assert b"firmware" in by["control"].application_data
    for case in ("untrusted", "expired", "wrong-name"):
        assert by[case].refused, by[case].summary()
