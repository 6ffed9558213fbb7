"""Every suite against every emulated pump variant, once per test session.

`medsec demo` runs the hardened and the vulnerable pump, as the README's first command does;
each single-weakness variant runs as its own emulator process on its own loopback address
with `medsec run`, as a user would. All of it goes on at once (a few runs at a time), and
the modules that judge these runs (SHARING_MODULES) share them: under `-n` the tests'
scheduler (tests/conftest.py) sends them to the same worker.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.reporting.results import RunResults, load
from harness.sim.process import EmulatorProcess
from harness.sim.weaknesses import PLANTED
from tests.integration.cli import medsec, medsec_run

SHARING_MODULES = (
    "tests/integration/test_emulator_verdicts.py",
    "tests/integration/test_compare_merge.py",
)
RUN_TIMEOUT_S = 300
DEMO_TIMEOUT_S = 600
PARALLEL_RUNS = 6  # the demo counts as one (it runs its two pumps at once)


@dataclass(frozen=True)
class PumpRun:
    """One variant's run: `medsec run`'s exit code (None for the demo's two runs, which the
    demo's own exit code judges), its results and its run folder."""

    code: int | None
    results: RunResults
    folder: Path
    wall_s: float


@dataclass(frozen=True)
class PumpRuns:
    """The demo (hardened and vulnerable) and one run per single planted weakness."""

    demo: subprocess.CompletedProcess[str]
    runs: dict[str, PumpRun]  # "hardened", "vulnerable" and each "W-NN"

    def folder(self, label: str) -> Path:
        return self.runs[label].folder


def _variant_run(emulator: EmulatorProcess) -> tuple[int, float]:
    started = time.monotonic()
    done = medsec_run(
        emulator.profile,
        emulator.folder / "run",
        "--allow-destructive",
        "--quiet",
        timeout=RUN_TIMEOUT_S,
    )
    (emulator.folder / "run.log").write_text(done.stdout + done.stderr)
    return done.returncode, time.monotonic() - started


def _demo(out: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = medsec("demo", "--out", str(out), timeout=DEMO_TIMEOUT_S)
    return done, time.monotonic() - started


@pytest.fixture(scope="session")
def pump_runs(private_network: None, tmp_path_factory: pytest.TempPathFactory) -> PumpRuns:
    """The demo and every single-weakness variant, run once for the session."""
    base = tmp_path_factory.mktemp("pump-runs")
    emulators = {
        weakness: EmulatorProcess(
            weakness, f"127.0.9.{index + 2}", base / weakness, "hardened", (weakness,)
        )
        for index, weakness in enumerate(PLANTED)
    }
    try:
        for emulator in emulators.values():
            emulator.start()
        for emulator in emulators.values():
            emulator.wait_ready()
        with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
            demo = pool.submit(_demo, base / "demo")  # first: its two runs are the longest
            codes = dict(zip(emulators, pool.map(_variant_run, emulators.values()), strict=True))
            demo_done, demo_s = demo.result()
    finally:
        stops = {label: emulator.stop() for label, emulator in emulators.items()}
    assert all(code == 0 for code in stops.values()), f"emulators stopped with {stops}"
    runs: dict[str, PumpRun] = {}
    for label, emulator in emulators.items():
        code, wall_s = codes[label]
        folder = emulator.folder / "run"
        runs[label] = PumpRun(code, load(folder / "results.json"), folder, wall_s)
    for variant in ("hardened", "vulnerable"):
        folder = base / "demo" / variant / "run"
        results = folder / "results.json"
        assert results.is_file(), demo_done.stdout[-3000:] + demo_done.stderr[-3000:]
        runs[variant] = PumpRun(None, load(results), folder, demo_s)
    return PumpRuns(demo_done, runs)
