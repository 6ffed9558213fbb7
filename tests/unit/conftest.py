"""Fixtures several unit-test modules share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.config.profile import Profile, load_profile

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


@pytest.fixture
def lab_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Profile:
    """The lab profile of the profile tests, with the hardware revision images need."""
    monkeypatch.setenv("PUMP_SSH_PASSWORD", "unused")
    shutil.copy(DATA / "lab-signing-key.pem", tmp_path / "lab-signing-key.pem")
    text = (DATA / "lab-pump.yaml").read_text()
    text = text.replace(
        "../../profiles/threat-models/infusion-pump.yaml",
        str(REPO / "profiles" / "threat-models" / "infusion-pump.yaml"),
    ).replace("  image_format: medsec-v1\n", "  image_format: medsec-v1\n  hardware: '1.0'\n")
    path = tmp_path / "pump.yaml"
    path.write_text(text)
    return load_profile(path)
