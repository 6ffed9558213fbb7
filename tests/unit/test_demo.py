"""`medsec demo`: each pump told to stop as soon as its own run has ended, and a run that
did not complete fails the demo."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from rich.console import Console

from harness.cli import demo
from harness.reporting.results import Outcome
from harness.sim.weaknesses import PLANTED, expected_failures


@dataclass
class _FakeRun:
    polls_until_done: int
    killed: bool = False

    def poll(self) -> int | None:
        self.polls_until_done -= 1
        return 0 if self.polls_until_done <= 0 else None

    def kill(self) -> None:
        self.killed = True

    def wait(self) -> int | None:
        return 0


@dataclass
class _FakePump:
    log: list[str]
    variant: str
    stopped: list[str] = field(default_factory=list)

    def signal_stop(self) -> None:
        self.log.append(self.variant)


def test_a_pump_is_told_to_stop_when_its_own_run_ends() -> None:
    order: list[str] = []
    runs = {"hardened": _FakeRun(2), "vulnerable": _FakeRun(5)}
    pumps = {v: _FakePump(order, v) for v in runs}
    demo._wait_for_runs(Console(quiet=True), cast(Any, runs), cast(Any, pumps))
    assert order == ["hardened", "vulnerable"]
    assert not any(r.killed for r in runs.values())


@dataclass
class _Check:
    id: str
    outcome: Outcome
    target: str = "t"
    reason: str = ""


@dataclass
class _Results:
    status: str
    checks: list[_Check]
    not_run: list[str] = field(default_factory=list)


def test_a_run_that_did_not_complete_fails_the_demo() -> None:
    caught = [_Check(c, Outcome.FAILED) for c in sorted(expected_failures(set(PLANTED)))]
    hardened = _Results("complete", [_Check(c.id, Outcome.PASSED) for c in caught])

    def judged(status: str) -> bool:
        vulnerable = _Results(status, caught, [] if status == "complete" else ["t.py::t"])
        return demo._judge(Console(quiet=True), cast(Any, hardened), cast(Any, vulnerable))

    assert judged("complete")
    assert not judged("interrupted")
