"""A watchdog above every per-I/O timeout, so that no check hangs a run."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Generator, Iterator
from typing import NoReturn

import pytest

from harness.config.profile import Policy
from harness.core.errors import DeviceTimeout
from harness.plugin import async_raise
from harness.plugin.state import CONTEXT_KEY, medsec_session

CHECK_TIMEOUT_S = 600.0


def budget_s(policy: Policy | None) -> float:
    """How long one check may run: 600 s, or more where the profile's own waits need it."""
    budget = CHECK_TIMEOUT_S
    if policy is not None:
        budget = max(budget, policy.update_timeout_s + 120)
        # AUTH-011 idles a session past the timeout; AUTH-009 waits out the lockout.
        budget = max(
            budget, policy.session_idle_timeout_s * 1.1 + 120, policy.lockout_delay_s * 3 + 120
        )
    return budget


@contextlib.contextmanager
def watchdog(seconds: float, target: str) -> Iterator[None]:
    """Interrupt a check that outlives every I/O timeout: SIGALRM in the main thread, an
    exception raised into the thread of a lane (POSIX; elsewhere in the main thread, none)."""
    if threading.current_thread() is not threading.main_thread():
        with _lane_watchdog(seconds, target):
            yield
        return
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> NoReturn:
        raise DeviceTimeout(target, _expired(seconds))

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _expired(seconds: float) -> str:
    return f"the check did not finish within {seconds:.0f} s"


@contextlib.contextmanager
def _lane_watchdog(seconds: float, target: str) -> Iterator[None]:
    """A timer that raises `DeviceTimeout` in this thread, unless the check ended first."""
    thread = threading.current_thread()
    lock = threading.Lock()
    ended = fired = False

    class Expired(DeviceTimeout):
        def __init__(self) -> None:
            super().__init__(target, _expired(seconds))

    def expire() -> None:
        nonlocal fired
        with lock:
            if not ended:
                fired = async_raise.raise_in(thread, Expired)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            ended = True
        timer.cancel()
        if fired:  # the check ended just as it expired: nothing is left to stop
            async_raise.cancel_in(thread)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    context = item.stash.get(CONTEXT_KEY, None)
    if context is None:
        return (yield)
    medsec = medsec_session(item.config)
    with watchdog(budget_s(medsec.profile.policy if medsec else None), context.target):
        return (yield)
