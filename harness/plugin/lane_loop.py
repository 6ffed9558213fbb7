"""The run's checks in lanes: a `pytest_runtestloop` of our own (see `lanes` for where each
check goes and why).

Why our own loop and not pytest-xdist (`--dist loadgroup`, an `xdist_group` per lane): xdist
runs each group in a worker process of its own, so every session-scoped fixture would be
made once per worker: the 65,535-port `tcp_scan` that SURFACE-001, SURFACE-005 and CRYPTO-010
share, the crypto audit whose one semaphore keeps the device within
`policy.max_connections`, the `login_ledger` that keeps checks together under the lockout
threshold, the update ledger and the run's firmware readings; results.json, checks.jsonl
and the evidence would be written by the controller from reports sent back; and loadgroup
has no way to say "these checks alone, after every other". Here the lanes are threads of
the one pytest process: each check still goes through pytest's runtest protocol (our
recording hooks, outcomes, waivers), session fixtures are made once (`lane_state`), the
watchdog raises into a lane's thread, Ctrl-C stops every lane, and checks that run alone
run in the main thread as they do without lanes.

With `--medsec-lanes 1` this loop steps aside and pytest's own runs every check in
collection order, exactly as before lanes existed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.config import catalogue
from harness.core.deadline import Deadline
from harness.plugin import async_raise, lane_state
from harness.plugin.lanes import LANES, Placement, place, threads_for
from harness.plugin.session import MedsecSession
from harness.plugin.state import check_id, medsec_session

DEFAULT_LANES = len(LANES)
POLL_S = 0.2  # how often a waiting lane or the main thread looks again
# After Ctrl-C, how long the lanes' checks get to end. A check blocked in one I/O sees the
# interrupt only when that I/O returns (up to `policy.timeout_s`); the run does not wait
# for it: its thread is a daemon, and the check is listed as not run, as without lanes.
STOP_GRACE_S = 2.0
_MOVED = pytest.StashKey[list[pytest.FixtureDef[Any]]]()


class LaneStopped(Exception):
    """The run is stopping: a lane waiting for something it needs gives up."""


class Holdings:
    """What the running checks hold (the console, a lockout account): a check starts once
    nothing it needs is held, and takes all of it at once (no check waits holding any)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held: set[str] = set()

    @contextlib.contextmanager
    def hold(self, names: frozenset[str], stop: threading.Event) -> Iterator[None]:
        """Wait (bounded by the holders' own watchdogs) until `names` are free, take them."""
        with self._changed:
            while self._held & names:
                if stop.is_set():
                    raise LaneStopped
                self._changed.wait(POLL_S)
            self._held |= names
        try:
            yield
        finally:
            with self._changed:
                self._held -= names
                self._changed.notify_all()


@dataclass
class Segment:
    """Checks in collection order: one that runs alone, or several that run in lanes."""

    items: list[pytest.Item]
    alone: bool


