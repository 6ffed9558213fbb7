"""harness/config/catalogue.py and docs/CATALOGUE.md agree; the weakness table points into both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.config import catalogue, references
from harness.plugin.suites import implemented_checks
from harness.sim.weaknesses import PLANTED, WEAKNESSES

DOC = Path(__file__).resolve().parents[2] / "docs" / "CATALOGUE.md"
ROW = re.compile(
    r"^\| ((?:AUTH|CRYPTO|UPDATE|SURFACE|ROBUST)-\d{3}) \| (.*?) \| (.*?) \| .*? \| (.*?) \| "
    r"(\*\*yes\*\*|no) \| (critical|high|medium|low) \| (.*?) \|$"
)
W_ROW = re.compile(r"^\| (W-\d{2}) \| .*? \| ((?:AUTH|CRYPTO|UPDATE|SURFACE|ROBUST)-\d{3}) \|$")


def _doc_rows() -> dict[str, tuple[str, str, bool, str, str, str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            check_id, title, interfaces, criterion, destructive, severity, refs = match.groups()
            rows[check_id] = (
                title,
                interfaces,
                destructive == "**yes**",
                refs,
                criterion,
                severity,
            )
    return rows


def test_every_documented_check_is_in_the_code_and_back() -> None:
    assert set(_doc_rows()) == set(catalogue.CATALOGUE)


def test_titles_interfaces_destructive_and_references_agree() -> None:
    for check_id, (
        title,
        interfaces,
        destructive,
        refs,
        criterion,
        severity,
    ) in _doc_rows().items():
        spec = catalogue.get(check_id)
        assert spec.criterion == criterion, check_id
        assert spec.severity.value == severity, check_id
        assert spec.title == title
        assert spec.interfaces == tuple(i.strip() for i in interfaces.split(","))
        assert spec.destructive is destructive
        documented = [i.strip() for group in refs.split(";") for i in group.split(",") if i.strip()]
        assert sorted(spec.references) == sorted(documented), check_id


def test_ids_and_interfaces_are_well_formed() -> None:
    for spec in catalogue.CATALOGUE.values():
        assert catalogue.CHECK_ID.match(spec.id)
        assert set(spec.interfaces) <= set(catalogue.INTERFACES), spec.id
        assert all(c.startswith("CWE-") for c in spec.cwe)


def test_weakness_table_matches_the_document() -> None:
    documented = {}
    for line in DOC.read_text().splitlines():
        match = W_ROW.match(line)
        if match:
            documented[match.group(1)] = match.group(2)
    assert documented == {w.id: w.caught_by for w in WEAKNESSES.values()}


def test_every_planted_weakness_is_caught_by_an_implemented_check() -> None:
    implemented = implemented_checks()
    for weakness_id in PLANTED:
        assert WEAKNESSES[weakness_id].caught_by in implemented, weakness_id


def test_unknown_id_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match="AUTH-999"):
        catalogue.get("AUTH-999")


def test_every_reference_code_is_explained() -> None:
    for spec in catalogue.CATALOGUE.values():
        for code in spec.references:
            assert references.explain(code), code


def test_the_pass_criterion_shows_the_values_in_force() -> None:
    spec = catalogue.get("AUTH-009")
    filled = catalogue.criterion_for(spec, {"lockout_delay_s": 1.5, "lockout_after_failures": 3})
    assert "`lockout_delay_s` = 1.5" in filled
    assert "[30]" not in filled
    assert "`lockout_after_failures` = 3" in filled
    assert catalogue.criterion_for(spec, {}) == spec.criterion
