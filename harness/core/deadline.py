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
