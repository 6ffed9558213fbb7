"""Ctrl-C (and SIGTERM, as a CI timeout sends) at any moment ends the run as `interrupted`.

Both signals become KeyboardInterrupt, which pytest turns into an orderly end of the
session, and the run remembers that it was interrupted, so that a run pytest abandons
before its session even started still says so in results.json.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from harness.core import interrupt_hold
from harness.plugin.state import medsec_session

_WATCHED = (signal.SIGINT, signal.SIGTERM)
_PREVIOUS = pytest.StashKey[dict[int, Any]]()


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    medsec = medsec_session(config)
    if medsec is None or threading.current_thread() is not threading.main_thread():
        interrupt_hold.release()
        return

    def interrupted(signum: int, frame: FrameType | None) -> None:
        medsec.interrupted = True
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous: dict[int, Any] = {s: signal.signal(s, interrupted) for s in _WATCHED}
    config.stash[_PREVIOUS] = previous
    interrupt_hold.release()  # a Ctrl-C held while `medsec run` started is raised now


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    for signum, handler in config.stash.get(_PREVIOUS, {}).items():
        signal.signal(signum, handler)


@contextlib.contextmanager
def deferred() -> Iterator[list[int]]:
    """While the run's files are written at its end, Ctrl-C and SIGTERM are noted, not
    raised: raised there, they left results.json saying `complete` with no report and no
    seal (a second Ctrl-C after the first left nothing). The caller marks the run
    interrupted afterwards. Main thread only; elsewhere nothing is deferred."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, note) for s in _WATCHED}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
