"""Liveness: after an attack, does every service of the device still answer?

Each `network.services` entry must complete the handshake of its protocol (SSH key
exchange, TLS handshake, an HTTP answer, or a TCP connect for the others), and the
serial console, if the profile has one, must show its login or shell prompt. Every
exchange goes through a transport, into the liveness transcript.

With `recover_within_s`, an interface that did not answer is probed again every
`RETRY_S` until it answers or the time is up, so the evidence says how long the device
took to come back, or that it did not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

from harness.config.profile import Profile, Service
from harness.core.deadline import Deadline
from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.console import ENTER_PRESSES, ConsolePrompts, press_enter_until
from harness.transports import http, net
from harness.transports.serial import Console
from harness.transports.ssh import SshSession

RETRY_S = 0.25  # pause between two probes of an interface that stopped answering
Probe = Callable[[float], "Answer"]  # one interface's probe, given its I/O timeout


@dataclass(frozen=True)
class Answer:
    """One interface's answer to the liveness probe.

    `alive` is the first probe's verdict. For one that did not answer, `back_after_s` is
    how long after the liveness probe began it answered again (None: not within the wait).
    """

    name: str
    alive: bool
    detail: str
    latency_s: float
    back_after_s: float | None = None

    @property
    def came_back(self) -> bool:
        return self.back_after_s is not None

    def shown(self, waited_s: float) -> str:
        if self.alive:
            return f"{self.name} ok ({self.detail})"
        if self.back_after_s is not None:
            back = f", back after {self.back_after_s:.1f}s"
        elif waited_s > 0:
            back = f", not back within {waited_s:.0f}s"
        else:
            back = ""
        return f"{self.name} DEAD ({self.detail}{back})"


@dataclass(frozen=True)
class Liveness:
    """Every interface's answer, and how long the dead ones were waited for."""

    answers: tuple[Answer, ...]
    waited_s: float = 0.0

    @property
    def alive(self) -> bool:
        """Every interface answered the first probe."""
        return all(a.alive for a in self.answers)

    @property
    def dead(self) -> tuple[Answer, ...]:
        return tuple(a for a in self.answers if not a.alive)

    @property
    def gone(self) -> tuple[Answer, ...]:
        """The dead ones that did not come back within the wait."""
        return tuple(a for a in self.dead if not a.came_back)

    @property
    def back_after_s(self) -> float | None:
        """When the last dead interface answered again (0 if none died, None if one stayed dead)."""
        if self.gone:
            return None
        return max((a.back_after_s or 0.0 for a in self.dead), default=0.0)

    def summary(self) -> str:
        if not self.answers:
            return "liveness: the profile names no service or console to probe"
        return "liveness: " + "; ".join(a.shown(self.waited_s) for a in self.answers)


def _service(
    scope: Scope, host: str, service: Service, timeout: float, *, transcript: Transcript
) -> Answer:
    started = time.monotonic()
    try:
        if service.protocol == "ssh":
            with SshSession(
                scope, host, service.port, timeout=timeout, transcript=transcript
            ) as session:
                detail = f"SSH key exchange with {session.server_version}"
        elif service.tls:
            version = net.tls_handshake(
                scope, host, service.port, timeout=timeout, transcript=transcript
            )
            detail = f"TLS handshake, {version}"
        elif service.protocol == "http":
            answer = http.request(
                scope,
                "GET",
                f"http://{_url_host(host)}:{service.port}/",
                timeout=timeout,
                transcript=transcript,
            )
            detail = f"HTTP {answer.status}"
        else:
            with net.connect(scope, host, service.port, timeout=timeout, transcript=transcript):
                detail = "TCP connect"
    except DeviceError as exc:
        return Answer(service.name, False, str(exc), time.monotonic() - started)
    return Answer(service.name, True, detail, time.monotonic() - started)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _console(profile: Profile, scope: Scope, timeout: float, *, transcript: Transcript) -> Answer:
    serial = profile.serial
    assert serial is not None
    login, _, shell = ConsolePrompts.of(serial).patterns()
    started = time.monotonic()
    try:
        with Console(
            scope,
            serial.console_url,
            baudrate=serial.baudrate,
            timeout=timeout,
            transcript=transcript,
        ) as port:
            index = press_enter_until(port, [login, shell], Deadline(timeout * ENTER_PRESSES))
    except DeviceError as exc:
        return Answer("console", False, str(exc), time.monotonic() - started)
    shown = "login prompt" if index == 0 else "shell prompt"
    return Answer("console", True, shown, time.monotonic() - started)


def _probes(profile: Profile, scope: Scope, transcript: Transcript) -> dict[str, Probe]:
    """One probe per profiled service, then the console's."""
    probes: dict[str, Probe] = {}
    if profile.network is not None:
        host = profile.network.host
        for service in profile.network.services:
            probes[service.name] = partial(_service, scope, host, service, transcript=transcript)
    if profile.serial is not None:
        probes["console"] = partial(_console, profile, scope, transcript=transcript)
    return probes


def _record(answer: Answer, transcript: Transcript) -> None:
    transcript.event(
        f"liveness {answer.name}: {'alive' if answer.alive else 'DEAD'} "
        f"({answer.detail}, {answer.latency_s:.3f}s)"
    )


def confirm(
    profile: Profile, scope: Scope, transcript: Transcript, *, recover_within_s: float = 0.0
) -> Liveness:
    """Probe every profiled service (concurrently) and the console; with
    `recover_within_s`, wait that long for the ones that did not answer to come back."""
    started = time.monotonic()
    timeout = profile.policy.timeout_s
    probes = _probes(profile, scope, transcript)
    services = [probe for name, probe in probes.items() if name != "console"]
    answers: list[Answer] = []
    if services:
        with ThreadPoolExecutor(min(8, len(services))) as pool:
            answers = list(pool.map(lambda probe: probe(timeout), services))
    if "console" in probes:
        answers.append(probes["console"](timeout))
    for answer in answers:
        _record(answer, transcript)
    if recover_within_s <= 0 or all(a.alive for a in answers):
        return Liveness(tuple(answers))
    wait = Deadline(max(0.0, recover_within_s - (time.monotonic() - started)))
    pending = {a.name for a in answers if not a.alive}
    came_back: dict[str, float] = {}
    while pending and not wait.expired:
        time.sleep(wait.step(RETRY_S))
        for name in sorted(pending):
            if wait.expired:
                break
            again = probes[name](max(wait.step(timeout), 0.001))
            if again.alive:
                came_back[name] = time.monotonic() - started
                pending.discard(name)
                transcript.event(f"liveness {name}: back after {came_back[name]:.3f}s")
    for name in sorted(pending):
        transcript.event(f"liveness {name}: not back within {recover_within_s:.0f}s")
    final = tuple(replace(a, back_after_s=came_back.get(a.name)) for a in answers)
    return Liveness(final, waited_s=recover_within_s)
