"""Device runs as child processes, N at a time; Ctrl-C or SIGTERM stops them all cleanly.

Each child is `medsec run` in a session of its own, so the terminal's Ctrl-C reaches only
this process, which forwards exactly one SIGINT to every running child: each then ends
its run as `interrupted` and still writes and seals its partial report. A child that has
not finished `GRACE_S` later (or past its own timeout plus the grace) is killed with its
process group. Devices not yet started are never started after an interrupt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

GRACE_S = 60.0  # for a run to write and seal its report after SIGINT
POLL_S = 0.2


@dataclass(frozen=True)
class DeviceJob:
    """One device's run: its command line and where its output goes."""

    key: str
    command: tuple[str, ...]
    log: Path


@dataclass(frozen=True)
class JobEnd:
    """How a device's run ended (exit_code None: never started)."""

    key: str
    exit_code: int | None
    duration_s: float
    timed_out: bool = False
    stopped: bool = False  # the fleet told it to stop (Ctrl-C, SIGTERM)


@dataclass
class _Running:
    job: DeviceJob
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    started: float
    stop_sent: float | None = None  # when SIGINT was sent
    timed_out: bool = False


@contextmanager
def signals_to(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` instead of raising, until the block ends."""

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _start(job: DeviceJob) -> _Running:
    job.log.parent.mkdir(parents=True, exist_ok=True)
    log = open(job.log, "wb")  # noqa: SIM115 - closed when the child ends
    process = subprocess.Popen(
        job.command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return _Running(job, process, log, time.monotonic())


def _signal(running: _Running, signum: int) -> None:
    try:
        if signum == signal.SIGKILL:
            os.killpg(running.process.pid, signum)  # the run and anything it started
        else:
            running.process.send_signal(signum)
    except ProcessLookupError:
        pass


def run_jobs(
    jobs: list[DeviceJob],
    parallel: int,
    timeout_s: float,
    stop: threading.Event,
    on_end: Callable[[JobEnd], None],
) -> list[JobEnd]:
    """Run `jobs`, `parallel` at a time, until done or `stop` is set; one JobEnd per job,
    in job order. `on_end` is called as each one ends (for progress)."""
    pending = list(jobs)
    running: list[_Running] = []
    ended: dict[str, JobEnd] = {}
    # Bounded: every job starts once, and each child ends by its timeout plus two graces.
    limit = time.monotonic() + (timeout_s + 2 * GRACE_S) * (len(jobs) + 1)
    while (pending or running) and time.monotonic() < limit:
        while pending and len(running) < parallel and not stop.is_set():
            running.append(_start(pending.pop(0)))
        now = time.monotonic()
        for child in running:
            if stop.is_set() and child.stop_sent is None:
                child.stop_sent = now
                _signal(child, signal.SIGINT)
            elif child.stop_sent is None and now - child.started > timeout_s:
                child.stop_sent, child.timed_out = now, True
                _signal(child, signal.SIGINT)
            elif child.stop_sent is not None and now - child.stop_sent > GRACE_S:
                _signal(child, signal.SIGKILL)
        for child in [c for c in running if c.process.poll() is not None]:
            running.remove(child)
            child.log.close()
            end = JobEnd(
                child.job.key,
                child.process.returncode,
                time.monotonic() - child.started,
                child.timed_out,
                stopped=child.stop_sent is not None and not child.timed_out,
            )
            ended[end.key] = end
            on_end(end)
        if stop.is_set():
            for job in pending:
                ended[job.key] = JobEnd(job.key, None, 0.0)
            pending = []
        if stop.is_set():
            time.sleep(POLL_S)  # children are ending; `wait` would return at once
        else:
            stop.wait(POLL_S)
    for child in running:  # only past `limit`, which the timeouts never let happen
        _signal(child, signal.SIGKILL)
        child.process.wait(timeout=GRACE_S)
        child.log.close()
        ended[child.job.key] = JobEnd(child.job.key, child.process.returncode, 0.0, True)
    return [ended[j.key] for j in jobs]
