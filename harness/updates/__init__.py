"""Firmware image formats, signing, and the deliberately broken images the UPDATE checks send."""

# Each kit module registers its format on import (see registry.py).
from harness.updates import detached, medsec_kit, swupdate  # noqa: F401
