"""Steps every ROBUST check shares: the device answers before the first case, each case is
followed by liveness, reproducers are saved, and one rule turns the trial into a verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from harness.config.profile import Http, Network, Policy, Profile, Service, ServiceProtocol
from harness.core.deadline import Deadline
from harness.core.errors import inconclusive
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.evidence.recorder import EvidenceRecorder
from harness.probes import liveness
from harness.probes.robust import flood
from harness.probes.robust.cases import CaseResult, Planned, Trial, run_cases

ROBUST_BUDGET_S = 540.0  # a ROBUST check's own budget, below the plugin's 600 s watchdog


@dataclass
class RobustSteps:
    """One ROBUST check's run: transcripts, liveness, evidence and verdict."""

    profile: Profile
    scope: Scope
    evidence: EvidenceRecorder
    deadline: Deadline = field(default_factory=lambda: Deadline(ROBUST_BUDGET_S))

    def __post_init__(self) -> None:
        self._liveness = self.evidence.new_transcript("liveness", "liveness before and after")
        self._reproducers: dict[str, str] = {}
        self._watched = self.profile  # what liveness probes: the profile and the check's target

    def watching(self, name: str, host: str, port: int, protocol: ServiceProtocol) -> None:
        """Liveness also probes the check's own target when `network.services` does not
        name it (on `network.host`; a target on another host is probed by its cases only)."""
        network = self._watched.network or Network(host=host)
        if network.host != host or any(s.port == port for s in network.services):
            return
        taken = {s.name for s in network.services}
        service = Service(name=name if name not in taken else f"{name}-{port}", port=port,
                          protocol=protocol)  # fmt: skip
        services = (*network.services, service)
        self._watched = self._watched.model_copy(
            update={"network": network.model_copy(update={"services": services})}
        )

    @cached_property
    def transcript(self) -> Transcript:
        """Every case as sent and answered (made on first use: the console has its own)."""
        return self.evidence.new_transcript("exchanges", "every case as sent and answered")

    @property
    def policy(self) -> Policy:
        return self.profile.policy

    @property
    def timeout(self) -> float:
        return self.policy.timeout_s

    @property
    def watched(self) -> Profile:
        """The profile liveness probes: with the check's own target added (`watching`)."""
        return self._watched

    def watching_http(self, http: Http) -> None:
        """`watching` the profiled HTTP(S) API."""
        parts = urlsplit(http.base_url)
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        self.watching("http", parts.hostname or "", port, "https" if secure else "http")

    def baseline(self) -> None:
        """Every interface must answer before the first case, or no case could be blamed."""
        before = liveness.confirm(self._watched, self.scope, self._liveness)
        self.evidence.note(f"before the first case: {before.summary()}")
        if not before.answers:
            inconclusive(self._device, "no service or console to confirm liveness with")
        if not before.alive:
            dead = "; ".join(f"{a.name}: {a.detail}" for a in before.dead)
            inconclusive(self._device, f"did not answer before the first case ({dead})")

    def alive(self) -> liveness.Liveness:
        """Liveness after a case, waiting `liveness_timeout_s` for what stopped answering."""
        return liveness.confirm(
            self._watched,
            self.scope,
            self._liveness,
            recover_within_s=self.policy.liveness_timeout_s,
        )

    def run(self, planned: Sequence[Planned]) -> Trial:
        """The baseline, then every case with liveness after it; recorded."""
        self.baseline()
        trial = run_cases(
            planned,
            self.alive,
            stop_at_first_failure=self.policy.robust_stop_at_first_failure,
            deadline=self.deadline,
        )
        self.record(trial)
        return trial

    def record(self, trial: Trial) -> None:
        for result in trial.results:
            if result.killed or result.problem is not None:
                self.reproducer(result)
            self.evidence.note(f"{result.case.target} {result.case.name}: {result.reply.shown()}")
            if result.problem:
                self.evidence.note(f"  problem: {result.problem}")
            if result.killed:
                self.evidence.note(f"  {result.liveness.summary()}")
        if trial.not_run:
            self.evidence.note(f"not run ({trial.stopped}): {', '.join(trial.not_run)}")
        self.evidence.json(
            "cases.json",
            {
                "cases": [r.record() for r in trial.results],
                "not_run": list(trial.not_run),
                "stopped": trial.stopped,
            },
            "each case, the device's reaction and the liveness after it",
        )

    def reproducer(self, result: CaseResult) -> str:
        """Save the case's bytes once; the evidence file's name."""
        case = result.case
        if not case.payload:
            return "no bytes: " + case.description
        key = f"{case.target}-{case.name}"
        if key not in self._reproducers:
            path = self.evidence.binary(f"reproducer-{key}.bin", case.payload, case.description)
            self._reproducers[key] = path.name
        return f"{len(case.payload)} bytes in {self._reproducers[key]}"

    def judge(self, trial: Trial, passed: str, *, undecided: Sequence[str] = ()) -> None:
        """Failed: a case after which the device did not answer, or a reaction the family's
        rule forbids; error: a case not delivered or not run, or a reaction the family
        could not judge (`undecided`); else passed."""
        failures = [self._killed(r) for r in trial.killers]
        failures += [
            f"{r.case.target} {r.case.name} ({self.reproducer(r)}): {r.problem}"
            for r in trial.misbehaved
        ]
        assert not failures, "; ".join(failures)
        if undecided:
            inconclusive(self._device, "; ".join(undecided))
        if trial.undelivered:
            shown = "; ".join(f"{r.case.name}: {r.reply.detail}" for r in trial.undelivered)
            inconclusive(self._device, f"cases not delivered: {shown}")
        if trial.not_run:
            inconclusive(
                self._device, f"cases not run ({trial.stopped}): {', '.join(trial.not_run)}"
            )
        self.evidence.reason = passed

    def _killed(self, result: CaseResult) -> str:
        case = result.case
        gone = [
            f"{a.name} ({a.detail}) "
            + (
                f"answered again after {a.back_after_s:.1f}s"
                if a.back_after_s is not None
                else f"did not answer again within {result.liveness.waited_s:.0f}s "
                "(policy.liveness_timeout_s)"
            )
            for a in result.liveness.dead
        ]
        return (
            f"after {case.target} {case.name} ({case.description}; {self.reproducer(result)}) "
            f"the device stopped answering: {'; '.join(gone)}"
        )

    @property
    def _device(self) -> str:
        network = self.profile.network
        return network.host if network else self.profile.device.name

    def flood_each(self, ports: Sequence[int], plan: flood.FloodPlan) -> list[FloodAfter]:
        """Flood each port in turn, liveness after each; stops at the first port after which
        a service stayed silent past `liveness_timeout_s` (unless the profile says go on)."""
        assert self.profile.network is not None
        needed = len(ports) * (plan.duration_s() + self.policy.liveness_timeout_s + self.timeout)
        if needed > self.deadline.remaining:
            inconclusive(
                self._device,
                f"flooding {len(ports)} ports as the policy says could take {needed:.0f}s, more "
                f"than the check's {ROBUST_BUDGET_S:.0f}s (lower flood_connections or "
                "flood_hold_s, or raise flood_rate)",
            )
        self.baseline()
        done: list[FloodAfter] = []
        for port in ports:
            run = flood.flood(
                self.scope, self.profile.network.host, port, plan,
                timeout=self.timeout, transcript=self.transcript, deadline=self.deadline,
            )  # fmt: skip
            after = FloodAfter(run, self.alive())
            done.append(after)
            self.evidence.note(run.summary())
            self.evidence.note(f"  after the release: {after.liveness.summary()}")
            if after.liveness.gone and self.policy.robust_stop_at_first_failure:
                break
        self.evidence.json(
            "floods.json",
            [{"flood": asdict(d.flood), "after": asdict(d.liveness)} for d in done],
            "each port's flood and the liveness after its release",
        )
        return done


@dataclass(frozen=True)
class FloodAfter:
    """One port's flood and the liveness after its release."""

    flood: flood.Flood
    liveness: liveness.Liveness

    def failure(self) -> str | None:
        gone = self.liveness.gone
        if not gone:
            return None
        names = "; ".join(f"{a.name} ({a.detail})" for a in gone)
        return (
            f"after the flood of port {self.flood.port} was released, {names} did not answer "
            f"within {self.liveness.waited_s:.0f}s (policy.liveness_timeout_s)"
        )
