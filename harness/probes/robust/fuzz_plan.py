"""The case list of one fuzzed service: the same seed always gives the same cases.

Case `i` of a service is drawn from its own generator, seeded from the run's seed, the
service's name and `i`: any case can be rebuilt alone, and `--fuzz-seed N` rebuilds the
whole list. What a case may mutate depends on how far the device followed each recorded
exchange in the positive control (`Reach`), which the evidence records beside the seed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.probes.robust.fuzz_corpus import Exchange, Step
from harness.probes.robust.fuzz_mutators import CaseRandom, mutate

SEED_LIMIT = 1 << 32  # seeds are short enough to type: --fuzz-seed 3141592653


def new_seed() -> int:
    """A fresh seed for a run that was given none."""
    return secrets.randbelow(SEED_LIMIT)


def _derive(*parts: object) -> int:
    text = "/".join(str(p) for p in ("medsec-fuzz", *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Reach:
    """How many steps of a recorded exchange the device took in the positive control."""

    exchange: Exchange
    steps: int  # >= 1: a case mutates one of the first `steps` steps


@dataclass(frozen=True)
class FuzzCase:
    """One mutated exchange: the recorded steps before `step`, then the mutated message."""

    index: int  # 1-based position in the service's case list; 0 for a positive control
    exchange: Exchange
    step: int  # which step (0-based) is replaced by `message`
    message: bytes
    mutations: tuple[str, ...]  # what was done to the recorded step, in order

    @property
    def prelude(self) -> tuple[Step, ...]:
        return self.exchange.steps[: self.step]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.message).hexdigest()

    def summary(self) -> dict[str, Any]:
        return {
            "case": self.index,
            "exchange": self.exchange.name,
            "step": self.step + 1,
            "mutations": list(self.mutations),
            "bytes": len(self.message),
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class CasePlan:
    """`count` cases for one service, a function of the seed and the reachable steps."""

    seed: int
    service: str
    reachable: tuple[Reach, ...]
    count: int

    def case(self, index: int) -> FuzzCase:
        rng = CaseRandom(_derive(self.seed, self.service, index))
        reach = rng.choice(self.reachable)
        step = rng.below(reach.steps)
        recorded = reach.exchange.steps[step]
        message, mutations = mutate(rng, recorded.data, text=recorded.text)
        return FuzzCase(index, reach.exchange, step, message, mutations)

    def __iter__(self) -> Iterator[FuzzCase]:
        return (self.case(index) for index in range(1, self.count + 1))

    def digest(self) -> str:
        """One hash of the whole list: equal digests, equal cases."""
        total = hashlib.sha256()
        for case in self:
            total.update(f"{case.exchange.name}/{case.step}/{case.sha256}\n".encode())
        return total.hexdigest()


def control_case(exchange: Exchange) -> FuzzCase:
    """The recorded exchange unchanged: the positive control before any mutation."""
    last = len(exchange.steps) - 1
    return FuzzCase(0, exchange, last, exchange.steps[last].data, ())


def reproducer(case: FuzzCase, *, seed: int, target: Mapping[str, Any]) -> dict[str, Any]:
    """A case as bytes and a replay description: everything needed to send it again."""
    steps = [
        {"hex": step.data.hex(), "awaits_answer": step.awaits_answer, "mutated": False}
        for step in case.prelude
    ]
    steps.append({"hex": case.message.hex(), "awaits_answer": False, "mutated": True})
    layer = case.exchange.layer
    return {
        **target,
        "seed": seed,
        **case.summary(),
        "layer": layer,
        "steps": steps,
        "replay": (
            f"medsec run PROFILE --allow-destructive --fuzz-seed {seed} sends the whole case "
            f"list again. To send case {case.index} alone: connect to the service"
            + (", complete a TLS handshake (no certificate check)" if layer == "tls" else "")
            + ", send each step in order, reading an answer after each step that awaits one; "
            "the last step is the mutated message (also in the .bin file). "
            "fuzz_wire.deliver(target, fuzz_plan.case_from_reproducer(this)) does exactly this."
        ),
    }


def case_from_reproducer(document: Mapping[str, Any]) -> FuzzCase:
    """The case a `reproducer` describes, to send again with `fuzz_wire.deliver`."""
    steps = [
        Step(bytes.fromhex(s["hex"]), bool(s["awaits_answer"]), text=False)
        for s in document["steps"]
    ]
    exchange = Exchange(str(document["exchange"]), document["layer"], tuple(steps))
    return FuzzCase(
        int(document["case"]),
        exchange,
        len(steps) - 1,
        steps[-1].data,
        tuple(document["mutations"]),
    )
