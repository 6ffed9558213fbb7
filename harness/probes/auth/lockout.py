"""Brute-force protection measured on the wire: failures, then the right password, timed.

The trial logs in once with the right password (so the account is known to work), sends
`failures + 1` wrong passwords, then the right one, timing every reply. The device
passes when, after the failures, the right password is refused (lockout) or a reply
takes at least `delay_s` (rate limit). Afterwards the trial waits out the lockout once
and tries the right password again, so the evidence says whether the account recovers.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.core.deadline import Deadline, pause
from harness.core.errors import DeviceError, DeviceTimeout
from harness.core.redact import Secret, shown
from harness.probes.auth.credentials import utc_now


@dataclass(frozen=True)
class LoginTry:
    """What one login attempt got: accepted or not, how long the reply took."""

    accepted: bool
    latency_s: float
    detail: str = ""


# (password, redacted form) -> the device's answer; raises DeviceError when it cannot tell.
TryLogin = Callable[[Secret, str], LoginTry]


@dataclass(frozen=True)
class TimedAttempt:
    """One attempt of the trial: which step, the password only in redacted form."""

    step: str  # control | wrong N | right | recovery
    password_shown: str
    accepted: bool
    latency_s: float
    at_s: float
    detail: str
    utc: str = field(default_factory=utc_now)


@dataclass(frozen=True)
class LockoutTrial:
    """The timed attempts and what they show."""

    interface: str
    username: str
    failures: int
    delay_s: float
    attempts: tuple[TimedAttempt, ...]
    error: DeviceError | None = None

    def _step(self, prefix: str) -> tuple[TimedAttempt, ...]:
        return tuple(a for a in self.attempts if a.step.startswith(prefix))

    @property
    def control_ok(self) -> bool:
        return any(a.accepted for a in self._step("control"))

    @property
    def right_after_failures(self) -> TimedAttempt | None:
        right = self._step("right")
        return right[0] if right else None

    @property
    def locked(self) -> bool:
        """The right password was refused after the failures."""
        right = self.right_after_failures
        return right is not None and not right.accepted

    @property
    def slowest_after_threshold_s(self) -> float:
        """The slowest reply once `failures` wrong passwords had been sent."""
        late = [a.latency_s for a in self.attempts if a.step == f"wrong {self.failures + 1}"]
        right = self.right_after_failures
        if right is not None:
            late.append(right.latency_s)
        return max(late, default=0.0)

    @property
    def delayed(self) -> bool:
        return self.slowest_after_threshold_s >= self.delay_s

    @property
    def recovered(self) -> bool | None:
        recovery = self._step("recovery")
        return None if not recovery else any(a.accepted for a in recovery)

    def curve(self) -> str:
        """The response-time curve as one line: step latencies in order."""
        return ", ".join(
            f"{a.step}: {a.latency_s:.3f}s{'' if not a.accepted else ' (in)'}"
            for a in self.attempts
        )


def wrong_password() -> str:
    """A password no account has (random; never a default the device might accept)."""
    return "medsec-wrong-" + secrets.token_hex(6)


def measure(
    interface: str,
    username: str,
    right_password: Secret,
    try_login: TryLogin,
    *,
    failures: int,
    delay_s: float,
    deadline: Deadline,
    wait: Callable[[float], None] = pause,
) -> LockoutTrial:
    """Run the trial (see the module docstring); a device error ends it early, kept."""
    attempts: list[TimedAttempt] = []
    started = time.monotonic()

    def attempt(step: str, password: Secret) -> TimedAttempt:
        if deadline.expired:
            raise DeviceTimeout(interface, f"budget spent after {len(attempts)} attempts")
        result = try_login(password, shown(password))
        timed = TimedAttempt(
            step,
            shown(password),
            result.accepted,
            result.latency_s,
            time.monotonic() - started,
            result.detail,
        )
        attempts.append(timed)
        return timed

    def trial(error: DeviceError | None = None) -> LockoutTrial:
        return LockoutTrial(interface, username, failures, delay_s, tuple(attempts), error)

    try:
        if not attempt("control", right_password).accepted:
            return trial()
        for n in range(1, failures + 2):
            attempt(f"wrong {n}", wrong_password())
        right = attempt("right", right_password)
        if not right.accepted:
            # Wait out the lockout once (twice at most), to show whether the account recovers.
            for _ in range(2):
                wait(min(delay_s * 1.1, deadline.remaining))
                if attempt("recovery", right_password).accepted:
                    break
    except DeviceError as exc:
        return trial(exc)
    return trial()
