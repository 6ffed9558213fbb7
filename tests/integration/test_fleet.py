"""`medsec sim --fleet` and `medsec fleet` on real emulated pumps, as a user runs them.

Four pumps: hardened, and one weakness each of CRYPTO-001 (W-05), CRYPTO-008 (W-07) and
SURFACE-001 (W-12); the crypto suite must fail exactly the first two, each at its check.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.sim.process import read_ready_line, stop_process
from tests.integration.cli import REPO, medsec

PUMPS = ("pump-001-hardened", "pump-002-W-05", "pump-003-W-07", "pump-004-W-12")
EXPECTED = {  # open findings of each pump under --suite crypto
    "pump-001-hardened": [],
    "pump-002-W-05": ["CRYPTO-001"],
    "pump-003-W-07": ["CRYPTO-008"],
    "pump-004-W-12": [],  # SURFACE-001 is not in the crypto suite
}


@pytest.fixture(scope="module")
def fleet_file(private_network: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("fleet")
    path = base / "fleet.yaml"
    command = [sys.executable, "-m", "harness", "sim", "--fleet", "4", "--host", "127.0.20.2"]
    command += ["--weakness", "W-05", "--weakness", "W-07", "--weakness", "W-12"]
    with open(base / "sim.stderr", "wb") as stderr:
        sim = subprocess.Popen(
            [*command, "--write-fleet", str(path), "--workdir", str(base / "pumps")],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=REPO,
        )
    try:
        ready = read_ready_line(sim, "medsec sim --fleet", base / "sim.stderr", timeout=60)
        assert ready["pumps"] == 4
        yield path
    finally:
        assert stop_process(sim, timeout=20) == 0


def _ours(folder: Path) -> list[str]:
    """Processes still running whose command line names `folder` (the fleet's children)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and str(folder).encode() in cmdline:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def test_a_fleet_run_judges_every_pump_and_seals_the_folder(
    fleet_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fleet"
    done = medsec(
        "fleet", str(fleet_file), "-j", "2", "--suite", "crypto", "--out", str(out), timeout=300
    )
    assert done.returncode == 1, done.stderr
    results = json.loads((out / "fleet.json").read_text())
    devices = {d["key"]: d for d in results["devices"]}
    assert list(devices) == list(PUMPS)
    for key, expected in EXPECTED.items():
        device = devices[key]
        assert [c.split("[")[0] for c in device["failed_checks"]] == expected, device
        assert device["verdict"] == ("failed" if expected else "passed"), device
        assert device["exit_code"] == (1 if expected else 0)
        assert device["status"] == "complete"
        assert (out / device["folder"] / "report.html").is_file()
    assert results["status"] == "complete"
    assert results["verdicts"] == {"passed": 2, "failed": 2, "error": 0, "interrupted": 0}
    for key in PUMPS:  # the page links each report, junit names each device
        assert f'href="devices/{key}/report.html"' in (out / "fleet.html").read_text()
        assert f'name="run[{key}]"' in (out / "junit.xml").read_text()
    # each line of progress names its device once it finishes
    assert all(key in done.stderr for key in PUMPS)
    assert medsec("verify", str(out)).returncode == 0
    evidence = next((out / "devices" / "pump-002-W-05" / "evidence").rglob("*.json"))
    evidence.write_bytes(evidence.read_bytes() + b" ")
    tampered = medsec("verify", str(out))
    assert tampered.returncode == 1
    assert "modified devices/pump-002-W-05/evidence/" in tampered.stdout


def test_ctrl_c_stops_every_device_run_and_still_writes_the_fleet(
    fleet_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fleet"
    fleet = subprocess.Popen(
        [sys.executable, "-m", "harness", "fleet", str(fleet_file), "-j", "2", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob("devices/*/checks.jsonl")):
        time.sleep(0.2)  # both first runs are checking when the interrupt comes
    time.sleep(1.0)
    fleet.send_signal(signal.SIGINT)
    try:
        _, stderr = fleet.communicate(timeout=120)
    finally:
        fleet.kill()
    assert fleet.returncode == 130, stderr
    results = json.loads((out / "fleet.json").read_text())
    assert results["status"] == "interrupted"
    verdicts = {d["key"]: (d["verdict"], d["exit_code"]) for d in results["devices"]}
    logs = {log.name: log.read_text(errors="replace")[-1500:] for log in out.glob("logs/*.log")}
    # A run ends with 130 or, like any Python program whose Ctrl-C lands where Python
    # cannot raise it, dies of the signal (-2); both are "interrupted", and the checks
    # below show its folder complete either way (test_runs' Ctrl-C test allows the same).
    died = {
        key: (verdict, 130 if code == -signal.SIGINT else code)
        for key, (verdict, code) in verdicts.items()
    }
    assert died == {
        "pump-001-hardened": ("interrupted", 130),
        "pump-002-W-05": ("interrupted", 130),
        "pump-003-W-07": ("interrupted", None),
        "pump-004-W-12": ("interrupted", None),
    }, logs
    for key in PUMPS[:2]:  # each partial report stays readable and sealed
        run = json.loads((out / "devices" / key / "results.json").read_text())
        assert run["status"] == "interrupted"
        assert (out / "devices" / key / "report.html").is_file()
    assert medsec("verify", str(out)).returncode == 0
    assert _ours(out) == []
