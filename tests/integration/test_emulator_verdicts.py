"""The suites against the emulator: hardened passes everything, each weakness is caught exactly.

The runs come from `pump_runs` (tests/integration/pump_runs.py): `medsec demo` for the
hardened and the vulnerable pump, and one emulator process and `medsec run` per planted
weakness, all once per session.
"""

from __future__ import annotations

import pytest

from harness.evidence.manifest import verify_run
from harness.plugin.suites import implemented_checks
from harness.reporting.results import Outcome, RunResults
from harness.sim.weaknesses import PLANTED, expected_failures, tolerated_failures
from tests.integration.pump_runs import PumpRuns

# Checks (or one target of a check) the pump cannot show by design, with the start of their
# not_applicable reason; real daemons show each of them passing and failing
# (test_busybox_telnetd.py, test_mosquitto.py, test_surface_protocols.py).
NOT_ON_THE_PUMP = {
    "AUTH-004": "no port speaks telnet",  # a telnet port would also fail CRYPTO-010, SURFACE-005
    "AUTH-010[mqtt]": "no port speaks plain MQTT",  # the pump's broker speaks TLS only
    "SURFACE-009": "the profile has no network.host6",  # the pump listens on IPv4 only
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


def test_the_demo_judges_its_two_pumps_right(pump_runs: PumpRuns) -> None:
    demo = pump_runs.demo
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "the harness caught exactly the planted weaknesses" in demo.stdout, demo.stdout


def test_hardened_pump_passes_every_implemented_check(pump_runs: PumpRuns) -> None:
    results = pump_runs.runs["hardened"].results
    assert _not_ok(results) == []
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
def test_each_single_weakness_is_caught_by_exactly_its_check(
    pump_runs: PumpRuns, weakness: str
) -> None:
    run = pump_runs.runs[weakness]
    results = run.results
    assert _failed(results, {weakness}) == expected_failures({weakness}), _not_ok(results)
    assert not [c for c in results.checks if c.outcome is Outcome.ERROR], _not_ok(results)
    assert run.code == 1


def test_vulnerable_pump_fails_exactly_the_planted_set(pump_runs: PumpRuns) -> None:
    results = pump_runs.runs["vulnerable"].results
    assert _failed(results, set(PLANTED)) == expected_failures(set(PLANTED)), _not_ok(results)
    assert not [c for c in results.checks if c.outcome is Outcome.ERROR], _not_ok(results)


def test_every_run_leaves_a_complete_signed_folder(pump_runs: PumpRuns) -> None:
    for label, run in pump_runs.runs.items():
        results, folder = run.results, run.folder
        assert results.status == "complete", label
        for name in ("report.html", "results.json", "junit.xml", "manifest.json", "manifest.sig"):
            assert (folder / name).is_file(), (label, name)
        assert verify_run(folder).ok, label
        for check in results.checks:
            assert check.evidence, f"{label}: {check.id} recorded no evidence"
            assert all((folder / path).is_file() for path in check.evidence)
