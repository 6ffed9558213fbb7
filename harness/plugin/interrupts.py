"""Ctrl-C (and SIGTERM, as a CI timeout sends) at any moment ends the run as `interrupted`.

Both signals become KeyboardInterrupt, which pytest turns into an orderly end of the
session, and the run remembers that it was interrupted, so that a run pytest abandons
before its session even started still says so in results.json.
"""

from __future__ import annotations

import signal
import threading
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
