"""ROBUST-007's engine without a device: seeded plans, mutations, caps, liveness cadence."""

from __future__ import annotations

import time

import pytest

from harness.core.errors import OutOfScope
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.liveness import Answer, Liveness
from harness.probes.robust import fuzz_corpus, fuzz_engine, fuzz_plan, fuzz_wire
from harness.probes.robust.fuzz_engine import FuzzLimits
from harness.probes.robust.fuzz_mutators import MAX_CASE_BYTES, CaseRandom
from harness.probes.robust.fuzz_plan import CasePlan, FuzzCase, Reach
from harness.probes.robust.fuzz_wire import Delivery
from harness.sim.weaknesses import tolerated_failures

HTTPS = tuple(Reach(e, len(e.steps)) for e in fuzz_corpus.exchanges_for("https"))
SSH = tuple(Reach(e, len(e.steps)) for e in fuzz_corpus.exchanges_for("ssh"))
# The case list of seed 2024 for an https service. A change here breaks the replay of every
# seed recorded so far (`--fuzz-seed`): make it on purpose, and say so in the changelog.
GOLDEN_HTTPS_SEED_2024 = "3e7fa78e6a3a2310dfc1aac92f73b578036ce3c66154089dd99553283cc7178c"


def test_splitmix64_matches_its_reference_sequence() -> None:
    rng = CaseRandom(0)
    assert [rng.next64() for _ in range(3)] == [
        0xE220A8397B1DCDAF,
        0x6E789E6AA1B965F4,
        0x06C45D188009454F,
    ]


def test_the_same_seed_gives_the_same_cases_and_another_seed_others() -> None:
    plan = CasePlan(2024, "therapy-api", HTTPS, 300)
    again = CasePlan(2024, "therapy-api", HTTPS, 300)
    assert plan.digest() == again.digest() == GOLDEN_HTTPS_SEED_2024
    assert CasePlan(2025, "therapy-api", HTTPS, 300).digest() != plan.digest()
    assert CasePlan(2024, "other-name", HTTPS, 300).digest() != plan.digest()


def test_any_case_is_rebuilt_alone() -> None:
    plan = CasePlan(7, "service-ssh", SSH, 120)
    listed = list(plan)
    assert [c.index for c in listed] == list(range(1, 121))
    assert plan.case(77) == listed[76]


def test_cases_mutate_only_reachable_steps_and_cover_every_exchange() -> None:
    connect_only = tuple(Reach(e, 1) for e in fuzz_corpus.exchanges_for("mqtt"))
    cases = list(CasePlan(3, "broker", connect_only, 200))
    assert {c.step for c in cases} == {0}
    assert {c.exchange.name for c in cases} == {"mqtt-publish", "mqtt-subscribe"}
    ssh_steps = {c.step for c in CasePlan(3, "ssh", SSH, 200)}
    assert ssh_steps == {0, 1, 2}


def test_every_mutation_changes_the_message_and_stays_bounded() -> None:
    for reach in (*HTTPS, *SSH):
        for index, case in enumerate(CasePlan(11, reach.exchange.name, (reach,), 300)):
            recorded = reach.exchange.steps[case.step].data
            assert case.message != recorded, (index, case.mutations)
            assert 0 < len(case.message) <= MAX_CASE_BYTES
            assert 1 <= len(case.mutations) <= 8


def test_a_reproducer_replays_the_same_bytes() -> None:
    case = CasePlan(5, "service-ssh", SSH, 40).case(40)
    document = fuzz_plan.reproducer(case, seed=5, target={"service": "service-ssh"})
    rebuilt = fuzz_plan.case_from_reproducer(document)
    assert rebuilt.message == case.message
    assert [s.data for s in rebuilt.prelude] == [s.data for s in case.prelude]
    assert [s.awaits_answer for s in rebuilt.prelude] == [s.awaits_answer for s in case.prelude]
    assert rebuilt.exchange.layer == case.exchange.layer
    assert "--fuzz-seed 5" in document["replay"]


def test_cases_go_only_to_addresses_in_scope() -> None:
    target = fuzz_wire.FuzzTarget(
        Scope.of(["127.0.0.1/32"]), "192.0.2.10", 443, None, io_timeout_s=1, answer_s=0.1
    )
    case = CasePlan(1, "x", HTTPS, 1).case(1)
    transcript = Transcript("out of scope")
    with pytest.raises(OutOfScope):
        fuzz_wire.deliver(target, case, transcript)
    assert not [i for i in transcript.items if i.direction == "send"]


# --- the campaign loop, with a fake device -----------------------------------------------


def _alive(ok: bool = True) -> Liveness:
    return Liveness((Answer("svc", ok, "handshake" if ok else "refused", 0.0),))