@dataclass
class LaneRun:
    """One run's lanes: the checks' placements, the holdings, the stop signal."""

    session: pytest.Session
    placements: dict[str, Placement]
    threads: dict[str, int]
    holdings: Holdings = field(default_factory=Holdings)
    stop: threading.Event = field(default_factory=threading.Event)

    def segments(self) -> Iterator[Segment]:
        """Runs of checks that may share the device, cut at each check that runs alone."""
        together: list[pytest.Item] = []
        for item in self.session.items:
            if not self.placements[item.nodeid].alone:
                together.append(item)
                continue
            if together:
                yield Segment(together, alone=False)
                together = []
            yield Segment([item], alone=True)
        if together:
            yield Segment(together, alone=False)

    def run_lanes(self, items: Sequence[pytest.Item]) -> None:
        """Each lane's checks in order, in a thread per lane; returns when all have ended."""
        queues: dict[int, list[pytest.Item]] = {}
        for item in items:
            queues.setdefault(self.threads[self.placements[item.nodeid].lane], []).append(item)
        failures: list[BaseException] = []
        threads = [
            threading.Thread(
                target=self._lane, args=(f"lane-{n}", queue, failures), name=f"medsec-lane-{n}"
            )
            for n, queue in sorted(queues.items())
        ]
        for thread in threads:
            thread.daemon = True  # a second Ctrl-C ends the process, whatever a lane does
            thread.start()
        try:
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(POLL_S)
        except BaseException:
            self._stop_lanes(threads)
            raise
        if failures:
            raise failures[0]

    def _lane(self, slot: str, items: list[pytest.Item], failures: list[BaseException]) -> None:
        session = self.session
        with lane_state.in_slot(slot):
            try:
                for item in items:
                    if self.stop.is_set() or session.shouldstop or session.shouldfail:
                        return
                    with self.holdings.hold(self.placements[item.nodeid].holds, self.stop):
                        item.ihook.pytest_runtest_protocol(item=item, nextitem=None)
            except (LaneStopped, KeyboardInterrupt):
                return  # the main thread is stopping the run
            except BaseException as exc:  # pytest.exit() or an internal error: end the run
                failures.append(exc)
                self.stop.set()

    def _stop_lanes(self, threads: list[threading.Thread]) -> None:
        """Ctrl-C (or an error) in the main thread: every lane's check is interrupted too,
        and given `STOP_GRACE_S` together to end as an interrupted check does."""
        self.stop.set()
        for thread in threads:
            async_raise.raise_in(thread, KeyboardInterrupt)
        grace = Deadline(STOP_GRACE_S)
        for thread in threads:
            thread.join(grace.remaining)


def lanes_wanted(config: pytest.Config) -> int:
    """`--medsec-lanes`, or 1 where lanes cannot run (no profile, collect only)."""
    if medsec_session(config) is None or config.option.collectonly:
        return 1
    return max(1, int(config.getoption("medsec_lanes") or 1))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """Run the checks in lanes; None lets pytest's own loop run them one by one."""
    medsec = medsec_session(session.config)
    lanes = lanes_wanted(session.config)
    if medsec is None or lanes == 1 or not session.items or session.testsfailed:
        return None  # pytest's loop reports a collection failure as it always has
    if not lane_state.supported(session):
        medsec.results.options["lanes"] = "1 (this pytest keeps its state elsewhere)"
        return None
    run = LaneRun(session, _placements(session, medsec), threads_for(lanes))
    medsec.results.options["lanes"] = lanes
    setup_state = lane_state.LaneSetupState()
    session._setupstate = setup_state  # type: ignore[assignment]
    session.config.stash[_MOVED] = lane_state.split_fixtures(session)
    try:
        with lane_state.current_test_var_for_lanes():
            for segment in run.segments():
                if segment.alone:
                    item = segment.items[0]
                    item.ihook.pytest_runtest_protocol(item=item, nextitem=None)
                else:
                    run.run_lanes(segment.items)
                if session.shouldfail:
                    raise session.Failed(session.shouldfail)
                if session.shouldstop:
                    raise session.Interrupted(session.shouldstop)
    finally:
        setup_state.closing = True  # pytest's session end tears down what is left
    return True


# CPython 3.11's AST constructor keeps its recursion depth per interpreter, not per
# thread: two lanes formatting a failure's traceback at once (pytest parses the source of
# each frame) abort the run with "AST constructor recursion depth mismatch". Reports are
# made one at a time; the checks themselves still run at once.
_MAKING_REPORTS = threading.Lock()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Every report of a run, one at a time (see _MAKING_REPORTS)."""
    with _MAKING_REPORTS:
        return (yield)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Once pytest has torn down every fixture, they get their own class back."""
    moved: list[pytest.FixtureDef[Any]] = session.config.stash.get(_MOVED, [])
    lane_state.join_fixtures(moved)


def _placements(session: pytest.Session, medsec: MedsecSession) -> dict[str, Placement]:
    placements = {}
    for item in session.items:
        found = check_id(item)
        if found is None:  # not a check of ours: nothing says what it touches
            placements[item.nodeid] = Placement(LANES[0], alone=True)
            continue
        callspec = getattr(item, "callspec", None)
        params = dict(callspec.params) if callspec is not None else {}
        placements[item.nodeid] = place(catalogue.get(found), params, medsec.profile)
    return placements
