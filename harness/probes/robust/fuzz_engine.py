"""ROBUST-007's campaign: cases paced, liveness every 50 cases and at the end, stop at death.

Shaped after boofuzz's session loop (a target, test cases sent one at a time, monitors
asked after each, a restart or a stop when one says the target failed) without its
engine: boofuzz is GPL-2.0-only (this harness is Apache-2.0), its connections open
their own sockets (ours must go through the scope-checked, transcribed transports), its
cases are an exhaustive walk of each field's mutation list (a 1000-case cap would spend
every case on the first field) and its session writes a database and serves a web UI.

A case whose connection or recorded steps fail means the device may be gone: liveness
is confirmed at once; when the device is alive the case is sent once more (a device that
refuses connections now and then is not a crash, but every case must be delivered for a
pass). The first failed liveness stops the campaign; the device is then watched for its
return, and the cases since the last good liveness are the suspects, most recent first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from harness.core.deadline import Deadline
from harness.probes.liveness import Liveness
from harness.probes.robust.fuzz_plan import FuzzCase
from harness.probes.robust.fuzz_wire import Delivery

LIVENESS_EVERY = 50  # cases between two liveness confirmations
RECOVERY_POLL_S = 0.5


@dataclass(frozen=True)
class FuzzLimits:
    """The caps of one campaign: count, rate and time."""

    cases: int
    rate_per_s: float  # cases started per second at most
    budget_s: float  # the whole campaign, liveness included
    recovery_s: float  # how long a dead device is watched for its return


@dataclass(frozen=True)
class LivenessMark:
    """One liveness confirmation during the campaign."""

    after_case: int
    alive: bool
    summary: str
    seconds: float


@dataclass(frozen=True)
class Crash:
    """The first failed liveness: the cases that may have caused it, and the aftermath."""

    after_case: int  # the last case whose mutated message went out
    liveness: str  # what the failed confirmation saw
    suspects: tuple[int, ...]  # cases sent since the last good liveness, most recent first
    back_after_s: float | None  # None: still dead after `watched_s`
    watched_s: float

    def aftermath(self) -> str:
        if self.back_after_s is None:
            return f"not back after {self.watched_s:.1f}s"
        return f"answered again after {self.back_after_s:.1f}s"


@dataclass(frozen=True)
class Campaign:
    """Everything one service's campaign did."""

    planned: int
    deliveries: tuple[Delivery, ...]  # the last attempt of each case sent
    retried: tuple[int, ...]  # cases sent a second time after a fault
    liveness: tuple[LivenessMark, ...]
    crash: Crash | None
    out_of_time: bool
    duration_s: float

    @property
    def undelivered(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.suspicious)

    @property
    def complete(self) -> bool:
        """Every planned case delivered, every liveness confirmation passed."""
        return (
            self.crash is None
            and not self.out_of_time
            and len(self.deliveries) == self.planned
            and not self.undelivered
        )

    @property
    def cases_per_s(self) -> float:
        return len(self.deliveries) / self.duration_s if self.duration_s else 0.0


def run(
    cases: Iterable[FuzzCase],
    deliver: Callable[[FuzzCase], Delivery],
    alive: Callable[[], Liveness],
    limits: FuzzLimits,
) -> Campaign:
    """Send at most `limits.cases` cases, paced, confirming liveness as described above."""
    started = time.monotonic()
    budget = Deadline(limits.budget_s)
    deliveries: list[Delivery] = []
    retried: list[int] = []
    marks: list[LivenessMark] = []
    since_good: list[Delivery] = []
    out_of_time = False

    def confirm(after_case: int) -> Liveness:
        began = time.monotonic()
        state = alive()
        marks.append(LivenessMark(after_case, state.alive, state.summary(), _since(began)))
        return state

    def crashed(state: Liveness) -> Crash:
        back = _recovery(alive, limits.recovery_s)
        suspects = tuple(d.case for d in reversed(since_good) if d.sent)
        last_sent = next((d.case for d in reversed(deliveries) if d.sent), 0)
        return Crash(last_sent, state.summary(), suspects, back, limits.recovery_s)

    crash: Crash | None = None
    for number, case in enumerate(cases, 1):
        if number > limits.cases:
            break
        if budget.expired:
            out_of_time = True
            break
        _pace(started + (number - 1) / limits.rate_per_s, budget)
        delivery = deliver(case)
        if delivery.suspicious:
            state = confirm(case.index)
            if not state.alive:
                deliveries.append(delivery)
                crash = crashed(state)
                break
            retried.append(case.index)
            delivery = deliver(case)
        deliveries.append(delivery)
        since_good.append(delivery)
        if number % LIVENESS_EVERY == 0:
            state = confirm(case.index)
            if not state.alive:
                crash = crashed(state)
                break
            since_good.clear()
    if crash is None and since_good:
        state = confirm(since_good[-1].case)
        if not state.alive:
            crash = crashed(state)
    return Campaign(
        planned=limits.cases,
        deliveries=tuple(deliveries),
        retried=tuple(retried),
        liveness=tuple(marks),
        crash=crash,
        out_of_time=out_of_time,
        duration_s=_since(started),
    )


def _since(moment: float) -> float:
    return time.monotonic() - moment


def _pace(start_at: float, budget: Deadline) -> None:
    wait = start_at - time.monotonic()
    if wait > 0:
        time.sleep(min(wait, budget.remaining))


def _recovery(alive: Callable[[], Liveness], watch_s: float) -> float | None:
    """Seconds until the device answers again, or None if it does not within `watch_s`."""
    began = time.monotonic()
    watch = Deadline(watch_s)
    while not watch.expired:
        time.sleep(min(RECOVERY_POLL_S, watch.remaining))
        if alive().alive:
            return _since(began)
    return None
