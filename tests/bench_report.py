"""How reporting scales: synthetic checks through the plugin, 500 to 5,000 of them.

    python -m tests.bench report [--sizes 500,1000,5000]

Each size runs twice in a subprocess: the synthetic suite under the medsec plugin (evidence,
records, checks.jsonl, results.json, junit.xml, report.html, the signed manifest), and the
same test bodies with no plugin at all; the difference is what reporting costs. The page is
then opened in headless Chromium (Playwright with the system's /usr/bin/chromium) and the
time to its load event measured. A measurement, not a test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CHECK_IDS = ("SURFACE-001", "CRYPTO-010", "AUTH-004", "SURFACE-009", "ROBUST-005")

SUITE = """
import pytest

N = {n}
IDS = {ids!r}
PER_ID = N // len(IDS)


def _body(evidence, n):
    if evidence is not None:
        evidence.note(f"synthetic check {{n}}: banner SSH-2.0-x <b>{{n}}</b>")
        evidence.text("notes.txt", f"line {{n}}\\n" * 40)
    assert n % 17, "synthetic finding"

"""

CHECK = """
@pytest.mark.check({check_id!r})
@pytest.mark.parametrize("n", range(PER_ID), ids=lambda n: f"port-{{n}}")
def test_{name}(n, evidence):
    _body(evidence, n)
"""

PLAIN = """
@pytest.mark.parametrize("n", range(PER_ID))
def test_{name}(n):
    _body(None, n)
"""


@dataclass(frozen=True)
class Figure:
    checks: int
    with_plugin_s: float
    plain_s: float
    page_mb: float
    open_s: float | None

    @property
    def overhead_s(self) -> float:
        return self.with_plugin_s - self.plain_s


def _suite(folder: Path, n: int, plugin: bool) -> Path:
    body = SUITE.format(n=n, ids=CHECK_IDS)
    template = CHECK if plugin else PLAIN
    for check_id in CHECK_IDS:
        name = check_id.lower().replace("-", "_")
        body += template.format(check_id=check_id, name=name)
    path = folder / f"test_synthetic_{'medsec' if plugin else 'plain'}_{n}.py"
    path.write_text(textwrap.dedent(body))
    return path


def _profile(folder: Path) -> Path:
    path = folder / "synthetic.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "schema": "medsec/profile/v1",
                "device": {"name": "synthetic", "vendor": "bench", "model": "S", "firmware": "1"},
                "scope": {"allow": ["127.0.0.1/32"]},
                "network": {"host": "127.0.0.1"},
                "tls": {},
            }
        )
    )
    return path


def _pytest(*args: str, cwd: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return time.monotonic() - started


def open_time(page: Path) -> float | None:
    """Seconds to the page's load event in headless Chromium, or None without one."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        return None
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(chromium),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            started = time.monotonic()
            browser.new_page().goto(page.as_uri(), wait_until="load", timeout=120_000)
            return time.monotonic() - started
        finally:
            browser.close()


def measure(n: int) -> Figure:
    with tempfile.TemporaryDirectory() as workdir:
        folder = Path(workdir)
        profile = _profile(folder)
        out = folder / "run"
        medsec_suite = _suite(folder, n, plugin=True)
        plain_suite = _suite(folder, n, plugin=False)
        with_plugin = _pytest(
            str(medsec_suite), "--profile", str(profile), "--medsec-out", str(out), cwd=folder
        )
        plain = _pytest(str(plain_suite), "-p", "no:medsec", cwd=folder)
        page = out / "report.html"
        size = page.stat().st_size / 1e6 if page.exists() else 0.0
        return Figure(n, with_plugin, plain, size, open_time(page) if page.exists() else None)


def main(sizes: list[int]) -> int:
    print(
        "| checks | with the plugin | plain pytest | reporting overhead | page | open in Chromium |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in sizes:
        f = measure(n)
        opened = "n/a" if f.open_s is None else f"{f.open_s:.2f} s"
        print(
            f"| {f.checks} | {f.with_plugin_s:.1f} s | {f.plain_s:.1f} s | "
            f"{f.overhead_s:.1f} s | {f.page_mb:.1f} MB | {opened} |"
        )
    return 0
