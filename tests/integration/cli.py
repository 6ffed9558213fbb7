"""The `medsec` command as a user runs it: `python -m harness` in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def medsec(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`medsec ARGS...`, output captured, from the repository's folder."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def medsec_run(
    profile: Path, out: Path, *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """`medsec run PROFILE --out OUT ARGS...`."""
    return medsec("run", str(profile), "--out", str(out), *args, timeout=timeout)
