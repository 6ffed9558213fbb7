"""An imported threat model through a real run: `medsec import-tm`, then `medsec run` on the
emulator with weakness W-07 (SSH offers hmac-sha1), whose CRYPTO-008 failure contradicts a
threat pytm marks mitigated: the report's headline must say so, and the matrix show it."""

from __future__ import annotations

from pathlib import Path

import yaml
from bs4 import BeautifulSoup

from harness.reporting.results import Outcome, load
from harness.sim.process import EmulatorProcess
from tests.integration.cli import medsec, medsec_run

DATA = Path(__file__).resolve().parents[1] / "data" / "threatmodels"


def test_a_mitigated_threat_whose_check_fails_is_the_headline(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    model = tmp_path / "pump-tm.yaml"
    imported = medsec(
        "import-tm",
        str(DATA / "pytm_pump.json"),
        "--map",
        str(DATA / "pytm_pump.map.yaml"),
        "-o",
        str(model),
    )
    assert imported.returncode == 0, imported.stderr
    emulator = EmulatorProcess("w07", loopback_address, tmp_path / "device", weaknesses=("W-07",))
    with emulator:
        profile = yaml.safe_load(emulator.profile.read_text())
        profile["threat_model"] = str(model)
        emulator.profile.write_text(yaml.safe_dump(profile, sort_keys=False))
        assert medsec("validate", str(emulator.profile)).returncode == 0
        traced = medsec("trace", str(emulator.profile))
        assert traced.returncode == 0
        assert "CRYPTO-008" in traced.stdout
        done = medsec_run(
            emulator.profile,
            tmp_path / "run",
            "--suite",
            "crypto",
            "--quiet",
            "--",
            "-k",
            "ssh_algorithms_match_policy",
        )
    assert done.returncode == 1, done.stdout + done.stderr
    results = load(tmp_path / "run" / "results.json")
    [record] = [r for r in results.checks if r.id == "CRYPTO-008"]
    assert record.outcome is Outcome.FAILED
    assert record.threats  # traced to the imported threats
    page = BeautifulSoup((tmp_path / "run" / "report.html").read_text(), "html.parser")
    verdict = page.find(id="verdict")
    assert verdict is not None
    headline = verdict.find(class_="headline")
    assert headline is not None
    text = headline.get_text(" ")
    assert "marks mitigated" in text
    assert "CR05@Service SSH" in text
    assert "CRYPTO-008" in text
    assert headline.find("a", href=f"#t-{record.threats[0]}") is not None
    matrix = page.find(id="matrix")
    assert matrix is not None
    assert "93 threats of" in matrix.get_text(" ")
    rows = page.select("tr.result")
    assert len(rows) == len(results.checks)
    assert {r["data-check-id"] for r in rows} == {"CRYPTO-008"}
    assert rows[0]["data-outcome"] == "failed"
