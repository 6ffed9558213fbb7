"""The console checks through a real labgrid place: acquired, used, power-cycled, released.

On loopback in the tests' network namespace: the emulated pump's console exported by a
real ser2net (RFC 2217), declared as a `NetworkSerialPort` by a real labgrid-exporter, a
`NetworkPowerPort` (labgrid's `rest` model) served by the test and switching the pump's
power, and a real labgrid-coordinator holding a place that matches both. The harness runs
from the labgrid venv with a profile whose console is only `labgrid: {place, coordinator}`.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.sim.process import EmulatorProcess
from tests.integration import labgrid_lab, ser2net
from tests.integration.cli import REPO
from tests.integration.labgrid_lab import Lab, PowerSwitch

HOST = "127.0.14.40"
PLACE = "pump-bench"
CHECKS = {
    "AUTH-005[serial]": "test_serial_console_requires_login",
    "AUTH-006[serial]": "test_bootloader_interrupt_refused",
    "SURFACE-008[serial]": "test_console_output_free_of_secrets",
}


@dataclass
class Bench:
    lab: Lab
    power: PowerSwitch
    profile: Path
    console: str  # ser2net's rfc2217:// URL
    python: Path


@pytest.fixture(scope="module")
def bench(private_network: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    python = labgrid_lab.labgrid_python()
    ser2net.require_ser2net()
    folder = tmp_path_factory.mktemp("labgrid")
    emulator = EmulatorProcess("lab-pump", HOST, folder / "pump")
    with contextlib.ExitStack() as stack:
        stack.callback(emulator.stop)
        emulator.start()
        emulator.wait_ready()
        console = stack.enter_context(
            ser2net.rfc2217_console(emulator.ready["console"], HOST, folder / "ser2net")
        )
        power = stack.enter_context(labgrid_lab.power_switch(int(emulator.ready["pid"]), HOST))
        lab = stack.enter_context(labgrid_lab.coordinator(python.parent, HOST, folder / "lab"))
        port = int(console.rsplit(":", 1)[1])
        resources = {
            "pump": {
                "NetworkSerialPort": {"host": HOST, "port": port, "protocol": "rfc2217"},
                "NetworkPowerPort": {"model": "rest", "host": power.url, "index": 0},
            }
        }
        stack.enter_context(labgrid_lab.exporter(lab, "bench", HOST, yaml.safe_dump(resources)))
        lab.client("-p", PLACE, "create")
        lab.client("-p", PLACE, "add-match", "bench/pump/*")
        document = yaml.safe_load(emulator.profile.read_text())
        del document["serial"]["url"]
        document["labgrid"] = {"place": PLACE, "coordinator": lab.address, "power_off_s": 0.5}
        profile = folder / "labgrid.yaml"
        profile.write_text(yaml.safe_dump(document, sort_keys=False))
        yield Bench(lab, power, profile, console, python)


def _command(bench: Bench, out: Path) -> list[str]:
    return [
        str(bench.python), "-m", "harness", "run", str(bench.profile), "--out", str(out),
        "--allow-destructive", "--quiet", "--suite", "auth,surface",
        "--", "-k", " or ".join(CHECKS.values()),
    ]  # fmt: skip


def _results(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / "results.json").read_text())
    return document


def test_console_checks_run_through_the_place_and_reset_by_its_power(
    bench: Bench, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    started = time.monotonic()
    done = subprocess.run(
        _command(bench, out), capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    results = _results(out)
    outcomes = {f"{c['id']}[{c['target']}]": c["outcome"] for c in results["checks"]}
    assert outcomes == dict.fromkeys(CHECKS, "passed"), results["checks"]
    lab = results["configuration"]["lab"]
    assert lab["place"] == PLACE
    assert lab["coordinator"] == bench.lab.address
    assert lab["serial_url"] == bench.console  # the place's NetworkSerialPort, ser2net
    assert lab["power"].startswith("bench/pump/NetworkPowerPort/NetworkPowerPort (rest ")
    assert lab["released"] == "released"
    assert results["harness"]["packages"]["labgrid"] != "not installed"
    # Every console check opened the place's console; the two resets were power cycles.
    for key in CHECKS:
        check = key.split("[")[0]
        transcripts = "".join(p.read_text() for p in (out / "evidence" / check).rglob("*.txt"))
        assert f"open {bench.console}" in transcripts, check
        resets = transcripts.count("reset: power cycle")
        assert resets == (0 if check == "AUTH-005" else 1), (check, resets)
        assert "typed at the console" not in transcripts
    switched = [on for _, on in bench.power.switched]
    assert switched == [False, True, False, True]
    assert bench.lab.acquired_by(PLACE) is None  # given back at the end
    print(f"medsec run through the labgrid place: {took:.1f}s")


def test_the_place_is_released_when_the_run_is_interrupted(bench: Bench, tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = subprocess.Popen(
        _command(bench, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO
    )
    try:
        deadline = time.monotonic() + 60
        while bench.lab.acquired_by(PLACE) is None:
            assert process.poll() is None, process.communicate()[0].decode()
            assert time.monotonic() < deadline, "the run never acquired the place"
            time.sleep(0.2)
        time.sleep(1.0)  # into the checks
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, output
    assert bench.lab.acquired_by(PLACE) is None, output
    results = _results(out)
    assert results["status"] == "interrupted"
    assert results["configuration"]["lab"]["released"] == "released"
