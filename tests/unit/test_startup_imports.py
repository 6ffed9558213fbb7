"""`medsec --help` and `medsec validate` import nothing they do not need, so they stay
fast (0.16 s and 0.33 s on the 2-core machine; the goal is under 0.5 s). Measured as the
set of modules loaded, which does not depend on how busy the machine is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Packages a check run needs and these commands never do (each costs 0.05 to 0.5 s).
HEAVY = frozenset(
    {
        "scapy", "paramiko", "cryptography", "pytest", "_pytest", "pluggy", "pytest_html",
        "rich", "serial", "websocket", "cyclonedx", "defusedxml", "jinja2", "nacl", "bcrypt",
    }
)  # fmt: skip
# What reading a profile needs, and `--help` does not.
PROFILE_READING = frozenset({"pydantic", "pydantic_core", "yaml"})
LOADED = (
    "import json, sys\n"
    "from harness.cli import main\n"
    "main(sys.argv[1:])\n"
    "sys.stderr.write('\\n' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
)


def _top_level_modules(*argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *argv],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )  # fmt: skip
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [("--help",), ("run", "--help"), ("sim", "--help")])
def test_help_imports_nothing_heavy(argv: tuple[str, ...]) -> None:
    loaded = _top_level_modules(*argv)
    assert "harness" in loaded
    assert not loaded & (HEAVY | PROFILE_READING)


def test_validate_reads_the_profile_and_imports_nothing_else_heavy() -> None:
    loaded = _top_level_modules("validate", str(REPO / "profiles/lab-device-template.yaml"))
    assert loaded >= PROFILE_READING
    assert not loaded & HEAVY
