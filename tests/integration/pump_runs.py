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


def _variant_run(emulator: EmulatorProcess) -> tuple[int, float, int | None]:
    """Start the pump, run every suite against it, stop it: `medsec run`'s exit code, its
    wall time and the pump's exit status. A pump lives only for its own run: an idle
    one still costs CPU (its listeners' and console's timers), and 19 of them waiting
    for their turn took a share of the two cores."""
    emulator.start()
    try:
        emulator.wait_ready()
        started = time.monotonic()
        done = medsec_run(
            emulator.profile,
            emulator.folder / "run",
            "--allow-destructive",
            "--quiet",
            timeout=RUN_TIMEOUT_S,
        )
    finally:
        stopped = emulator.stop()
    (emulator.folder / "run.log").write_text(done.stdout + done.stderr)
    return done.returncode, time.monotonic() - started, stopped


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
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        demo = pool.submit(_demo, base / "demo")  # first: its two runs are the longest
        done = dict(zip(emulators, pool.map(_variant_run, emulators.values()), strict=True))
        demo_done, demo_s = demo.result()
    stops = {label: stopped for label, (_, _, stopped) in done.items()}
    assert all(code == 0 for code in stops.values()), f"emulators stopped with {stops}"
    runs: dict[str, PumpRun] = {}
    for label, emulator in emulators.items():
        code, wall_s, _ = done[label]
        folder = emulator.folder / "run"
        runs[label] = PumpRun(code, load(folder / "results.json"), folder, wall_s)
    for variant in ("hardened", "vulnerable"):
        folder = base / "demo" / variant / "run"
        results = folder / "results.json"
        assert results.is_file(), demo_done.stdout[-3000:] + demo_done.stderr[-3000:]
        runs[variant] = PumpRun(None, load(results), folder, demo_s)
    return PumpRuns(demo_done, runs)
