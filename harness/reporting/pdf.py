"""The report page printed to PDF by the user's own engine: Chromium headless, or WeasyPrint.

Nothing is downloaded: Chromium is whatever `chromium`, `chromium-browser` or
`google-chrome` is on PATH, run headless with a fresh profile and no network features;
WeasyPrint is used when it is installed (`pip install 'medsec-harness[pdf]'`). The page's
print stylesheet keeps every line of evidence and opens every `<details>`.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.core.errors import MedsecError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
PRINT_TIMEOUT_S = 600.0


class NoPdfEngine(MedsecError):
    """Neither Chromium nor WeasyPrint is available."""


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _weasyprint() -> Any:
    try:
        return importlib.import_module("weasyprint")
    except ImportError:
        return None


def print_pdf(page: Path, pdf: Path) -> str:
    """Print the HTML file `page` to `pdf`; returns the engine's name."""
    chromium = find_chromium()
    if chromium is not None:
        _chromium(chromium, page, pdf)
        return f"Chromium ({chromium})"
    weasyprint = _weasyprint()
    if weasyprint is not None:
        document = weasyprint.HTML(filename=str(page))
        document.write_pdf(str(pdf))
        return "WeasyPrint"
    raise NoPdfEngine(
        "no PDF engine: put Chromium on PATH (chromium, chromium-browser or google-chrome) "
        "or install WeasyPrint (pip install 'medsec-harness[pdf]')"
    )


def _chromium(executable: str, page: Path, pdf: Path) -> None:
    pdf.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="medsec-chromium-") as profile:
        command = [
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf.resolve()}",
            page.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PRINT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise MedsecError(
                f"Chromium did not print the page in {PRINT_TIMEOUT_S:.0f} s"
            ) from None
    if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        tail = (done.stderr or "").strip().splitlines()[-3:]
        raise MedsecError(
            f"Chromium could not print the page (exit {done.returncode}): " + " | ".join(tail)
        )
