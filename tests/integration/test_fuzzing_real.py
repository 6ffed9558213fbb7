"""ROBUST-007 against real daemons: they survive; a fragile server of ours dies and the
reproducer the harness saved kills it again.

Survivors, all on one address and fuzzed in one run: OpenSSH's sshd (the recorded key
exchange), OpenSSL's s_server (ClientHellos, HTTP inside TLS), lighttpd (HTTP, and HTTPS
on a second socket) and mosquitto (anonymous plain MQTT: CONNECT, PUBLISH and SUBSCRIBE
are all fuzzed; MQTT over TLS with passwords: the CONNECT only, the broker refuses the
rest). The fragile server (tests/integration/fragile_tls.py) segfaults on a ClientHello
whose inner lengths run past its bytes: two runs with the same `--fuzz-seed` must kill it
with the same case, the bytes of the saved reproducer are the ones it died of, and
replaying that reproducer alone kills a fresh copy.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.robust import fuzz_plan, fuzz_wire
from harness.reporting.results import Outcome
from tests.integration import crypto_daemons, daemons, embedded
from tests.integration.verdicts import concurrently, outcomes, reasons, run

SURVIVOR_SEED = "20261130"
CASES = 250
FRAGILE_SEED = "7"
FUZZ = ("--suite", "fuzz", "--allow-destructive", "--quiet")  # ROBUST-007 alone


def _policy(cases: int, **more: Any) -> dict[str, Any]:
    return {"fuzz_cases": cases, "fuzz_rate": 400, "fuzz_answer_s": 0.05, **more}


@contextlib.contextmanager
def _lighttpd(host: str, folder: Path, cert_and_key: Path) -> Iterator[tuple[int, int]]:
    """lighttpd serving a static page over HTTP and, on a second socket, over HTTPS."""
    binary = embedded.program("lighttpd", "lighttpd")
    daemons.require(
        Path("/usr/lib/lighttpd/mod_openssl.so").is_file(), "apt-get install lighttpd-mod-openssl"
    )
    root = folder / "www"
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text("pump status: infusing\n")
    plain, tls = daemons.free_port(host), daemons.free_port(host)
    config = folder / "lighttpd.conf"
    config.write_text(
        f'server.document-root = "{root}"\nserver.bind = "{host}"\nserver.port = {plain}\n'
        f'server.pid-file = "{folder}/lighttpd.pid"\nserver.errorlog = "{folder}/error.log"\n'
        'server.modules = ("mod_indexfile", "mod_openssl", "mod_staticfile")\n'
        'index-file.names = ("index.html")\n'
        f'$SERVER["socket"] == "{host}:{tls}" {{\n'
        f'  ssl.engine = "enable"\n  ssl.pemfile = "{cert_and_key}"\n}}\n'
    )
    command = [binary, "-D", "-f", str(config)]
    with embedded.started(command, folder / "lighttpd.log", embedded.listening(host, tls)):
        yield plain, tls


def _mosquitto_config(
    host: str, plain: int, tls: int, pki: crypto_daemons.Pki, passwords: Path
) -> str:
    return (
        f"per_listener_settings true\nlistener {plain} {host}\nallow_anonymous true\n"
        f"listener {tls} {host}\nallow_anonymous false\npassword_file {passwords}\n"
        f"certfile {pki.ec_cert}\nkeyfile {pki.ec_key}\n"
    )


def test_real_daemons_survive_fuzzing(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    host = loopback_address
    pki = crypto_daemons.make_pki(tmp_path, host)
    pem = tmp_path / "ec.combined.pem"
    pem.write_bytes(pki.ec_cert.read_bytes() + pki.ec_key.read_bytes())
    passwords = embedded.mosquitto_passwords(tmp_path, {"telemetry": daemons.random_password()})
    mqtt, mqtts = daemons.free_port(host), daemons.free_port(host)
    with contextlib.ExitStack() as stack:
        ssh = stack.enter_context(crypto_daemons.ssh_server(host, tmp_path / "sshd", "strong"))
        s_server = stack.enter_context(crypto_daemons.tls_server(host, tmp_path, pki, "strong"))
        http, https = stack.enter_context(_lighttpd(host, tmp_path / "lighttpd", pem))
        config = _mosquitto_config(host, mqtt, mqtts, pki, passwords)
        stack.enter_context(embedded.mosquitto(host, tmp_path / "mosquitto", config))
        services = {
            "sshd": (ssh, "ssh"),
            "s_server": (s_server, "https"),
            "lighttpd": (http, "http"),
            "lighttpd-tls": (https, "https"),
            "mosquitto": (mqtt, "mqtt"),
            "mosquitto-tls": (mqtts, "mqtts"),
        }
        # Two runs at once, each with about half the fuzzing time (the answer windows of
        # cases the daemons leave open are mostly waiting).
        halves = {
            "a": ("sshd", "lighttpd", "mosquitto-tls"),
            "b": ("s_server", "lighttpd-tls", "mosquitto"),
        }
        runs = concurrently(
            **{
                half: (lambda names=names, half=half: run(
                    tmp_path, host, f"fuzzed-daemons-{half}", *FUZZ, "--fuzz-seed", SURVIVOR_SEED,
                    network={"host": host, "services": [
                        {"name": n, "port": services[n][0], "protocol": services[n][1]}
                        for n in names
                    ]},
                    policy=_policy(CASES, timeout_s=5),
                ))
                for half, names in halves.items()
            }
        )  # fmt: skip
    reports = {}
    for half, names in halves.items():
        result = runs[half]
        assert outcomes(result) == {f"ROBUST-007[{n}]": Outcome.PASSED for n in names}, reasons(
            result
        )
        for name in names:
            report = result["out"] / "evidence/ROBUST-007" / name / "fuzz-report.json"
            reports[name] = json.loads(report.read_text())
    for name, report in reports.items():
        assert report["seed"] == int(SURVIVOR_SEED), name
        assert report["sent"] == CASES, name
        assert [m["after_case"] for m in report["liveness"]][-1] == CASES, name
    reached = {c["exchange"]: c["steps_reached"] for c in reports["mosquitto-tls"]["controls"]}
    assert reached["tls/mqtt-publish"] == 2  # CONNACK 5, then the broker closes
    steps = {c["step"] for c in reports["mosquitto"]["cases"]}
    assert steps == {1, 2, 3}  # anonymous: every step of the session is fuzzed
    assert {c["step"] for c in reports["sshd"]["cases"]} == {1, 2, 3}


@contextlib.contextmanager
def _fragile(
    host: str, folder: Path, pki: crypto_daemons.Pki
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    folder.mkdir(parents=True, exist_ok=True)
    port = daemons.free_port(host)
    command = [
        sys.executable, "-m", "tests.integration.fragile_tls",
        host, str(port), str(pki.ec_cert), str(pki.ec_key), str(folder / "fatal-hello.bin"),
    ]  # fmt: skip
    with open(folder / "fragile.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        daemons.wait_listening(host, port, process)
        yield port, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)


def _fuzz_fragile(tmp_path: Path, host: str, port: int, name: str) -> dict[str, Any]:
    return run(
        tmp_path, host, name, *FUZZ, "--fuzz-seed", FRAGILE_SEED,
        network={"host": host, "services": [{"name": "fragile", "port": port, "protocol": "tls"}]},
        policy=_policy(200, timeout_s=2),
    )  # fmt: skip


def test_a_fragile_server_fails_with_a_reproducer_that_replays_the_crash(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    first_host, second_host, replay_host = embedded.addresses(loopback_address, 3)
    pki = crypto_daemons.make_pki(tmp_path, first_host)
    with (
        _fragile(first_host, tmp_path / "first", pki) as (first_port, first),
        _fragile(second_host, tmp_path / "second", pki) as (second_port, second),
    ):
        results = concurrently(
            first=lambda: _fuzz_fragile(tmp_path, first_host, first_port, "fragile-first"),
            again=lambda: _fuzz_fragile(tmp_path, second_host, second_port, "fragile-again"),
        )
        assert first.poll() == second.poll() == -11  # SIGSEGV
    check = results["first"]["checks"]["ROBUST-007[fragile]"]
    assert check.outcome is Outcome.FAILED, reasons(results["first"])
    assert "fragile stopped answering after case" in check.reason
    assert f"(seed {FRAGILE_SEED})" in check.reason
    assert "not back after 2.0s" in check.reason
    evidence = results["first"]["out"] / "evidence/ROBUST-007/fragile"
    report = json.loads((evidence / "fuzz-report.json").read_text())
    again = json.loads(
        (results["again"]["out"] / "evidence/ROBUST-007/fragile/fuzz-report.json").read_text()
    )
    assert report["plan_sha256"] == again["plan_sha256"]  # the seed replays the case list
    both = min(len(report["cases"]), len(again["cases"]))
    assert [c["sha256"] for c in report["cases"][:both]] == [
        c["sha256"] for c in again["cases"][:both]
    ]
    fatal = (tmp_path / "first" / "fatal-hello.bin").read_bytes()
    assert (tmp_path / "second" / "fatal-hello.bin").read_bytes() == fatal
    suspects = report["crash"]["suspects"]
    # The suspects run most recent first. The fatal case is almost always the first; on a
    # busy machine the next case can be accepted before the dying server is gone.
    saved = {n: (evidence / f"crash-case-{n:05d}.bin").read_bytes() for n in suspects[:10]}
    culprit = next(n for n, data in saved.items() if data == fatal)
    assert culprit in suspects[:2]
    assert f"most recent case {suspects[0]}: " in check.reason
    reproducer = json.loads((evidence / f"crash-case-{culprit:05d}.json").read_text())
    assert reproducer["seed"] == int(FRAGILE_SEED)
    assert reproducer["case"] == culprit
    with _fragile(replay_host, tmp_path / "replay", pki) as (port, fresh):
        target = fuzz_wire.FuzzTarget(
            Scope.of([f"{replay_host}/32"]), replay_host, port, None, 2.0, 0.5
        )
        case = fuzz_plan.case_from_reproducer(reproducer)
        fuzz_wire.deliver(target, case, Transcript("replay"))
        assert fresh.wait(timeout=5) == -11
    assert (tmp_path / "replay" / "fatal-hello.bin").read_bytes() == fatal
