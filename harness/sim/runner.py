"""`medsec sim` / `python -m harness.sim`: run one pump until SIGTERM or SIGINT."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from harness.sim.pump import EmulatedPump, SimConfig, label_for, weaknesses_for

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def run(
    variant: str,
    weakness_ids: list[str],
    host: str,
    write_profile: Path | None,
    workdir: Path | None,
    *,
    verbose: bool = False,
) -> int:
    """Start a pump, print one JSON ready line, serve until SIGTERM/SIGINT, stop cleanly.

    SIGUSR1 cuts the pump's power and SIGUSR2 restores it (`EmulatedPump.power`): what a
    lab power switch does to a real device, for a test's power port to drive.

    Returns 0 after a clean stop, 2 for a bad variant, weakness id or host, 1 if the pump
    could not start. Must be called from the main thread (it installs signal handlers).
    """
    try:
        weaknesses = weaknesses_for(variant, weakness_ids)
    except ValueError as exc:
        print(f"medsec sim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    temporary = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="medsec-sim-")) if workdir is None else workdir
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, _setter(stop)) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    pump = EmulatedPump(
        SimConfig(
            workdir=folder.resolve(),
            weaknesses=weaknesses,
            host=host,
            label=label_for(variant, weakness_ids),
        )
    )
    for signum, on in ((signal.SIGUSR1, False), (signal.SIGUSR2, True)):
        previous[signum] = signal.signal(signum, _power(pump, on))
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("sim: %(message)s"))
        pump.log.addHandler(handler)
    try:
        try:
            endpoints = pump.start()
            profile = pump.write_profile(write_profile) if write_profile is not None else None
        except ValueError as exc:
            print(f"medsec sim: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as exc:
            print(f"medsec sim: error: the pump could not start: {exc}", file=sys.stderr)
            return EXIT_FAILED
        ready = {
            "ready": True,
            "host": endpoints.host,
            "ssh_port": endpoints.ssh_port,
            "https_port": endpoints.https_port,
            "console": endpoints.console_path,
            "vendor_port": endpoints.vendor_port,
            "profile": str(profile) if profile is not None else None,
            "weaknesses": sorted(weaknesses),
            "pid": os.getpid(),
            "workdir": str(folder.resolve()),
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        pump.log.info("signal received, stopping")
        return EXIT_OK
    finally:
        pump.stop()
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


def _power(pump: EmulatedPump, on: bool) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        pump.power(on)

    return handle


def _setter(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handle
