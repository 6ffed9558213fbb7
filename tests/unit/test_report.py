"""The report page and the HTML fragments escape device text; junit.xml stays valid.

The report page (harness.reporting.page): every section, every record a row, escaping,
a legend for every code, older results.json files, evidence files read safely, and
`medsec report` writing beside the run folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from harness.cli.report import cmd_report
from harness.config.threatmodel import load_threat_model
from harness.evidence.recorder import Artifact
from harness.reporting import html as report
from harness.reporting import junit, matrix, page, page_results
from harness.reporting.page_matrix import CODE
from harness.reporting.results import (
    ArtifactRecord,
    CheckRecord,
    DeviceInfo,
    HarnessInfo,
    Outcome,
    ProfileInfo,
    RunResults,
    load,
    save,
)
from tests.report_sample import HOSTILE as DEVICE_TEXT
from tests.report_sample import LAST_LINE, THREAT_MODEL, build_run

HOSTILE = '<script>alert("pwned")</script>\x00\x1b[31m'


def _record(outcome: Outcome, reason: str = HOSTILE) -> CheckRecord:
    return CheckRecord(
        id="AUTH-001",
        title="Default credentials refused over SSH",
        family="AUTH",
        target="ssh",
        outcome=outcome,
        reason=reason,
        threats=["TM-01"],
        controls=["SC-01"],
        standards=["CR 1.1"],
        evidence=["evidence/AUTH-001/ssh/ssh.txt"],
        duration_s=0.5,
        summary=[f"banner {HOSTILE}"],
        nodeid="x::y",
        started="",
        finished="",
    )


def test_check_block_escapes_everything_from_the_device() -> None:
    block = report.check_block(
        _record(Outcome.FAILED), [Artifact("evidence/a.txt", "transcript", f"recv {HOSTILE}\nEnd")]
    )
    assert "<script>" not in block
    assert "&lt;script&gt;" in block
    assert "\n" not in block  # pytest-html would colour lines starting with "E"


def test_summary_escapes_observed_identity() -> None:
    results = RunResults(
        status="complete",
        harness=HarnessInfo(version="0", python="3", packages={}),
        profile=ProfileInfo(path="p.yaml", sha256="0"),
        threat_model=None,
        device=DeviceInfo(profiled={"name": "pump"}, observed={"ssh_identification": HOSTILE}),
        options={},
        started="s",
        finished="f",
        checks=[_record(Outcome.PASSED)],
    )
    html = report.summary_html(results, None, "SHA256:x")
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html


def test_junit_maps_outcomes_and_survives_control_characters(tmp_path: Path) -> None:
    records = [_record(o) for o in Outcome]
    results = RunResults(
        status="complete",
        harness=HarnessInfo(version="0", python="3", packages={}),
        profile=ProfileInfo(path="p", sha256="0"),
        threat_model=None,
        device=DeviceInfo(profiled={}, observed={}),
        options={},
        started="s",
        finished="f",
        checks=records,
    )
    path = tmp_path / "junit.xml"
    junit.write_junit(results, path)
    root = ET.parse(path).getroot()
    assert root.attrib["tests"] == "5"
    assert root.attrib["failures"] == "1"
    assert root.attrib["errors"] == "1"
    assert sum(int(s.attrib["skipped"]) for s in root) == 2


SECTIONS = ["verdict", "findings", "configuration", "matrix", "categories", "results", "legend"]
PYTEST_WORDS = ("xfail", "xpass", "rerun", "expected failure", "nodeid", "::test_", "skipped")


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, RunResults]:
    run = tmp_path / "run"
    return run, build_run(run, 60, long_lines=200)


def _soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def test_page_has_every_section_in_order(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    soup = _soup(page.render(results, run))
    assert [s["id"] for s in soup.select("body > section")] == SECTIONS
    assert soup.select_one("#verdict .verdict") is not None
    assert "open findings" in soup.select_one("#verdict").get_text()
    configuration = soup.select_one("#configuration").get_text()
    for expected in (
        "tls_min_version",
        "strict 2025-01",
        "medsec run pump.yaml --out run",
        "bench-3",
        "A. Tester",
        "Example Lab",
        "independent of the device",
        "SHA256:abc",
        "generated for this run",
        results.threat_model.sha256 if results.threat_model else "",
        results.profile.sha256,
    ):
        assert expected in configuration, expected


def test_every_record_is_one_result_row_with_its_outcome(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    rows = _soup(page.render(results, run)).select("tr.result[data-check-id]")
    assert len(rows) == len(results.checks)
    assert [r["data-outcome"] for r in rows] == [c.outcome.value for c in results.checks]
    assert [r["data-check-id"] for r in rows] == [c.id for c in results.checks]
    assert [r["data-target"] for r in rows] == [c.target for c in results.checks]
    assert {r["data-outcome"] for r in rows} == {o.value for o in Outcome}


def test_device_strings_are_text_never_markup(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    text = page.render(results, run)
    soup = _soup(text)
    assert "<script>alert" not in text
    assert len(soup.find_all("script")) == 1  # ours, allowed by the page's CSP by its hash
    shown = soup.get_text()
    assert "<script>alert(1)</script> [/]" in shown
    assert "\x1b" not in shown
    assert "\u202e" not in shown
    assert "\\x1b[31mred" in shown
    assert "\\u202eevil" in shown
    third = soup.select("tr.result")[2].select("td")[-1]
    assert [str(c) for c in third.contents] == ["reason of check 2", "<br/>", "its second line"]
    first = soup.select_one("tr.result")
    assert first is not None
    assert first["data-target"] == DEVICE_TEXT


def test_no_test_runner_vocabulary(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    shown = _soup(page.render(results, run)).get_text().lower()
    for word in PYTEST_WORDS:
        assert word not in shown, word
    assert not any(c.nodeid.lower() in shown for c in results.checks)
    assert not any(c.nodeid.split("::")[-1] in shown for c in results.checks)


def test_legend_explains_every_code_shown(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    soup = _soup(page.render(results, run))
    legend = soup.select_one("#legend")
    assert legend is not None
    explained = {dt.get_text() for dt in legend.select("dt")}
    legend.decompose()
    shown = set(CODE.findall(soup.get_text(" ")))
    assert shown, "the sample shows reference codes"
    assert shown <= explained, sorted(shown - explained)
    for word in ("passed", "failed", "error", "not applicable", "waived", "critical", "partial"):
        assert word in explained
    assert {"CAPEC", "CWE", "STRIDE", "UTC"} <= explained


def test_findings_give_severity_and_disposition(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    findings = _soup(page.render(results, run)).select_one("#findings")
    assert findings is not None
    rows = findings.select("tr")[1:]
    expected = [c for c in results.checks if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
    waived = [c for c in results.checks if c.outcome is Outcome.WAIVED]
    assert len(rows) == len(expected) + len(waived)
    text = findings.get_text()
    assert text.count("open") >= len(expected)
    assert "J. Reviewer (QA)" in text
    assert "CAPA-1187" in text
    assert "2027-06-30" in text
    first = rows[0].get_text()
    assert "critical" in first  # open findings first, the most severe first


def test_firmware_other_than_profiled_is_flagged(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    soup = _soup(page.render(results, run))
    other = [c for c in results.checks if c.firmware != "2.4.1"]
    assert other
    assert len(soup.select("section.fw-other")) == len(other)
    banner = soup.select_one("#verdict .banner")
    assert banner is not None
    assert f"{len(other)} checks ran on firmware other than the profiled 2.4.1" in (
        banner.get_text()
    )
    assert "2.5.0" in soup.select_one("#matrix").get_text()  # the firmware timeline


def test_evidence_shown_in_full_without_a_scroll_box(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    text = page.render(results, run)
    assert LAST_LINE in text
    assert "max-height" not in text
    binary = next(a for c in results.checks for a in c.artifacts if a.path.endswith(".bin"))
    soup = _soup(text)
    link = soup.find("a", href=binary.path)
    assert link is not None
    assert "binary, linked" in link.parent.get_text()


def test_a_page_beside_the_run_folder_links_into_it(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    written = page.write_report(run, results, run.parent / "beside.html")
    hrefs = [a["href"] for a in _soup(written.read_text()).select(".art-h a")]
    assert hrefs
    assert all(h.startswith("run/evidence/") for h in hrefs)
    assert all((run.parent / h).is_file() for h in hrefs)


def test_evidence_is_read_only_inside_the_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "evidence").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("outside")
    (run / "evidence" / "link.txt").symlink_to(tmp_path / "secret.txt")
    (run / "evidence" / "big.txt").write_text("x" * (page_results.INLINE_CAP + 10))
    views = {
        name: page_results.read_evidence(run, name, show=True)
        for name in ("../secret.txt", "/etc/passwd", "evidence/link.txt", "evidence/none.txt")
    }
    assert all(v.size is None and v.text is None for v in views.values())
    assert views["evidence/link.txt"].problem == "a symbolic link, not followed"
    assert views["evidence/none.txt"].problem == "missing from the run folder"
    big = page_results.read_evidence(run, "evidence/big.txt", show=True)
    assert big.truncated
    assert big.text is not None
    assert len(big.text) == page_results.INLINE_CAP


def test_a_truncated_file_says_so_and_links_the_whole(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    record = results.checks[3]
    path = f"evidence/{record.id}/huge.txt"
    (run / path).write_text("line\n" * (page_results.INLINE_CAP // 5 + 100))
    record.artifacts.append(ArtifactRecord(path=path, title="huge", shown=True))
    text = page.render(results, run)
    assert "Shown: the first 262.1 kB of" in text
    assert f'href="{path}"' in text


def _old_results(tmp_path: Path) -> RunResults:
    """A results.json as the harness wrote it before the report page (no new fields)."""
    document = {
        "schema": "medsec/results/v1",
        "status": "interrupted",
        "harness": {"version": "0.0.9", "python": "3.11", "packages": {}},
        "profile": {"path": "p.yaml", "sha256": "0" * 64},
        "threat_model": {
            "path": str(THREAT_MODEL),
            "sha256": hashlib.sha256(THREAT_MODEL.read_bytes()).hexdigest(),
            "system": "Infusion pump IP-100",
        },
        "device": {"profiled": {"name": "pump", "firmware": "2.4.1"}, "observed": {}},
        "options": {"args": []},
        "started": "2025-01-01T00:00:00+00:00",
        "finished": None,
        "checks": [
            {
                **_record(outcome).model_dump(
                    mode="json",
                    exclude={"severity", "criterion", "firmware", "artifacts"},
                ),
                "evidence": ["evidence/AUTH-001/ssh/ssh.txt"],
            }
            for outcome in Outcome
        ],
        "not_run": ["x::y"],
    }
    run = tmp_path / "old"
    (run / "evidence/AUTH-001/ssh").mkdir(parents=True)
    (run / "evidence/AUTH-001/ssh/ssh.txt").write_text("old transcript line\n")
    (run / "results.json").write_text(json.dumps(document))
    return load(run / "results.json")


def test_an_older_results_json_renders(tmp_path: Path) -> None:
    results = _old_results(tmp_path)
    soup = _soup(page.render(results, tmp_path / "old"))
    assert len(soup.select("tr.result[data-check-id]")) == len(results.checks)
    text = soup.get_text()
    assert "not recorded" in text
    assert "old transcript line" in text  # transcripts were shown inline then too
    assert "This run was interrupted" in text
    assert "time zone not recorded" not in text
    assert "(running)" not in text
    assert soup.select("#matrix table.matrix")  # the threat model file is still the same
    assert "(catalogue)" in soup.select_one("#results").get_text()


def test_not_applicable_never_makes_a_threat_partial() -> None:
    model = load_threat_model(THREAT_MODEL)
    checks = model.control("SC-13").checks  # TM-11: UPDATE-001, UPDATE-011
    records = [
        _record(Outcome.PASSED).model_copy(update={"id": checks[0]}),
        _record(Outcome.NOT_APPLICABLE).model_copy(update={"id": checks[1]}),
    ]
    rows = {r.threat.id: r for r in matrix.build(model, records, checks, checks)}
    assert rows["TM-11"].coverage is matrix.Coverage.COVERED
    only_na = [records[1], records[1].model_copy(update={"id": checks[0]})]
    rows = {r.threat.id: r for r in matrix.build(model, only_na, checks, checks)}
    assert rows["TM-11"].coverage is matrix.Coverage.NOT_APPLICABLE
    assert not rows["TM-11"].coverage.flagged


def test_deselected_not_implemented_and_not_run_are_told_apart() -> None:
    model = load_threat_model(THREAT_MODEL)
    first, second = model.control("SC-13").checks
    assert matrix.cell(first, [], set(), None).status is matrix.CellStatus.NOT_IMPLEMENTED
    assert matrix.cell(first, [], {first}, set()).status is matrix.CellStatus.DESELECTED
    assert matrix.cell(first, [], {first}, {first}).status is matrix.CellStatus.NOT_RUN
    assert matrix.cell(first, [], None, None).status is matrix.CellStatus.NOT_RUN
    # `--suite crypto`: an AUTH check is deselected, not "not in this harness version".
    rows = matrix.build(model, [], [first, second], [second])
    cells = {c.check_id: c.status for r in rows for c in r.cells}
    assert cells[first] is matrix.CellStatus.DESELECTED


def test_medsec_report_writes_beside_never_inside(
    sample: tuple[Path, RunResults], capsys: pytest.CaptureFixture[str]
) -> None:
    run, _ = sample
    assert cmd_report(run, None, None, in_place=False) == 0
    assert (run.parent / "run.report.html").is_file()
    assert not (run / "report.html").exists()
    assert cmd_report(run, run / "evidence" / "x.html", None, in_place=False) == 2
    assert "inside the run folder" in capsys.readouterr().err
    assert not (run / "evidence" / "x.html").exists()
    assert cmd_report(run, None, None, in_place=True) == 0
    assert (run / "report.html").is_file()
    assert "no longer" in capsys.readouterr().out


def test_medsec_report_without_a_pdf_engine_says_so(
    sample: tuple[Path, RunResults],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.reporting import pdf

    monkeypatch.setattr(pdf, "find_chromium", lambda: None)
    monkeypatch.setattr(pdf, "_weasyprint", lambda: None)
    run, _ = sample
    assert cmd_report(run, None, run.parent / "r.pdf", in_place=False) == 2
    assert "no PDF engine" in capsys.readouterr().err


def test_medsec_report_merges_the_journal_of_a_run_that_never_closed(
    sample: tuple[Path, RunResults],
) -> None:
    run, results = sample
    journal = "".join(c.model_dump_json() + "\n" for c in results.checks)
    (run / "checks.jsonl").write_text(journal + '{"id": "torn')
    save(results.model_copy(update={"checks": [], "status": "running"}), run / "results.json")
    assert cmd_report(run, None, None, in_place=False) == 0
    rows = _soup((run.parent / "run.report.html").read_text()).select("tr.result")
    assert len(rows) == len(results.checks)


def test_report_page_is_written_in_one_step(sample: tuple[Path, RunResults]) -> None:
    run, results = sample
    written = page.write_report(run, results)
    assert written == run / "report.html"
    assert not [p for p in os.listdir(run) if p.startswith(".report.html")]
    assert re.search(r"Content-Security-Policy", written.read_text())
