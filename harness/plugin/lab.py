"""A profile's labgrid place: acquired when the run starts, released however it ends.

The place is acquired as the session starts, before anything reads the device (pytest is
configured by then, so Ctrl-C and SIGTERM already end the run through `interrupts`), and
released at the start of the session's
end, before results.json is written (so it records the release), or, for a run pytest
gives up on before its session finishes, when pytest unconfigures. The release is bounded
by the coordinator timeout; Ctrl-C or SIGTERM while it runs is noted, not obeyed, so
that an impatient second Ctrl-C does not leave the place held.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest

from harness.core.errors import MedsecError
from harness.core.terminal import clean
from harness.plugin.session import MedsecSession
from harness.plugin.state import medsec_session
from harness.transports import labgrid_place


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    medsec = medsec_session(session.config)
    lab = medsec.profile.labgrid if medsec is not None else None
    if medsec is None or lab is None:
        return
    try:
        lease = labgrid_place.acquire(
            lab.place, lab.coordinator, medsec.profile.scope.scope(), timeout=lab.timeout_s
        )
    except MedsecError as exc:
        # the coordinator's own words can be in it: no terminal control sequences
        raise pytest.UsageError(f"labgrid: {clean(str(exc))}") from None
    medsec.use_place(lease)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    medsec = medsec_session(session.config)
    if medsec is not None:
        _release(medsec)
    return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    medsec = medsec_session(config)
    if medsec is not None:
        _release(medsec)


def _release(medsec: MedsecSession) -> None:
    if medsec.lease is None or medsec.lease.released is not None:
        return
    if threading.current_thread() is not threading.main_thread():
        medsec.release_place()
        return

    def noted(signum: int, frame: FrameType | None) -> None:
        medsec.interrupted = True

    previous: dict[int, Any] = {s: signal.signal(s, noted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        medsec.release_place()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