def _delivered(case: FuzzCase, fault: str | None = None) -> Delivery:
    return Delivery(case.index, fault is None, 0, fault is None, 3, True, fault, 0.0)


def _limits(cases: int, rate: float = 1e6, budget: float = 30.0) -> FuzzLimits:
    return FuzzLimits(cases, rate, budget, recovery_s=0.2)


def _cases(count: int) -> list[FuzzCase]:
    return list(CasePlan(1, "svc", SSH, count))


class _Device:
    """Alive until `dies_at` liveness checks have passed; records what it was asked."""

    def __init__(self, dies_after_checks: int | None = None) -> None:
        self.checks = 0
        self.dies_after = dies_after_checks
        self.sent: list[int] = []

    def deliver(self, case: FuzzCase) -> Delivery:
        self.sent.append(case.index)
        return _delivered(case)

    def alive(self) -> Liveness:
        self.checks += 1
        return _alive(self.dies_after is None or self.checks <= self.dies_after)


def test_liveness_every_50_cases_and_at_the_end() -> None:
    device = _Device()
    campaign = fuzz_engine.run(_cases(120), device.deliver, device.alive, _limits(120))
    assert [m.after_case for m in campaign.liveness] == [50, 100, 120]
    assert campaign.complete
    assert device.sent == list(range(1, 121))


def test_the_count_cap_holds_whatever_the_plan_yields() -> None:
    device = _Device()
    campaign = fuzz_engine.run(_cases(80), device.deliver, device.alive, _limits(30))
    assert device.sent == list(range(1, 31))
    assert [m.after_case for m in campaign.liveness] == [30]


def test_the_rate_cap_paces_the_cases() -> None:
    device = _Device()
    started = time.monotonic()
    fuzz_engine.run(_cases(21), device.deliver, device.alive, _limits(21, rate=200))
    assert time.monotonic() - started >= 20 / 200


def test_the_time_budget_ends_the_campaign_as_incomplete() -> None:
    device = _Device()

    def slow(case: FuzzCase) -> Delivery:
        time.sleep(0.02)
        return device.deliver(case)

    campaign = fuzz_engine.run(_cases(200), slow, device.alive, _limits(200, budget=0.1))
    assert campaign.out_of_time
    assert not campaign.complete
    assert len(device.sent) < 200
    assert campaign.liveness[-1].after_case == device.sent[-1]  # liveness still at the end


def test_the_first_failed_liveness_stops_the_campaign_with_its_suspects() -> None:
    device = _Device(dies_after_checks=1)
    campaign = fuzz_engine.run(_cases(200), device.deliver, device.alive, _limits(200))
    crash = campaign.crash
    assert crash is not None
    assert crash.after_case == 100
    assert device.sent == list(range(1, 101))
    assert crash.suspects == tuple(range(100, 50, -1))
    assert crash.back_after_s is None
    assert "not back after 0.2s" in crash.aftermath()
    assert not campaign.complete


def test_a_refused_connection_checks_liveness_at_once_and_retries_the_case() -> None:
    device = _Device()
    faults = iter(["connect failed: refused"])

    def flaky(case: FuzzCase) -> Delivery:
        device.sent.append(case.index)
        return _delivered(case, next(faults, None) if case.index == 7 else None)

    campaign = fuzz_engine.run(_cases(10), flaky, device.alive, _limits(10))
    assert campaign.retried == (7,)
    assert device.sent == [1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10]
    assert [m.after_case for m in campaign.liveness] == [7, 10]
    assert campaign.complete


def test_a_case_that_stays_undeliverable_leaves_the_campaign_incomplete() -> None:
    device = _Device()

    def refused(case: FuzzCase) -> Delivery:
        return _delivered(case, "connect failed" if case.index == 3 else None)

    campaign = fuzz_engine.run(_cases(5), refused, device.alive, _limits(5))
    assert campaign.crash is None
    assert [d.case for d in campaign.undelivered] == [3]
    assert not campaign.complete


def test_a_device_gone_at_a_connect_is_a_crash_and_the_unsent_case_no_suspect() -> None:
    def dies_after_4(case: FuzzCase) -> Delivery:
        return _delivered(case, "connect failed" if case.index > 4 else None)

    campaign = fuzz_engine.run(_cases(20), dies_after_4, lambda: _alive(False), _limits(20))
    assert campaign.crash is not None
    assert campaign.crash.after_case == 4
    assert campaign.crash.suspects == (4, 3, 2, 1)


def test_fuzzing_may_fail_besides_its_weakness_only_where_a_listener_is_planted_to_die() -> None:
    assert tolerated_failures({"W-15"}) == tolerated_failures({"W-01", "W-16"}) == {"ROBUST-007"}
    assert tolerated_failures({"W-01", "W-05"}) == frozenset()
