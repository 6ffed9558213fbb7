"""The suites `medsec run` knows, by name."""

from __future__ import annotations

SUITES: dict[str, tuple[str, ...]] = {  # `medsec run --suite NAME` -> modules of testsuites/
    "auth": ("test_authentication.py",),
    "crypto": ("test_encryption.py",),
    "update": ("test_secure_update.py",),
    "surface": ("test_surface.py",),
    "robust": ("test_robustness.py", "test_fuzzing.py"),  # fuzzing needs --allow-destructive
    "fuzz": ("test_fuzzing.py",),  # ROBUST-007 alone: the long, destructive part of robust
}
