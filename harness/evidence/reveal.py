"""`--reveal-secrets`: credentials a check got in with, in full, in a file beside the run.

The run folder (and so the report and the signed manifest) only ever holds redacted
forms (`ad***`). With `--reveal-secrets` the full pairs go to a local file next to the
run folder, readable by its owner only, so that an engineer can reproduce the finding;
it is never part of the evidence a submission carries.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol


class Credential(Protocol):
    """A username and password pair a check got in with."""

    @property
    def username(self) -> str: ...

    @property
    def password(self) -> str: ...


class SecretReveal:
    """Appends accepted pairs to `<run folder>.revealed-secrets.txt` (mode 0600), if enabled."""

    def __init__(self, run_dir: Path, *, enabled: bool) -> None:
        self.enabled = enabled
        self.path = run_dir.with_name(run_dir.name + ".revealed-secrets.txt")
        self._lock = threading.Lock()

    def pairs(self, check_id: str, where: str, pairs: Iterable[Credential]) -> Path | None:
        """Write the pairs a check found; returns the file, or None when not enabled."""
        if not self.enabled:
            return None
        lines = "".join(f"{check_id}\t{where}\t{p.username}\t{p.password}\n" for p in pairs)
        if not lines:
            return None
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(lines)
        return self.path
