"""One monotonic deadline shared by every step of a multi-step exchange."""

from __future__ import annotations

import time


class Deadline:
    """Seconds left until a fixed moment; steps take `min(step, remaining)`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    @property
    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._end

    def step(self, timeout: float) -> float:
        """The timeout for one I/O: the smaller of `timeout` and the time left."""
        return min(timeout, self.remaining)


PAUSE_SLICE_S = 0.2


def pause(seconds: float) -> None:
    """Sleep `seconds` in short slices, so that an exception raised into this thread from
    another (the watchdog of a check run in a lane, Ctrl-C) lands within one slice: a
    thread in one long `time.sleep` would only see it when the sleep ends."""
    end = time.monotonic() + max(0.0, seconds)
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(PAUSE_SLICE_S, left))
