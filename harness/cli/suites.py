"""What the shipped suites implement, read from their `check` markers without running them."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import testsuites

SUITES = {  # `medsec run --suite NAME` -> the module of testsuites/
    "auth": "test_authentication.py",
    "crypto": "test_encryption.py",
    "update": "test_secure_update.py",
    "surface": "test_surface.py",
}


def implemented_checks() -> set[str]:
    """Every check id a test in `testsuites` declares."""
    found: set[str] = set()
    for module_info in pkgutil.iter_modules(testsuites.__path__):
        module = importlib.import_module(f"testsuites.{module_info.name}")
        for obj in vars(module).values():
            for mark in getattr(obj, "pytestmark", []):
                if mark.name == "check" and mark.args:
                    found.add(str(mark.args[0]))
    return found


def testsuites_dir() -> Path:
    """The folder of the product's check suites."""
    return Path(testsuites.__file__).resolve().parent
