"""Lanes against the emulated pump: an idle timeout is waited out once, not once per interface.

AUTH-011 leaves a session idle on SSH and on the console for the profile's
`session_idle_timeout_s` (+10 %). One after the other, a run pays that twice (a real
pump's 600 s: twenty minutes); in lanes the two idle at once.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.reporting.results import CheckRecord, load
from harness.sim.console import BOOT_WINDOW_S
from harness.sim.pump import EmulatedPump, SimConfig
from tests.integration.cli import medsec

IDLE_S = 4.0  # the pump's idle timeout; the profile says 5 s, AUTH-011 idles 5.5 s


@pytest.fixture
def pump(tmp_path: Path, loopback_address: str) -> Iterator[EmulatedPump]:
    config = SimConfig(workdir=tmp_path / "device", host=loopback_address, idle_timeout_s=IDLE_S)
    with EmulatedPump(config) as running:
        time.sleep(2 * BOOT_WINDOW_S)  # a console just booted ignores what is typed
        yield running


def _seconds(moment: str) -> float:
    return dt.datetime.fromisoformat(moment).timestamp()


def _idle_run(pump: EmulatedPump, folder: Path, lanes: str) -> tuple[float, list[CheckRecord]]:
    profile = folder / "pump.yaml"
    folder.mkdir()
    profile.write_text(yaml.safe_dump(pump.profile(), sort_keys=False))
    done = medsec(
        "run", str(profile), "--suite", "auth", "--out", str(folder / "run"),
        "--lanes", lanes, "--quiet", "--", "-k", "idle_session",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = load(folder / "run" / "results.json")
    checks = results.checks
    assert [(c.id, c.target) for c in checks] == [("AUTH-011", "ssh"), ("AUTH-011", "serial")]
    assert results.finished is not None
    # The run as the plugin saw it, not the process: an interpreter starting on a machine
    # that other test workers load takes seconds more or less from one run to the next.
    return _seconds(results.finished) - _seconds(results.started), checks


def test_an_idle_timeout_on_two_interfaces_costs_one_timeout_in_lanes(
    pump: EmulatedPump, tmp_path: Path
) -> None:
    laned_s, laned = _idle_run(pump, tmp_path / "lanes", "5")
    serial_s, serial = _idle_run(pump, tmp_path / "one", "1")
    idle_s = pump.profile()["policy"]["session_idle_timeout_s"] * 1.1
    assert [(c.outcome, c.reason) for c in laned] == [(c.outcome, c.reason) for c in serial]
    span = max(_seconds(c.finished) for c in laned) - min(_seconds(c.started) for c in laned)
    assert span < 1.5 * idle_s, f"two idle checks in lanes took {span:.1f}s"
    one_by_one = sum(c.duration_s for c in serial)
    assert one_by_one > 2 * idle_s
    assert laned_s < serial_s - 0.6 * idle_s, (laned_s, serial_s)
