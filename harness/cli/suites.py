"""The suites `medsec run --suite` knows, by name."""

from __future__ import annotations

SUITES = {  # `medsec run --suite NAME` -> the module of testsuites/
    "auth": "test_authentication.py",
    "crypto": "test_encryption.py",
    "update": "test_secure_update.py",
    "surface": "test_surface.py",
    "fuzz": "test_fuzzing.py",  # ROBUST-007, destructive: runs only with --allow-destructive
}
