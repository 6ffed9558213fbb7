"""Liveness: after an attack, does every service of the device still answer?

Each `network.services` entry must complete the handshake of its protocol (SSH key
exchange, TLS handshake, an HTTP answer, or a TCP connect for the others), and the
serial console, if the profile has one, must show its login or shell prompt. Every
exchange goes through a transport, into the liveness transcript.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.config.profile import Profile, Service
from harness.core.deadline import Deadline
from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.console import ENTER_PRESSES, ConsolePrompts, press_enter_until
from harness.transports import http, net
from harness.transports.serial import Console
from harness.transports.ssh import SshSession


@dataclass(frozen=True)
class Answer:
    """One interface's answer to the liveness probe."""

    name: str
    alive: bool
    detail: str
    latency_s: float


@dataclass(frozen=True)
class Liveness:
    """Every interface's answer."""

    answers: tuple[Answer, ...]

    @property
    def alive(self) -> bool:
        return all(a.alive for a in self.answers)

    @property
    def dead(self) -> tuple[Answer, ...]:
        return tuple(a for a in self.answers if not a.alive)

    def summary(self) -> str:
        if not self.answers:
            return "liveness: the profile names no service or console to probe"
        parts = [f"{a.name} {'ok' if a.alive else 'DEAD'} ({a.detail})" for a in self.answers]
        return "liveness: " + "; ".join(parts)


def _service(
    scope: Scope, host: str, service: Service, timeout: float, transcript: Transcript
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


def _console(profile: Profile, scope: Scope, transcript: Transcript) -> Answer:
    serial = profile.serial
    assert serial is not None
    timeout = profile.policy.timeout_s
    login, _, shell = ConsolePrompts.of(serial).patterns()
    started = time.monotonic()
    try:
        with Console(
            scope, serial.url, baudrate=serial.baudrate, timeout=timeout, transcript=transcript
        ) as port:
            index = press_enter_until(port, [login, shell], Deadline(timeout * ENTER_PRESSES))
    except DeviceError as exc:
        return Answer("console", False, str(exc), time.monotonic() - started)
    shown = "login prompt" if index == 0 else "shell prompt"
    return Answer("console", True, shown, time.monotonic() - started)


def confirm(profile: Profile, scope: Scope, transcript: Transcript) -> Liveness:
    """Probe every profiled service (concurrently) and the console."""
    timeout = profile.policy.timeout_s
    services = list(profile.network.services) if profile.network else []
    answers: list[Answer] = []
    if services:
        assert profile.network is not None
        host = profile.network.host
        with ThreadPoolExecutor(min(8, len(services))) as pool:
            answers = list(
                pool.map(lambda s: _service(scope, host, s, timeout, transcript), services)
            )
    if profile.serial is not None:
        answers.append(_console(profile, scope, transcript))
    for answer in answers:
        transcript.event(
            f"liveness {answer.name}: {'alive' if answer.alive else 'DEAD'} "
            f"({answer.detail}, {answer.latency_s:.3f}s)"
        )
    return Liveness(tuple(answers))
