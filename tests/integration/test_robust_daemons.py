"""ROBUST against real daemons: OpenSSH, OpenSSL's s_server, lighttpd and mosquitto survive
the malformed, oversized, flood and slow cases (they pass), and a deliberately fragile web
server (`fragile.py`) fails them, naming the case, its bytes and how long it was gone.

Every daemon runs on its own loopback address, started once; the medsec runs go at once.
"""

from __future__ import annotations

import shutil
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.reporting.results import Outcome
from tests.integration import consoles, crypto_daemons, daemons, embedded
from tests.integration.verdicts import concurrently, outcomes, reasons, run

FRAGILE = Path(__file__).with_name("fragile.py")
# Small enough for a test, still past sshd's MaxStartups and s_server's single thread.
POLICY = {
    "timeout_s": 3,
    "liveness_timeout_s": 4,
    "flood_connections": 60,
    "flood_rate": 600,
    "flood_hold_s": 1,
    "slow_connections": 8,
    "slow_interval_s": 0.5,
    "slow_hold_s": 2,
}
PASSED, FAILED, NA = Outcome.PASSED, Outcome.FAILED, Outcome.NOT_APPLICABLE


def _network(host: str, *services: dict[str, Any]) -> dict[str, Any]:
    ports = [s["port"] for s in services]
    return {"network": {"host": host, "expected_tcp": ports, "services": list(services)}}


def _http(base_url: str, path: str, style: str) -> dict[str, Any]:
    return {"http": {"base_url": base_url, "login": {"path": path, "style": style}}}


def _fragile(stack: ExitStack, host: str, folder: Path, respawn: float | None) -> int:
    """The fragile web server on `host` (respawned `respawn` s after a crash, or not)."""
    port = daemons.free_port(host)
    command = [sys.executable, str(FRAGILE), host, str(port)]
    command += ["--respawn", str(respawn)] if respawn is not None else []
    folder.mkdir(parents=True, exist_ok=True)
    stack.enter_context(
        embedded.started(command, folder / "fragile.log", embedded.listening(host, port))
    )
    return port


def _robust(tmp_path: Path, host: str, name: str, *checks: str, **sections: Any) -> Any:
    selection = ("--", "-k", " or ".join(checks)) if checks else ()
    return lambda: run(
        tmp_path, host, name, "--suite", "robust", *selection, policy=POLICY, **sections
    )


