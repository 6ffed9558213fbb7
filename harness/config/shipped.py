"""Where the files shipped beside the code live, in a clone and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # harness/


def profiles_dir() -> Path:
    """The shipped `profiles/` folder (in a wheel it is packaged as `harness/_profiles`)."""
    packaged = _PACKAGE / "_profiles"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "profiles"


def threat_model_path() -> Path:
    """The infusion-pump threat model the emulator's profiles answer to."""
    return profiles_dir() / "threat-models" / "infusion-pump.yaml"
