"""The suites against the emulator: hardened passes everything, each weakness is caught exactly.

Every pump variant runs as its own process on its own loopback address; the harness
runs against each with `python -m harness run`, as a user would, several at a time.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.evidence.manifest import verify_run
from harness.plugin.suites import implemented_checks
from harness.reporting.results import Outcome, RunResults, load
from harness.sim.process import EmulatorProcess
from harness.sim.weaknesses import PLANTED, expected_failures, tolerated_failures
from tests.integration.cli import medsec_run

RUN_TIMEOUT_S = 300
PARALLEL_RUNS = 6
# Checks (or one target of a check) the pump cannot show by design, with the start of their
# not_applicable reason; real daemons show each of them passing and failing
# (test_busybox_telnetd.py, test_mosquitto.py, test_surface_protocols.py).
NOT_ON_THE_PUMP = {
    "AUTH-004": "no port speaks telnet",  # a telnet port would also fail CRYPTO-010, SURFACE-005
    "AUTH-010[mqtt]": "no port speaks plain MQTT",  # the pump's broker speaks TLS only
    "SURFACE-009": "the profile has no network.host6",  # the pump listens on IPv4 only
}

VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "hardened": ("hardened", ()),
    "vulnerable": ("vulnerable", ()),
    **{weakness: ("hardened", (weakness,)) for weakness in PLANTED},
}


def _run(emulator: EmulatorProcess) -> tuple[int, float]:
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


@pytest.fixture(scope="module")
def runs(
    private_network: None, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[int, RunResults, Path]]:
    base = tmp_path_factory.mktemp("verdicts")
    emulators = {
        label: EmulatorProcess(label, f"127.0.9.{index + 2}", base / label, variant, weaknesses)
        for index, (label, (variant, weaknesses)) in enumerate(VARIANTS.items())
    }
    try:
        for emulator in emulators.values():
            emulator.start()
        for emulator in emulators.values():
            emulator.wait_ready()
        with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
            codes = dict(zip(emulators, pool.map(_run, emulators.values()), strict=True))
    finally:
        stops = {label: emulator.stop() for label, emulator in emulators.items()}
    assert all(code == 0 for code in stops.values()), f"emulators stopped with {stops}"
    return {
        label: (codes[label][0], load(e.folder / "run" / "results.json"), e.folder / "run")
        for label, e in emulators.items()
    }


def _failed(results: RunResults, weaknesses: set[str]) -> set[str]:
    failed = {c.id for c in results.checks if c.outcome is Outcome.FAILED}
    return failed - tolerated_failures(weaknesses)


def _not_ok(results: RunResults) -> list[str]:
    return [
        f"{c.id}[{c.target}] {c.outcome.value}: {c.reason}"
        for c in results.checks
        if not c.outcome.ok
    ]


def test_hardened_pump_passes_every_implemented_check(runs) -> None:
    code, results, _ = runs["hardened"]
    assert _not_ok(results) == []
    assert code == 0
    passed = {c.id for c in results.checks if c.outcome is Outcome.PASSED}
    expected = implemented_checks() - set(NOT_ON_THE_PUMP)
    assert passed == expected, "a check that never runs cannot pass honestly"
    for check in results.checks:
        absent = NOT_ON_THE_PUMP.get(check.id) or NOT_ON_THE_PUMP.get(f"{check.id}[{check.target}]")
        if absent is not None:
            assert check.outcome is Outcome.NOT_APPLICABLE, check
            assert check.reason.startswith(absent), check.reason
        else:
            assert check.outcome is Outcome.PASSED, f"{check.id}[{check.target}] {check.reason}"


@pytest.mark.parametrize("weakness", PLANTED)
def test_each_single_weakness_is_caught_by_exactly_its_check(runs, weakness: str) -> None:
    code, results, _ = runs[weakness]
    assert _failed(results, {weakness}) == expected_failures({weakness}), _not_ok(results)
    assert not [c for c in results.checks if c.outcome is Outcome.ERROR], _not_ok(results)
    assert code == 1


def test_vulnerable_pump_fails_exactly_the_planted_set(runs) -> None:
    code, results, _ = runs["vulnerable"]
    assert _failed(results, set(PLANTED)) == expected_failures(set(PLANTED)), _not_ok(results)
    assert not [c for c in results.checks if c.outcome is Outcome.ERROR], _not_ok(results)
    assert code == 1


def test_every_run_leaves_a_complete_signed_folder(runs) -> None:
    for label, (_, results, folder) in runs.items():
        assert results.status == "complete", label
        for name in ("report.html", "results.json", "junit.xml", "manifest.json", "manifest.sig"):
            assert (folder / name).is_file(), (label, name)
        assert verify_run(folder).ok, label
        for check in results.checks:
            assert check.evidence, f"{label}: {check.id} recorded no evidence"
            assert all((folder / path).is_file() for path in check.evidence)