def test_real_daemons_survive_and_a_fragile_server_fails(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    ssh_host, tls_host, web_host, mqtt_host, fragile_host, gone_host = embedded.addresses(
        loopback_address, 6
    )
    pki = crypto_daemons.make_pki(tmp_path, tls_host)
    with ExitStack() as stack:
        ssh = stack.enter_context(
            daemons.sshd(ssh_host, tmp_path / "sshd", password_auth=True, allow="nobody")
        )
        tls = stack.enter_context(crypto_daemons.tls_server(tls_host, tmp_path, pki, "strong"))
        combined = tmp_path / "web.pem"
        combined.write_bytes(pki.ec_cert.read_bytes() + pki.ec_key.read_bytes())
        web = stack.enter_context(
            embedded.lighttpd(
                web_host, tmp_path / "lighttpd", embedded.WebServer(combined, {"admin": "x"}, True)
            )
        )
        plain, secure = daemons.free_port(mqtt_host), daemons.free_port(mqtt_host)
        stack.enter_context(
            embedded.mosquitto(
                mqtt_host,
                tmp_path / "mosquitto",
                f"listener {plain} {mqtt_host}\nallow_anonymous true\n"
                f"listener {secure} {mqtt_host}\nallow_anonymous true\n"
                f"certfile {pki.ec_cert}\nkeyfile {pki.ec_key}\n",
            )
        )
        fragile = _fragile(stack, fragile_host, tmp_path / "fragile", respawn=1.0)
        gone = _fragile(stack, gone_host, tmp_path / "gone", respawn=None)
        runs = concurrently(
            sshd=_robust(
                tmp_path, ssh_host, "sshd",
                ssh={"host": ssh_host, "port": ssh, "username": "nobody"},
                **_network(ssh_host, {"name": "ssh", "port": ssh, "protocol": "ssh"}),
            ),
            s_server=_robust(
                tmp_path, tls_host, "s_server",
                **_network(tls_host, {"name": "tls", "port": tls, "protocol": "tls"}),
            ),
            lighttpd=_robust(
                tmp_path, web_host, "lighttpd",
                **_network(web_host, {"name": "web", "port": web, "protocol": "https"}),
                **_http(f"https://{web_host}:{web}", "/", "basic"),
            ),
            mosquitto=_robust(
                tmp_path, mqtt_host, "mosquitto",
                **_network(
                    mqtt_host,
                    {"name": "mqtt", "port": plain, "protocol": "mqtt"},
                    {"name": "telemetry", "port": secure, "protocol": "mqtts"},
                ),
            ),
            fragile=_robust(
                tmp_path, fragile_host, "fragile", "http_requests", "slow_requests",
                **_network(fragile_host, {"name": "web", "port": fragile, "protocol": "http"}),
                **_http(f"http://{fragile_host}:{fragile}", "/login", "json"),
            ),
            gone=_robust(
                tmp_path, gone_host, "gone", "oversized",
                **_network(gone_host, {"name": "web", "port": gone, "protocol": "http"}),
                **_http(f"http://{gone_host}:{gone}", "/login", "json"),
            ),
        )  # fmt: skip
    expected = {
        "sshd": {"ROBUST-002[ssh]": PASSED, "ROBUST-004[device]": PASSED,
                 "ROBUST-005[network]": PASSED},
        "s_server": {"ROBUST-001[tls]": PASSED, "ROBUST-004[device]": PASSED,
                     "ROBUST-005[network]": PASSED},
        "lighttpd": {"ROBUST-001[web]": PASSED, "ROBUST-003[http]": PASSED,
                     "ROBUST-004[device]": PASSED, "ROBUST-005[network]": PASSED,
                     "ROBUST-008[http]": PASSED},
        "mosquitto": {"ROBUST-001[telemetry]": PASSED, "ROBUST-004[device]": PASSED,
                      "ROBUST-005[network]": PASSED},
        "fragile": {"ROBUST-003[http]": FAILED, "ROBUST-008[http]": FAILED},
        "gone": {"ROBUST-004[device]": FAILED},
    }  # fmt: skip
    for name, wanted in expected.items():  # every other ROBUST check: not applicable
        seen = {k: v for k, v in outcomes(runs[name]).items() if v is not NA}
        assert seen == wanted, f"{name}:\n{reasons(runs[name])}"
    fragile_checks = runs["fragile"]["checks"]
    crashed = fragile_checks["ROBUST-003[http]"].reason
    assert "64k-header" in crashed, crashed
    assert "reproducer-http-64k-header.bin" in crashed, crashed
    assert "answered again after" in crashed, crashed
    starved = fragile_checks["ROBUST-008[http]"].reason
    assert "got no answer" in starved, starved
    stayed = runs["gone"]["checks"]["ROBUST-004[device]"].reason
    assert "long-url" in stayed, stayed
    assert "did not answer again within 4s" in stayed, stayed


def _fragile_ssh(
    stack: ExitStack, host: str, backend: tuple[str, int], folder: Path, *flags: str
) -> int:
    """fragile_ssh.py on `host`, relaying to the real sshd at `backend`."""
    port = daemons.free_port(host)
    command = [sys.executable, "-m", "tests.integration.fragile_ssh", host, str(port)]
    command += [backend[0], str(backend[1]), *flags]
    folder.mkdir(parents=True, exist_ok=True)
    stack.enter_context(
        embedded.started(command, folder / "fragile_ssh.log", embedded.listening(host, port))
    )
    return port


def test_fragile_servers_fail_robust_001_002_005_and_a_real_login_console_passes_006(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    """The failing side of ROBUST-002 and -005 on real OpenSSH behind a fragile front (its
    key exchange is sshd's own), of ROBUST-001 on a TLS server that dies of a length
    overrun (fragile_tls.py), and ROBUST-006 passing on busybox `login` on a pty."""
    backend_host, overflow_host, flooded_host, console_host, tls_host = embedded.addresses(
        loopback_address, 5
    )
    pki = crypto_daemons.make_pki(tmp_path, tls_host)
    busybox = shutil.which("busybox") or "/bin/busybox"
    password = daemons.random_password()  # never typed: ROBUST-006 stays at the login prompt
    with ExitStack() as stack:
        ssh = stack.enter_context(
            daemons.sshd(backend_host, tmp_path / "sshd", password_auth=True, allow="nobody")
        )
        backend = (backend_host, ssh)
        overflow = _fragile_ssh(
            stack, overflow_host, backend, tmp_path / "overflow", "--respawn", "1"
        )
        flooded = _fragile_ssh(
            stack, flooded_host, backend, tmp_path / "flooded", "--max-connections", "20"
        )
        console = stack.enter_context(consoles.real_console(tmp_path / "login", f"{busybox} login"))
        tls = daemons.free_port(tls_host)
        (tmp_path / "tls").mkdir()
        fragile_tls = [
            sys.executable, "-m", "tests.integration.fragile_tls", tls_host, str(tls),
            str(pki.ec_cert), str(pki.ec_key), str(tmp_path / "tls" / "fatal-hello.bin"),
        ]  # fmt: skip
        stack.enter_context(
            embedded.started(
                fragile_tls, tmp_path / "tls" / "fragile.log", embedded.listening(tls_host, tls)
            )
        )

        def ssh_device(host: str, port: int) -> dict[str, Any]:
            return {
                "ssh": {"host": host, "port": port, "username": "nobody"},
                **_network(host, {"name": "ssh", "port": port, "protocol": "ssh"}),
            }

        runs = concurrently(
            overflow=_robust(
                tmp_path, overflow_host, "overflow", "malformed_ssh",
                **ssh_device(overflow_host, overflow),
            ),
            flooded=_robust(
                tmp_path, flooded_host, "flooded", "connection_flood",
                **ssh_device(flooded_host, flooded),
            ),
            dies=_robust(
                tmp_path, tls_host, "dies", "malformed_tls",
                **_network(tls_host, {"name": "fragile", "port": tls, "protocol": "tls"}),
            ),
            console=_robust(
                tmp_path, console_host, "console", "serial_garbage",
                serial={"url": console, "username": "nobody", "password": password},
            ),
        )  # fmt: skip
    assert outcomes(runs["overflow"]) == {"ROBUST-002[ssh]": FAILED}, reasons(runs["overflow"])
    overflowed = runs["overflow"]["checks"]["ROBUST-002[ssh]"].reason
    assert "long-identification" in overflowed, overflowed
    assert "answered again after" in overflowed, overflowed
    assert outcomes(runs["flooded"]) == {"ROBUST-005[network]": FAILED}, reasons(runs["flooded"])
    flooded_reason = runs["flooded"]["checks"]["ROBUST-005[network]"].reason
    assert "Connection refused) did not answer within 4s" in flooded_reason, flooded_reason
    assert outcomes(runs["console"]) == {"ROBUST-006[serial]": PASSED}, reasons(runs["console"])
    assert outcomes(runs["dies"]) == {"ROBUST-001[fragile]": FAILED}, reasons(runs["dies"])
    died = runs["dies"]["checks"]["ROBUST-001[fragile]"].reason
    assert "did not answer again within 4s" in died, died
