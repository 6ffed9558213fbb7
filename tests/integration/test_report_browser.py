"""The report page as a reviewer's browser shows it and prints it: headless Chromium.

Playwright drives the system's Chromium (`/usr/bin/chromium`, installed by .ci/run; no
browser is downloaded). In CI (`MEDSEC_REQUIRE_DAEMONS=1`) a missing Chromium or
Playwright fails these tests instead of skipping them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.evidence.manifest import verify_run, write_manifest
from harness.reporting import page as report_page
from harness.reporting.results import Outcome, RunResults, load
from harness.sim.pump import EmulatedPump, SimConfig
from tests.integration.cli import medsec
from tests.integration.daemons import require
from tests.report_sample import CHROMIUM, CHROMIUM_ARGS, LAST_LINE, build_run

SHOWN_TARGET = "<script>alert(1)</script> [/] \\x1b[31mred\\x1b[0m \\u202eevil"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium with a fresh profile, shared by this module's tests."""
    require(Path(CHROMIUM).is_file(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - CI installs it
        require(False, "playwright is not installed (pip install -e '.[test]')")
        raise
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


class Opened:
    """A page opened in the browser, with every console error, page error and dialog."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.problems: list[str] = []
        self.page = browser.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("dialog", self._dialog)
        self._devtools = browser.new_cdp_session(self.page)
        self._devtools.send("Performance.enable")
        self.page.goto(path.resolve().as_uri(), wait_until="load")

    def renderer_cpu_s(self) -> float:
        """CPU time the page's renderer process has used so far (Chromium's ProcessTime)."""
        metrics = self._devtools.send("Performance.getMetrics")["metrics"]
        return float(next(m["value"] for m in metrics if m["name"] == "ProcessTime"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def rows(self) -> list[list[str]]:
        return list(
            self.page.eval_on_selector_all(
                "tr.result[data-check-id]",
                "rows => rows.map(r => [r.dataset.checkId, r.dataset.target, r.dataset.outcome])",
            )
        )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResults]:
    run = tmp_path_factory.mktemp("report") / "run"
    results = build_run(run, 80, long_lines=1500)
    report_page.write_report(run, results)
    return run, results


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _expected_rows(results: RunResults) -> list[list[str]]:
    return [[c.id, c.target, c.outcome.value] for c in results.checks]


def test_every_check_is_a_row_and_device_text_stays_text(
    browser: Any, sample: tuple[Path, RunResults], tmp_path: Path
) -> None:
    run, results = sample
    opened = Opened(browser, run / "report.html")
    assert opened.rows() == _expected_rows(results)
    outcomes = {row[2] for row in opened.rows()}
    assert {"not_applicable", "waived"} <= outcomes
    assert outcomes == {o.value for o in Outcome}
    first_target = opened.page.locator("tr.result").first.locator("td").nth(2)
    first_target.scroll_into_view_if_needed()
    expect(first_target).to_have_text(SHOWN_TARGET)  # once on screen, it is laid out
    assert opened.page.locator("script").count() == 1
    passed = opened.page.locator("section.s-passed").first
    opened.page.locator("label[for=f-passed]").click()  # untick "passed": those rows hide
    expect(passed).to_be_hidden()
    opened.page.locator("label[for=f-passed]").click()
    assert opened.page.evaluate("document.title").startswith("Security test report: Pump <script>")
    opened.page.screenshot(path=str(tmp_path / "report.png"))
    opened.page.locator("#results section.check").first.screenshot(path=str(tmp_path / "row.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert opened.problems == []


def test_evidence_is_never_clipped_on_screen(browser: Any, sample: tuple[Path, RunResults]) -> None:
    run, _ = sample
    opened = Opened(browser, run / "report.html")
    last = opened.page.get_by_text(LAST_LINE)
    last.scroll_into_view_if_needed()
    assert last.is_visible()
    measured = opened.page.eval_on_selector_all(
        "#results pre",
        "blocks => blocks.map(b => [b.scrollHeight, b.clientHeight, "
        "getComputedStyle(b).maxHeight])",
    )
    assert measured
    clipped = [m for m in measured if m[0] > m[1] + 1 or m[2] != "none"]
    assert clipped == []
    tallest = max(m[1] for m in measured)
    assert tallest > 1500 * 12  # the 1,500-line transcript is shown at its full height
    assert opened.problems == []


def _pdf_text(data: bytes) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(p.extract_text() or "" for p in reader.pages)


def test_printing_keeps_every_line_and_opens_details(
    browser: Any, sample: tuple[Path, RunResults], tmp_path: Path
) -> None:
    run, results = sample
    opened = Opened(browser, run / "report.html")
    opened.page.emulate_media(media="print")
    hidden = opened.page.eval_on_selector_all(
        "details ul.targets", "lists => lists.filter(l => l.offsetHeight === 0).length"
    )
    assert hidden == 0  # every target list of the matrix is printed
    pages, text = _pdf_text(opened.page.pdf(path=str(tmp_path / "report.pdf")))
    assert LAST_LINE in text
    assert pages >= len(results.checks)  # a page break between checks
    assert "Legend" in text


def test_medsec_report_writes_beside_and_prints_with_chromium(browser: Any, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    run = tmp_path / "run"
    results = build_run(run, 12, long_lines=300)
    report_page.write_report(run, results)
    write_manifest(run, Ed25519PrivateKey.generate(), key_source="test", meta={})
    done = medsec("report", str(run), "--pdf", str(tmp_path / "run.pdf"))
    assert done.returncode == 0, done.stderr
    beside = tmp_path / "run.report.html"
    assert beside.is_file()
    assert verify_run(run).ok  # nothing was written inside the signed folder
    pages, text = _pdf_text((tmp_path / "run.pdf").read_bytes())
    assert LAST_LINE in text
    assert pages >= len(results.checks)
    opened = Opened(browser, beside)
    assert opened.rows() == _expected_rows(results)
    href = opened.page.locator(".art-h a").first.get_attribute("href")
    assert href is not None
    assert href.startswith("run/evidence/")
    assert opened.problems == []
    refused = medsec("report", str(run), "--out", str(run / "again.html"))
    assert refused.returncode == 2
    assert "inside the run folder" in refused.stderr
    assert verify_run(run).ok
    in_place = medsec("report", str(run), "--in-place")
    assert in_place.returncode == 0
    assert "no longer" in in_place.stdout
    assert not verify_run(run).ok


@pytest.mark.slow
def test_a_real_run_renders_every_check(
    browser: Any, tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    """The emulator with an SSH default password and old TLS (waived), no serial console:
    failed, passed, waived and not-applicable rows from a real run folder."""
    config = SimConfig(
        workdir=tmp_path / "device",
        host=loopback_address,
        weaknesses=frozenset({"W-05", "W-17"}),
    )
    with EmulatedPump(config) as pump:
        document = pump.profile()
        document.pop("serial", None)
        document["waivers"] = [
            {
                "check": "CRYPTO-001",
                "target": "therapy-api",
                "expires": "2099-12-31",
                "justification": "Legacy hospital server needs TLS 1.1 (CAPA-0001)",
            }
        ]
        profile = tmp_path / "pump.yaml"
        profile.write_text(yaml.safe_dump(document, sort_keys=False))
        run = tmp_path / "run"
        done = medsec("run", str(profile), "--suite", "auth,crypto", "--out", str(run))
    assert done.returncode == 1, done.stderr
    rendered = medsec("report", str(run))
    assert rendered.returncode == 0, rendered.stderr
    assert verify_run(run).ok
    results = load(run / "results.json")
    opened = Opened(browser, tmp_path / "run.report.html")
    assert opened.rows() == _expected_rows(results)
    outcomes = {row[2] for row in opened.rows()}
    assert {"passed", "failed", "waived", "not_applicable"} <= outcomes
    assert opened.problems == []
    opened.page.screenshot(path=str(tmp_path / "real.png"), full_page=False)


@pytest.mark.slow
def test_five_thousand_checks_open_in_under_five_seconds(browser: Any, tmp_path: Path) -> None:
    """The page's renderer spends under 5 s of CPU opening 5,000 checks.

    The renderer's own CPU time (Chromium's ``ProcessTime`` metric) is what a quiet
    machine's wall clock shows (about 1.6 s of CPU, 1.8 s wall); the wall clock itself
    is not asserted because the test workers share two cores (8.7 s wall was seen in CI
    under ``-n 4``). The quiet wall time is ``python -m tests.bench report``'s figure.
    """
    run = tmp_path / "run"
    results = build_run(run, 5000)
    written = report_page.write_report(run, results)
    renderer_cpu_s = []
    for _ in range(2):
        opened = Opened(browser, written)
        opened.page.evaluate("document.documentElement.scrollHeight")
        renderer_cpu_s.append(opened.renderer_cpu_s())
        assert opened.problems == []
        assert len(opened.rows()) == 5000
        opened.page.close()
    assert min(renderer_cpu_s) < 5.0, renderer_cpu_s
    assert written.stat().st_size < 20_000_000
