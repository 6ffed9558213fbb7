"""Failed-login accounting for the emulator: lock a user name after N failures for a while.

Counts per user name whether or not the account exists (so a lock reveals nothing about
which names are real), resets on a successful login, and unlocks after `lock_s` seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

MAX_NAMES = 1024  # a client inventing user names cannot grow the table without bound


@dataclass
class _Entry:
    failures: int = 0
    locked_until: float = 0.0


class FailedLogins:
    """Thread-safe failure counters; `enabled=False` counts nothing and never locks."""

    def __init__(self, *, after: int, lock_s: float, enabled: bool = True) -> None:
        self.after = after
        self.lock_s = lock_s
        self.enabled = enabled
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def locked(self, username: str) -> bool:
        """Whether `username` is locked now (every login refused, the right one too)."""
        if not self.enabled:
            return False
        with self._lock:
            entry = self._entries.get(username)
            if entry is None or entry.locked_until == 0.0:
                return False
            if time.monotonic() >= entry.locked_until:
                self._entries.pop(username, None)
                return False
            return True

    def failed(self, username: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            if username not in self._entries and len(self._entries) >= MAX_NAMES:
                self._entries.pop(next(iter(self._entries)))
            entry = self._entries.setdefault(username, _Entry())
            entry.failures += 1
            if entry.failures >= self.after and entry.locked_until == 0.0:
                entry.locked_until = time.monotonic() + self.lock_s

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._entries.pop(username, None)
