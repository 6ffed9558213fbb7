"""`medsec compare` and `medsec merge` on the demo's real runs (the session's one demo).

The demo runs every suite against the hardened and the vulnerable emulator; compared,
every planted weakness must show as a regression and the command must exit 1; the
hardened run against itself exits 0; merged, the folder verifies and its page opens.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.sim.weaknesses import PLANTED, expected_failures, tolerated_failures
from tests.integration.cli import medsec
from tests.integration.pump_runs import PumpRuns
from tests.integration.test_report_browser import Opened, browser  # noqa: F401 (fixture)

GATES = {"regressed", "newly_failing", "newly_error"}


@pytest.fixture
def demo(pump_runs: PumpRuns) -> tuple[Path, Path]:
    """The demo's hardened and vulnerable run folders (shared with test_emulator_verdicts)."""
    assert pump_runs.demo.returncode == 0, pump_runs.demo.stdout[-3000:]
    return pump_runs.folder("hardened"), pump_runs.folder("vulnerable")


def test_every_planted_weakness_is_a_regression(demo: tuple[Path, Path], tmp_path: Path) -> None:
    hardened, vulnerable = demo
    refused = medsec("compare", str(hardened), str(vulnerable))
    assert refused.returncode == 2
    assert "different devices" in refused.stderr
    data, page = tmp_path / "cmp.json", tmp_path / "cmp.html"
    done = medsec(
        "compare",
        str(hardened),
        str(vulnerable),
        "--force",
        "--json",
        str(data),
        "--html",
        str(page),
    )
    assert done.returncode == 1, done.stderr
    assert "compared because of --force" in done.stdout
    comparison = json.loads(data.read_text())
    gating = {c["check_id"] for c in comparison["changes"] if c["change"] in GATES}
    regressed = {c["check_id"] for c in comparison["changes"] if c["change"] == "regressed"}
    expected = set(expected_failures(set(PLANTED)))
    assert expected <= regressed
    assert gating <= expected | tolerated_failures(set(PLANTED))
    kinds = {d["kind"] for d in comparison["evidence"]}
    assert {"TLS versions", "SSH algorithms", "certificate", "open TCP ports"} <= kinds
    for check_id in sorted(expected):
        assert check_id in done.stdout


def test_a_run_against_itself_has_no_regression(demo: tuple[Path, Path], tmp_path: Path) -> None:
    hardened, _ = demo
    copy = tmp_path / "again"
    shutil.copytree(hardened, copy)
    done = medsec("compare", str(hardened), str(copy))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no regression" in done.stdout


def test_merged_runs_verify_and_the_pages_open(
    demo: tuple[Path, Path],
    tmp_path: Path,
    browser: Any,  # noqa: F811 (the imported fixture)
) -> None:
    hardened, vulnerable = demo
    merged = tmp_path / "merged"
    done = medsec("merge", str(hardened), str(vulnerable), "-o", str(merged))
    assert done.returncode == 0, done.stderr
    assert medsec("verify", str(merged)).returncode == 0
    results = json.loads((merged / "results.json").read_text())
    opened = Opened(browser, merged / "report.html")
    rows = opened.page.eval_on_selector_all(
        "tr.result[data-check-id]",
        "rows => rows.map(r => [r.dataset.device, r.dataset.checkId, r.dataset.target])",
    )
    assert rows == [[c["device"], c["id"], c["target"]] for c in results["checks"]]
    assert opened.page.locator("section.device").count() == 2
    assert opened.page.locator("table.merged-matrix tbody").count() > 0
    first_link = opened.page.locator("#results a[href*='devices/']").first
    assert (merged / first_link.get_attribute("href")).is_file()
    assert opened.problems == []
    page = tmp_path / "cmp.html"
    compare = medsec("compare", str(hardened), str(vulnerable), "--force", "--html", str(page))
    assert compare.returncode == 1
    compared = Opened(browser, page)
    changes = compared.page.eval_on_selector_all(
        "tr.change", "rows => rows.map(r => r.dataset.change)"
    )
    assert "regressed" in changes
    assert len(changes) == len({(c["id"], c["target"]) for c in results["checks"]})
    assert compared.page.locator("script").count() == 1
    assert compared.problems == []
    (merged / "devices" / results["devices"][0]["key"] / "junit.xml").write_text("edited")
    assert medsec("verify", str(merged)).returncode == 1
