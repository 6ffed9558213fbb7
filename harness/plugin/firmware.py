"""The firmware version in force while each check runs.

The profile names the firmware a run is meant to test, but a device under test can be
running another one, and an update check can change it mid-run. The run reads the version
when it starts and when it ends (where the profile names a version reader), and the update
checks report every version they read or install; each check record carries the version
in force when it started.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from harness.core.errors import MedsecError
from harness.reporting.results import FirmwareReading


class FirmwareTracker:
    """The current firmware version and every reading of it, in order."""

    def __init__(self, clock: Callable[[], str], read: Callable[[], str] | None) -> None:
        self._clock = clock
        self._read = read
        self._lock = threading.Lock()
        self.readings: list[FirmwareReading] = []
        self.current: str | None = None

    def reader(self, read: Callable[[], str] | None) -> None:
        """Read the version this way from now on (once a labgrid place gave the console)."""
        self._read = read

    def read(self, source: str) -> None:
        """Ask the device now (`start`, `end`); a failure is recorded, never raised."""
        if self._read is None:
            return
        try:
            version: str | None = self._read()
            note = ""
        except MedsecError as exc:
            version, note = None, f"not readable: {exc}"
        self._add(version, source, note)

    def seen(self, version: str | None, source: str) -> None:
        """A version a check read or installed."""
        if version is not None:
            self._add(version, source, "")

    def _add(self, version: str | None, source: str, note: str) -> None:
        with self._lock:
            if version is not None and version == self.current and source not in ("start", "end"):
                return  # the same version read again: nothing new
            self.readings.append(
                FirmwareReading(at=self._clock(), version=version, source=source, note=note)
            )
            if version is not None:
                self.current = version
