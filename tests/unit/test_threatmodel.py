"""Threat models load, trace checks to threats, and locate their mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.threatmodel import load_threat_model
from harness.core.errors import ProfileError
from harness.reporting import matrix
from harness.reporting.results import CheckRecord, Outcome

SHIPPED = Path(__file__).resolve().parents[2] / "profiles" / "threat-models" / "infusion-pump.yaml"


def test_shipped_model_traces_checks_to_threats() -> None:
    model = load_threat_model(SHIPPED)
    assert model.threats_for_check("UPDATE-002") == ("TM-09",)
    assert set(model.threats_for_check("AUTH-002")) == {"TM-01", "TM-02", "TM-15"}
    assert model.controls_for_check("SURFACE-001") == ("SC-14",)


def _record(check_id: str, outcome: Outcome, target: str = "t") -> CheckRecord:
    return CheckRecord(
        id=check_id,
        title="",
        family=check_id.split("-")[0],
        target=target,
        outcome=outcome,
        reason="",
        threats=[],
        controls=[],
        standards=[],
        evidence=[],
        duration_s=0.0,
        nodeid=check_id,
        started="",
        finished="",
    )


def test_matrix_flags_failed_uncovered_and_checkless_threats() -> None:
    model = load_threat_model(SHIPPED)
    records = [
        _record("UPDATE-002", Outcome.FAILED),
        _record("SURFACE-001", Outcome.PASSED),
        _record("CRYPTO-001", Outcome.PASSED, "therapy-api"),
        _record("CRYPTO-001", Outcome.FAILED, "telemetry"),
    ]
    rows = {row.threat.id: row for row in matrix.build(model, records, {"UPDATE-002"})}
    assert rows["TM-09"].coverage is matrix.Coverage.FAILED
    assert rows["TM-12"].coverage is matrix.Coverage.PARTIAL
    assert rows["TM-06"].coverage is matrix.Coverage.FAILED  # worst target wins
    assert rows["TM-03"].coverage is matrix.Coverage.NOT_COVERED
    assert rows["TM-17"].coverage is matrix.Coverage.NO_CHECK
    assert all(row.coverage.flagged for row in (rows["TM-03"], rows["TM-17"], rows["TM-09"]))


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("checks: [UPDATE-005, UPDATE-010]", "checks: [UPDATE-005, UPDATE-077]", "UPDATE-077"),
        ("controls: [SC-12]", "controls: [SC-99]", "unknown controls: SC-99"),
        ("stride: Repudiation", "stride: Repudation", "Input should be"),
    ],
)
def test_mistakes_are_located(tmp_path: Path, old: str, new: str, words: str) -> None:
    text = SHIPPED.read_text()
    assert old in text
    path = tmp_path / "model.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ProfileError) as caught:
        load_threat_model(path)
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"{path}:")
