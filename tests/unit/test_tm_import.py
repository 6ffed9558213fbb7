"""`medsec import-tm`: each format's fixture becomes a threat model the harness accepts,
checks are mapped in order of authority, and hostile files end as located errors."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from harness.cli import main
from harness.config import yamlfile
from harness.config.threatmodel import ThreatModel, load_threat_model
from harness.config.tm_import import detect, draft_mapping, import_model, read_source
from harness.config.tm_import.source import MAX_BYTES, MAX_JSON_DEPTH
from harness.config.tm_import.tables import table
from harness.core.errors import ProfileError
from harness.reporting import matrix
from harness.reporting.page import render
from harness.reporting.results import CheckRecord, Outcome, ThreatModelInfo
from tests import report_sample

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "threatmodels"
PYTM_JSON = DATA / "pytm_pump.json"
TD_JSON = DATA / "threat_dragon_pump.json"
THREAGILE = DATA / "threagile_pump.yaml"
RISKS = DATA / "threagile_pump.risks.json"
OTM = DATA / "otm_pump.otm.yaml"
TM7 = DATA / "tmt_pump.tm7"
HOSTILE = "<script>alert(1)</script>\x1b[2J\u202e"


def _model(tmp_path: Path, source: Path, **options: object) -> ThreatModel:
    imported = import_model(source, **options)  # type: ignore[arg-type]
    out = tmp_path / f"{source.stem}.yaml"
    out.write_text(imported.text)
    return load_threat_model(out)


def _by_source(model: ThreatModel) -> dict[str, object]:
    return {t.provenance.source_id: t for t in model.threats if t.provenance}


@pytest.mark.parametrize(
    ("source", "fmt"),
    [(PYTM_JSON, "pytm"), (TD_JSON, "threat-dragon"), (THREAGILE, "threagile"),
     (OTM, "otm"), (TM7, "tm7")],
)  # fmt: skip
def test_every_fixture_is_recognised_and_validates(tmp_path: Path, source: Path, fmt: str) -> None:
    assert detect(source) == fmt
    model = _model(tmp_path, source)
    digest = read_source(source, fmt).sha256  # type: ignore[arg-type]
    assert model.threats
    for threat in model.threats:
        assert threat.provenance is not None
        assert threat.provenance.format == fmt
        assert threat.provenance.sha256 == digest
        assert threat.provenance.file == source.name


def test_pytm_keys_on_threat_and_target_and_fills_overridden_findings(tmp_path: Path) -> None:
    raw = json.loads(PYTM_JSON.read_text())
    overridden = [f for f in raw["findings"] if f["response"]]
    assert overridden  # the real tool leaves these without description or references
    assert all(f["description"] == "" and f["references"] == "" for f in overridden)
    model = _model(tmp_path, PYTM_JSON, map_path=DATA / "pytm_pump.map.yaml")
    threats = _by_source(model)
    assert len(threats) == len(raw["findings"])
    claimed = threats["CR05@Service SSH"]
    library = table("pytm")["threats"]["CR05"]
    assert claimed.title == library["description"]  # type: ignore[attr-defined]
    assert claimed.capec == tuple(library["capec"])  # type: ignore[attr-defined]
    assert claimed.provenance.mitigated  # type: ignore[attr-defined]
    assert claimed.provenance.mapping == "inline"  # type: ignore[attr-defined]
    assert model.control(claimed.controls[0]).checks == ("CRYPTO-008",)  # type: ignore[attr-defined]
    accepted = threats["AA01@Therapy API"]
    assert accepted.provenance.status == "accepted"  # type: ignore[attr-defined]
    assert not accepted.provenance.mitigated  # type: ignore[attr-defined]
    mapped = threats["DE01@Therapy command"]
    assert mapped.provenance.mapping == "map"  # type: ignore[attr-defined]
    assert model.control(mapped.controls[0]).checks == ("CRYPTO-001", "CRYPTO-010")  # type: ignore[attr-defined]
    assert model.threats_for_check("CRYPTO-008")


def _pytm_python() -> str | None:
    configured = os.environ.get("MEDSEC_PYTM_PYTHON")
    local = REPO / ".pytm" / "bin" / "python"
    return configured or (str(local) if local.is_file() else None)


def _require_pytm() -> str:
    python = _pytm_python()
    if python is None:
        reason = "pytm is not installed (see .ci/run: the .pytm venv, MEDSEC_PYTM_PYTHON)"
        if os.environ.get("MEDSEC_REQUIRE_DAEMONS"):
            pytest.fail(f"CI requires this test to run: {reason}")
        pytest.skip(reason)
    return python


def test_real_pytm_writes_the_fixture_again(tmp_path: Path) -> None:
    """The pytm fixture is what pytm itself writes from tests/data/threatmodels/pytm_pump.py."""
    python = _require_pytm()
    out = tmp_path / "again.json"
    done = subprocess.run(
        [python, str(DATA / "pytm_pump.py"), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    fresh = read_source(out, "pytm")
    fixture = read_source(PYTM_JSON, "pytm")
    assert [(t.key, t.status, t.title) for t in fresh.threats] == [
        (t.key, t.status, t.title) for t in fixture.threats
    ]


def test_vendored_pytm_table_matches_the_installed_library() -> None:
    python = _require_pytm()
    done = subprocess.run(
        [python, "-c", "import pytm, os; print(os.path.dirname(pytm.__file__))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    from tests.tools.threat_tables import pytm_table

    threats_json = Path(done.stdout.strip()) / "threatlib" / "threats.json"
    assert pytm_table(threats_json)["threats"] == table("pytm")["threats"]


def test_threat_dragon_reads_both_layouts_and_translated_types(tmp_path: Path) -> None:
    threats = _by_source(_model(tmp_path, TD_JSON))
    assert len(threats) == 4
    french = threats["0b9f6a52-1f0e-4c55-9a52-6a3c5e0d0002"]
    assert french.stride == "Spoofing"  # type: ignore[attr-defined]
    assert french.capec == ("CAPEC-70",)  # type: ignore[attr-defined]  # named in the text
    schema_layout = threats["0b9f6a52-1f0e-4c55-9a52-6a3c5e0d0004"]
    assert schema_layout.asset == "Drug library"  # type: ignore[attr-defined]
    flow = threats["0b9f6a52-1f0e-4c55-9a52-6a3c5e0d0003"]
    assert flow.asset == "Therapy command"  # type: ignore[attr-defined]  # one line
    assert threats["0b9f6a52-1f0e-4c55-9a52-6a3c5e0d0001"].provenance.mitigated  # type: ignore[attr-defined]


def test_threagile_joins_risks_json_on_the_synthetic_id(tmp_path: Path) -> None:
    alone = _by_source(_model(tmp_path, THREAGILE))
    assert set(alone) == {"weak-service-crypto@service-ssh", "debug-port-open@therapy-api"}
    joined = _by_source(_model(tmp_path, THREAGILE, risks=RISKS))
    assert len(joined) == 4
    link = joined["unencrypted-communication@therapy-api>telemetry@therapy-api"]
    assert link.stride == "Information disclosure"  # type: ignore[attr-defined]  # built-in table
    assert link.provenance.mitigated  # type: ignore[attr-defined]  # wildcard risk_tracking
    model = _model(tmp_path, THREAGILE, risks=RISKS)
    checks = {
        sid: model.control(t.controls[0]).checks  # type: ignore[attr-defined]
        for sid, t in _by_source(model).items()
    }
    assert checks["weak-service-crypto@service-ssh"] == ("CRYPTO-008",)  # upper-case tag
    assert checks["debug-port-open@therapy-api"] == ("SURFACE-005",)  # category check text
    assert checks[link.provenance.source_id] == ("CRYPTO-001", "CRYPTO-010")  # type: ignore[attr-defined]
    assert checks["missing-hardening@therapy-api"] == ("SURFACE-001",)  # the asset's tag


def test_otm_mitigations_become_shared_controls(tmp_path: Path) -> None:
    model = _model(tmp_path, OTM)
    threats = _by_source(model)
    ssh = threats["weak-ssh-algorithms"]
    assert ssh.provenance.mitigated  # type: ignore[attr-defined]
    assert [model.control(c).title for c in ssh.controls] == ["Strong SSH algorithms only"]  # type: ignore[attr-defined]
    assert model.threats_for_check("CRYPTO-008") == (ssh.id,)  # type: ignore[attr-defined]
    creds = threats["default-credentials"]
    assert not creds.provenance.mitigated  # type: ignore[attr-defined]  # exposed on two elements
    assert model.threats_for_check("AUTH-001") == (creds.id,)  # type: ignore[attr-defined]


def test_tm7_reads_state_justification_and_category(tmp_path: Path) -> None:
    threats = _by_source(_model(tmp_path, TM7))
    seven = threats["7"]
    assert seven.stride == "Information disclosure"  # type: ignore[attr-defined]
    assert seven.provenance.status == "Mitigated"  # type: ignore[attr-defined]
    assert seven.provenance.mapping == "inline"  # type: ignore[attr-defined]
    assert threats["9"].stride == "Denial of service"  # type: ignore[attr-defined]
    assert threats["8"].provenance.severity == "High"  # type: ignore[attr-defined]


# -- mapping order and errors ------------------------------------------------------------


def _write_map(path: Path, threats: dict[str, list[str]], **extra: object) -> Path:
    path.write_text(yaml.safe_dump({"schema": "medsec/tm-map/v1", **extra, "threats": threats}))
    return path


def test_the_mapping_file_wins_over_an_inline_tag(tmp_path: Path) -> None:
    key = "0b9f6a52-1f0e-4c55-9a52-6a3c5e0d0001"  # tagged CRYPTO-008 in the source
    map_path = _write_map(tmp_path / "map.yaml", {key: ["CRYPTO-009"]})
    threat = _by_source(_model(tmp_path, TD_JSON, map_path=map_path))[key]
    model = _model(tmp_path, TD_JSON, map_path=map_path)
    assert model.control(threat.controls[0]).checks == ("CRYPTO-009",)  # type: ignore[attr-defined]


def test_unknown_check_ids_name_the_file_and_the_threat(tmp_path: Path) -> None:
    key = "0b9f6a52-1f0e-4c55-9a52-6a3c5e0d0002"
    map_path = _write_map(tmp_path / "map.yaml", {key: ["AUTH-999"]})
    with pytest.raises(ProfileError) as caught:
        import_model(TD_JSON, map_path=map_path)
    text = str(caught.value)
    assert text.startswith(f"{map_path}:")
    assert key in text
    assert "AUTH-999" in text
    tagged = tmp_path / "td.json"
    tagged.write_text(TD_JSON.read_text().replace("medsec: CRYPTO-008", "medsec: CRYPTO-808"))
    with pytest.raises(ProfileError) as caught:
        import_model(tagged)
    text = str(caught.value)
    assert text.startswith(f"{tagged}:")
    assert "CRYPTO-808" in text
    assert "0b9f6a52-1f0e-4c55-9a52-6a3c5e0d0001" in text
    assert ".mitigation" in text


def test_a_map_entry_for_a_threat_the_source_lacks_is_an_error(tmp_path: Path) -> None:
    map_path = _write_map(tmp_path / "map.yaml", {"no-such-threat": ["AUTH-001"]})
    with pytest.raises(ProfileError, match=r"no threat with this id in threat_dragon_pump\.json"):
        import_model(TD_JSON, map_path=map_path)


def test_suggest_writes_a_draft_that_is_never_applied(tmp_path: Path) -> None:
    imported = import_model(TM7)
    draft = draft_mapping(imported)
    assert "draft: true" in draft
    data = yaml.safe_load(draft)
    assert data["threats"]["8"][:1] == ["AUTH-001"]  # "default password", Spoofing
    assert "7" not in data["threats"]  # already tagged in the source
    # The model written alongside is untouched by the suggestions.
    assert _by_source(_model(tmp_path, TM7))["8"].provenance.mapping == "none"  # type: ignore[attr-defined]
    draft_path = tmp_path / "draft.yaml"
    draft_path.write_text(draft)
    with pytest.raises(ProfileError, match="never applied"):
        import_model(TM7, map_path=draft_path)
    draft_path.write_text(draft.replace("draft: true\n", ""))
    confirmed = _by_source(_model(tmp_path, TM7, map_path=draft_path))["8"]
    assert confirmed.provenance.mapping == "map"  # type: ignore[attr-defined]


# -- hostile and broken input ------------------------------------------------------------


def _fails(path: Path, *words: str, fmt: str | None = None) -> str:
    with pytest.raises(ProfileError) as caught:
        import_model(path, fmt)  # type: ignore[arg-type]
    text = str(caught.value)
    assert text.startswith(str(path)), text
    for word in words:
        assert word in text, text
    return text


def test_a_file_past_the_byte_cap_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)
    _fails(big, "larger than", fmt="pytm")


def test_entity_bombs_and_external_entities_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.tm7"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE ThreatModel [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        "<ThreatModel>&c;</ThreatModel>"
    )
    _fails(bomb, "refused", "DTDForbidden")
    external = tmp_path / "xxe.tm7"
    external.write_text(
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<ThreatModel>&x;</ThreatModel>"
    )
    _fails(external, "refused")


def test_deep_json_and_not_utf8_are_located_errors(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    _fails(deep, "nested deeper", fmt="pytm")
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"name": "caf\xe9"}')
    _fails(latin, "not UTF-8", fmt="pytm")
    broken = tmp_path / "broken.json"
    broken.write_text('{"findings": [')
    _fails(broken, "invalid JSON", fmt="pytm")


def test_an_alias_bomb_in_a_yaml_source_is_refused(tmp_path: Path) -> None:
    lines = ["otmVersion: 0.2.0", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 7)]
    bomb = tmp_path / "bomb.otm.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    _fails(bomb, "aliases are expanded")


@pytest.mark.parametrize(
    ("source", "edit", "field", "words"),
    [
        (PYTM_JSON, lambda d: d["findings"][3].pop("threat_id"), "findings[3].threat_id",
         "missing"),
        (PYTM_JSON, lambda d: d["findings"][1].update(target=["x"]), "findings[1].target",
         "must be a string, not a list"),
        (PYTM_JSON, lambda d: d.update(findings={"a": 1}), "findings", "must be a list"),
        (TD_JSON, lambda d: d["detail"]["diagrams"][0]["cells"][0]["data"]["threats"][1].update(
            status=7.5), None, None),
        (TD_JSON, lambda d: d["detail"]["diagrams"][0]["cells"][1]["data"].update(threats="x"),
         "detail.diagrams[0].cells[1].data.threats", "must be a list"),
        (TD_JSON, lambda d: d["detail"]["diagrams"][0]["cells"][2]["threats"][0].pop("threatId"),
         "detail.diagrams[0].cells[2].threats[0].id", "missing"),
        (TD_JSON, lambda d: d.pop("detail"), "detail", "missing"),
    ],
)  # fmt: skip
def test_missing_fields_and_wrong_types_name_the_file_and_field(
    tmp_path: Path, source: Path, edit: object, field: str | None, words: str | None
) -> None:
    document = copy.deepcopy(json.loads(source.read_text()))
    edit(document)  # type: ignore[operator]
    path = tmp_path / source.name
    path.write_text(json.dumps(document))
    fmt = "pytm" if source == PYTM_JSON else "threat-dragon"
    if field is None:  # a number where text is expected is taken as its text
        assert import_model(path, fmt).source.threats  # type: ignore[arg-type]
        return
    _fails(path, f"{field}: {words}", fmt=fmt)


def test_wrong_types_in_yaml_and_xml_sources(tmp_path: Path) -> None:
    otm = tmp_path / "bad.otm.yaml"
    otm.write_text(OTM.read_text().replace("  - id: weak-ssh-algorithms\n", "  - id: [1, 2]\n"))
    text = _fails(otm, "threats[0].id: must be a string")
    assert f"{otm}:" in text
    assert text.split(":")[1].isdigit()
    dangling = tmp_path / "dangling.otm.yaml"
    dangling.write_text(OTM.read_text().replace("mitigation: signed-images", "mitigation: gone"))
    _fails(dangling, "names mitigation gone, which is not listed")
    no_id = tmp_path / "noid.tm7"
    no_id.write_text(TM7.read_text().replace("<b:Id>8</b:Id>", "<b:Id/>"))
    _fails(no_id, "ThreatInstances[1].Id: missing")
    other = tmp_path / "other.tm7"
    other.write_text("<Project><ThreatInstances/></Project>")
    _fails(other, "not a Threat Modeling Tool model")
    risks = tmp_path / "risks.json"
    risks.write_text('{"not": "a list"}')
    with pytest.raises(ProfileError, match="must be the list of risks"):
        import_model(THREAGILE, risks=risks)


def test_control_characters_never_reach_the_threat_model(tmp_path: Path) -> None:
    document = json.loads(TD_JSON.read_text())
    document["detail"]["diagrams"][0]["cells"][0]["data"]["threats"][0]["title"] = HOSTILE
    path = tmp_path / "td.json"
    path.write_text(json.dumps(document))
    model = _model(tmp_path, path)
    title = model.threats[0].title
    assert "<script>" in title  # kept as text: HTML escaping is the page's job
    assert "\x1b" not in title
    assert "\u202e" not in title


# -- the command, validate/trace, and the report -------------------------------------------


def test_the_command_writes_a_model_validate_and_trace_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tm.yaml"
    args = ["import-tm", str(PYTM_JSON), "--map", str(DATA / "pytm_pump.map.yaml"), "-o", str(out)]
    assert main([*args, "--suggest"]) == 0
    assert (tmp_path / "tm.map-draft.yaml").is_file()
    assert "93 threats from pytm" in capsys.readouterr().out
    assert main(args) == 2  # never overwrites without --force
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    profile = tmp_path / "pump.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "schema": "medsec/profile/v1",
                "device": {"name": "pump", "vendor": "Ex", "model": "IP-100", "firmware": "1.0"},
                "scope": {"allow": ["127.0.0.1/32"]},
                "threat_model": str(out),
            }
        )
    )
    assert main(["validate", str(profile)]) == 0
    assert "93 threats" in capsys.readouterr().out
    assert main(["trace", str(profile)]) == 0
    assert "CRYPTO-008" in capsys.readouterr().out
    assert main(["import-tm", str(TD_JSON), "--format", "pytm", "-o", str(tmp_path / "x")]) == 2
    assert "findings" in capsys.readouterr().err


def test_the_report_leads_with_mitigated_threats_whose_checks_failed(tmp_path: Path) -> None:
    document = json.loads(TD_JSON.read_text())
    document["detail"]["diagrams"][0]["cells"][0]["data"]["threats"][0]["title"] = HOSTILE
    source = tmp_path / "td.json"
    source.write_text(json.dumps(document))
    model = _model(tmp_path, source)
    results = report_sample.build_run(tmp_path / "run", 30)
    failed = CheckRecord(
        id="CRYPTO-008",
        title="SSH algorithms match policy",
        family="CRYPTO",
        target=f"ssh {HOSTILE}",
        outcome=Outcome.FAILED,
        reason="SSH offers hmac-sha1",
        threats=list(model.threats_for_check("CRYPTO-008")),
        controls=list(model.controls_for_check("CRYPTO-008")),
        standards=[],
        evidence=[],
        duration_s=0.1,
        nodeid="testsuites/test_encryption.py::test_ssh_algorithms_match_policy",
        started="2026-11-30T02:10:12+00:00",
        finished="2026-11-30T02:10:13+00:00",
    )
    results = results.model_copy(
        update={
            "checks": [r for r in results.checks if r.id != "CRYPTO-008"] + [failed],
            "threat_model": ThreatModelInfo(
                path=str(source),
                sha256="00" * 32,
                system=model.system,
                document=model.model_dump(mode="json", by_alias=True),
            ),
        }
    )
    rows = matrix.build(model, results.checks, results.implemented)
    assert [r.threat.id for r in matrix.mitigated_but_failing(rows)] == ["TM-1"]
    html = render(results, tmp_path / "run")
    page = BeautifulSoup(html, "html.parser")
    verdict = page.find(id="verdict")
    assert verdict is not None
    headline = verdict.find(class_="headline")
    assert headline is not None
    assert "Headline: 1 threat" in headline.get_text()
    assert headline.find("a", href="#t-TM-1") is not None
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "\x1b" not in headline.get_text()
    assert "\u202e" not in headline.get_text()
    rows_html = page.select("tr.result")
    assert len(rows_html) == len(results.checks)  # the row contract is untouched
    assert all(r.has_attr("data-check-id") for r in rows_html)
    # The matrix shows every imported threat and its source's STRIDE (or says none).
    matrix_part = page.find(id="matrix")
    assert matrix_part is not None
    assert all(matrix_part.find(id=f"t-{t.id}") for t in model.threats)
    pytm_model = _model(tmp_path, PYTM_JSON)
    unclassified = results.model_copy(
        update={
            "threat_model": ThreatModelInfo(
                path="x",
                sha256="00" * 32,
                system=pytm_model.system,
                document=pytm_model.model_dump(mode="json", by_alias=True),
            )
        }
    )
    assert "not classified" in render(unclassified, tmp_path / "run")


def test_regenerated_tables_are_the_vendored_ones() -> None:
    """tables/*.json are what tests/tools/threat_tables.py writes (the pytm one is
    compared with pytm itself above; these two from the fixtures' own words)."""
    dragon = table("threat-dragon")["stride"]
    assert dragon["Usurpation d'identité"] == "Spoofing"
    assert dragon["Information disclosure"] == "Information disclosure"
    threagile = table("threagile")["categories"]
    assert threagile["unencrypted-communication"]["stride"] == "Information disclosure"
    assert sys.version_info >= (3, 10)


def test_yaml_merge_keys_are_not_duplicates_but_real_duplicates_are(tmp_path: Path) -> None:
    """Threagile's own example model inherits data assets with `<<: *alias`."""
    merged = tmp_path / "merged.yaml"
    merged.write_text("base: &b {id: a, x: 1}\nchild:\n  <<: *b\n  id: c\n")
    assert yamlfile.load(merged).data["child"] == {"id": "c", "x": 1}
    twice = tmp_path / "twice.yaml"
    twice.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(ProfileError, match="3: a: duplicate key"):
        yamlfile.load(twice)
