"""Fuzzing one service from start to finish: controls, the seeded plan, the campaign.

The positive controls send every recorded exchange unchanged first: they show the
service answers before anything is mutated, and how far into each exchange the device
follows (the plan mutates only the steps it reaches). The report holds what the evidence
needs: the seed, the controls, every case with what it met, liveness, and on a crash the
suspect cases rebuilt as reproducers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.transcript import Transcript
from harness.probes.liveness import Liveness
from harness.probes.robust import fuzz_engine, fuzz_plan, fuzz_wire
from harness.probes.robust.fuzz_corpus import Exchange
from harness.probes.robust.fuzz_engine import Campaign, FuzzLimits
from harness.probes.robust.fuzz_plan import CasePlan, FuzzCase
from harness.probes.robust.fuzz_wire import Control, FuzzTarget

MAX_REPRODUCERS = 10  # suspects saved with their bytes; the seed rebuilds any other


@dataclass(frozen=True)
class FuzzReport:
    """One service's fuzzing: what was planned, sent and seen."""

    service: str
    seed: int
    target: FuzzTarget
    controls: tuple[Control, ...]
    plan: CasePlan | None  # None: no recorded exchange reached the service
    campaign: Campaign | None

    def suspects(self) -> tuple[FuzzCase, ...]:
        """The cases that may have killed the device, most likely first (at most 10)."""
        if self.plan is None or self.campaign is None or self.campaign.crash is None:
            return ()
        chosen = self.campaign.crash.suspects[:MAX_REPRODUCERS]
        return tuple(self.plan.case(index) for index in chosen)

    def reproducer(self, case: FuzzCase) -> dict[str, Any]:
        where = {"service": self.service, "host": self.target.host, "port": self.target.port}
        return fuzz_plan.reproducer(case, seed=self.seed, target=where)

    def record(self) -> dict[str, Any]:
        """The whole report as JSON: seed and digest, controls, cases, liveness, crash."""
        controls = [
            {
                "exchange": c.exchange,
                "steps_reached": c.reach.steps if c.reach else 0,
                "met": c.delivery.describe(),
            }
            for c in self.controls
        ]
        record: dict[str, Any] = {"service": self.service, "seed": self.seed, "controls": controls}
        if self.plan is None or self.campaign is None:
            return record
        campaign = self.campaign
        met = {d.case: d for d in campaign.deliveries}
        cases = []
        for case in self.plan:
            delivery = met.get(case.index)
            if delivery is None:
                break
            cases.append(
                {**case.summary(), "met": delivery.describe(), "s": round(delivery.seconds, 4)}
            )
        crash = campaign.crash
        return record | {
            "planned": self.plan.count,
            "plan_sha256": self.plan.digest(),
            "sent": len(campaign.deliveries),
            "retried": list(campaign.retried),
            "duration_s": round(campaign.duration_s, 3),
            "cases_per_s": round(campaign.cases_per_s, 2),
            "out_of_time": campaign.out_of_time,
            "liveness": [vars(mark) for mark in campaign.liveness],
            "crash": None if crash is None else vars(crash),
            "cases": cases,
        }


def fuzz(
    target: FuzzTarget,
    service: str,
    exchanges: Sequence[Exchange],
    *,
    seed: int,
    limits: FuzzLimits,
    alive: Callable[[], Liveness],
    transcript: Transcript,
) -> FuzzReport:
    """Controls first, then `limits.cases` cases of the seeded plan (see `fuzz_engine.run`)."""
    controls = tuple(fuzz_wire.control(target, e, transcript) for e in exchanges)
    reachable = tuple(c.reach for c in controls if c.reach is not None)
    if not reachable:
        return FuzzReport(service, seed, target, controls, None, None)
    plan = CasePlan(seed, service, reachable, limits.cases)
    campaign = fuzz_engine.run(
        plan, lambda case: fuzz_wire.deliver(target, case, transcript), alive, limits
    )
    return FuzzReport(service, seed, target, controls, plan, campaign)
