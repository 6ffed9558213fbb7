"""SARIF 2.1.0 output: rules from the catalogue, outcomes as kinds, lines from the profile.

Every log built here is validated against the official schema (tests/data, see its
SOURCE.md), so a mapping that drifts from SARIF fails where it is made.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.config import catalogue
from harness.config.catalogue import Severity
from harness.reporting import results as res
from harness.reporting import sarif, sarif_rules
from harness.reporting.results import Outcome
from harness.reporting.sarif import SarifMode
from harness.reporting.sarif_sites import ProfileSites
from tests.unit.sarif_sample import (
    LINES,
    SCHEMA,
    SCHEMA_SHA256,
    SECRET,
    every_outcome,
    record,
    run_results,
    schema_errors,
    write_profile,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "CATALOGUE.md"


def _build(tmp_path: Path, checks: list[Any], mode: SarifMode, **extra: Any) -> dict[str, Any]:
    profile = write_profile(tmp_path)
    results = run_results(checks, profile, **extra)
    return sarif.build(results, tmp_path / "reports" / "run1", mode, source_root=tmp_path)


def _run(log: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = log["runs"][0]
    return run


def _by_target(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{r['ruleId']}[{r['properties']['target']}]": r for r in _run(log)["results"]}


def test_the_vendored_schema_is_the_official_file() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(SCHEMA.read_text())
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")


def test_the_schema_check_catches_a_wrong_kind(tmp_path: Path) -> None:
    log = _build(tmp_path, every_outcome(), SarifMode.FULL)
    _run(log)["results"][0]["kind"] = "waived"
    assert any("waived" in error for error in schema_errors(log))


def test_one_rule_per_catalogue_check_with_its_severity_and_cwes(tmp_path: Path) -> None:
    log = _build(tmp_path, [], SarifMode.GITHUB)
    run = _run(log)
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(catalogue.CATALOGUE)
    taxa = run["taxonomies"][0]["taxa"]
    scores = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
    levels = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
    for rule in rules:
        spec = catalogue.get(rule["id"])
        assert rule["properties"]["security-severity"] == scores[spec.severity.value]
        assert rule["defaultConfiguration"]["level"] == levels[spec.severity.value]
        assert rule["shortDescription"]["text"] == spec.title
        assert spec.criterion in rule["help"]["markdown"]
        assert "`" not in rule["help"]["text"]
        assert re.fullmatch(r"(?:[A-Z][a-z0-9]*)+", rule["name"]), rule["name"]
        tags = rule["properties"]["tags"]
        assert {"security", spec.family.value.lower(), *spec.interfaces} <= set(tags)
        cited = [r["target"]["id"] for r in rule["relationships"]]
        assert cited == list(spec.cwe)
        for relationship in rule["relationships"]:
            target = relationship["target"]
            assert taxa[target["index"]]["id"] == target["id"]
            assert target["toolComponent"] == {"name": "CWE", "index": 0}
        assert [t for t in tags if t.startswith("external/cwe/")] == [
            f"external/cwe/{c.lower()}" for c in spec.cwe
        ]
    assert run["tool"]["driver"]["supportedTaxonomies"] == [{"name": "CWE", "index": 0}]
    assert schema_errors(log) == []


def test_severity_scores_fall_in_githubs_bands() -> None:
    bands = {
        Severity.CRITICAL: (9.0, 10.0),
        Severity.HIGH: (7.0, 8.9),
        Severity.MEDIUM: (4.0, 6.9),
        Severity.LOW: (0.1, 3.9),
    }
    for severity, (low, high) in bands.items():
        assert low <= sarif_rules.SEVERITY[severity].score <= high


def _github_slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_help_uris_point_at_catalogue_sections_that_exist(tmp_path: Path) -> None:
    anchors = {
        _github_slug(line[3:]) for line in DOC.read_text().splitlines() if line.startswith("## ")
    }
    assert set(sarif_rules.FAMILY_ANCHORS.values()) <= anchors
    rules = _run(_build(tmp_path, [], SarifMode.GITHUB))["tool"]["driver"]["rules"]
    for rule in rules:
        assert rule["helpUri"].split("#")[0].endswith("/docs/CATALOGUE.md")
        assert rule["helpUri"].split("#")[1] in anchors


def test_github_mode_has_one_result_per_failed_check_and_target(tmp_path: Path) -> None:
    log = _build(tmp_path, every_outcome(), SarifMode.GITHUB)
    found = _by_target(log)
    assert set(found) == {"CRYPTO-001[therapy-api]", "SURFACE-001[network]"}
    assert {r["kind"] for r in found.values()} == {"fail"}
    assert found["CRYPTO-001[therapy-api]"]["level"] == "error"  # high
    assert found["SURFACE-001[network]"]["level"] == "error"  # high
    assert schema_errors(log) == []


def test_full_mode_has_every_outcome_as_its_kind(tmp_path: Path) -> None:
    log = _build(tmp_path, every_outcome(), SarifMode.FULL)
    found = _by_target(log)
    kinds = {key: (r["kind"], r["level"]) for key, r in found.items()}
    assert kinds == {
        "CRYPTO-001[therapy-api]": ("fail", "error"),
        "CRYPTO-008[ssh]": ("pass", "none"),
        "AUTH-002[serial]": ("review", "none"),
        "SURFACE-009[network]": ("notApplicable", "none"),
        "CRYPTO-007[telemetry]": ("fail", "warning"),  # medium; waived: its underlying failure
        "SURFACE-001[network]": ("fail", "error"),
    }
    assert [k for k, r in found.items() if "suppressions" in r] == ["CRYPTO-007[telemetry]"]
    (suppression,) = found["CRYPTO-007[telemetry]"]["suppressions"]
    assert suppression["kind"] == "external"
    assert suppression["status"] == "accepted"
    assert suppression["justification"].startswith("Legacy broker replaced in release 3.0")
    assert "QA lead" in suppression["justification"]
    assert "CAPA-1187" in suppression["justification"]
    assert "waived" in found["CRYPTO-007[telemetry]"]["message"]["text"]
    assert schema_errors(log) == []


def _site(check_id: str, target: str, tmp_path: Path) -> tuple[int, str]:
    site = ProfileSites.read(write_profile(tmp_path)).site(check_id, target)
    return site.line, site.address


@pytest.mark.parametrize(
    ("check_id", "target", "line", "address"),
    [
        ("CRYPTO-001", "therapy-api", "therapy-api", "tls://192.0.2.10:443"),
        ("CRYPTO-011", "telemetry", "telemetry", "tls://192.0.2.10:8883"),
        # a service called `ssh`: a TLS-family check means the service, ROBUST-002 the section
        ("ROBUST-007", "ssh", "ssh-service", "ssh://192.0.2.10:22"),
        ("ROBUST-002", "ssh", "ssh", "ssh://192.0.2.10:22"),
        ("CRYPTO-008", "ssh", "ssh", "ssh://192.0.2.10:22"),
        ("AUTH-002", "serial", "serial", "serial://socket://192.0.2.10:4000"),
        ("AUTH-003", "http", "http", "https://192.0.2.10:443/api"),
        ("UPDATE-002", "update", "update", "https://192.0.2.10:443/api/update"),
        ("AUTH-010", "mqtt", "broker", "mqtt://192.0.2.10:1883"),
        ("SURFACE-001", "network", "expected_tcp", "tcp://192.0.2.10"),
        ("CRYPTO-010", "network", "network", "tcp://192.0.2.10"),
        ("SURFACE-009", "network", "network", "tcp://192.0.2.10"),  # no host6 key
        ("ROBUST-004", "device", "device", "device://Bench%20pump"),
        ("CRYPTO-012", "tls", "tls_client", "tls-client://192.0.2.10"),
        ("SURFACE-002", "network", "expected_udp", "udp://192.0.2.10"),
    ],
)
def test_each_target_points_at_its_profile_line(
    check_id: str, target: str, line: str, address: str, tmp_path: Path
) -> None:
    assert _site(check_id, target, tmp_path) == (LINES[line], address)


def test_a_check_key_the_profile_lacks_falls_back_to_the_target(tmp_path: Path) -> None:
    # SURFACE-007 points at `sbom:`; the sample profile has none, so at `network:`.
    assert _site("SURFACE-007", "network", tmp_path) == (LINES["network"], "tcp://192.0.2.10")


def test_host6_and_sbom_have_lines_of_their_own(tmp_path: Path) -> None:
    path = write_profile(tmp_path)
    text = path.read_text().replace(
        "  expected_udp: []\n", "  expected_udp: []\n  host6: 2001:db8::10\n"
    )
    path.write_text(text + "sbom: pump.cdx.json\n")
    lines = path.read_text().splitlines()
    sites = ProfileSites.read(path)
    ipv6 = sites.site("SURFACE-009", "network")
    assert (lines[ipv6.line - 1], ipv6.address) == ("  host6: 2001:db8::10", "tcp://[2001:db8::10]")
    assert lines[sites.site("SURFACE-007", "network").line - 1] == "sbom: pump.cdx.json"


def test_an_unknown_target_or_unreadable_profile_points_at_line_one(tmp_path: Path) -> None:
    assert _site("CRYPTO-001", "gone-service", tmp_path) == (1, "medsec:gone-service")
    missing = ProfileSites.read(tmp_path / "nowhere.yaml")
    assert missing.problem
    assert missing.site("CRYPTO-008", "ssh").line == 1


def test_locations_are_relative_to_the_source_root(tmp_path: Path) -> None:
    log = _build(tmp_path, every_outcome(), SarifMode.GITHUB)
    run = _run(log)
    result = _by_target(log)["CRYPTO-001[therapy-api]"]
    (location,) = result["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "profiles/bench.yaml", "uriBaseId": "%SRCROOT%"}
    assert physical["region"] == {"startLine": LINES["therapy-api"]}
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "tls://192.0.2.10:443"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"
    assert run["originalUriBaseIds"]["RUNDIR"] == {"uri": "reports/run1/", "uriBaseId": "%SRCROOT%"}
    (attachment,) = result["attachments"]
    assert attachment["artifactLocation"] == {
        "uri": "evidence/CRYPTO-001/therapy-api/transcript.txt",
        "uriBaseId": "RUNDIR",
    }
    assert "evidence/CRYPTO-001/therapy-api/transcript.txt" in result["message"]["text"]


def test_fingerprints_follow_check_target_and_device_only(tmp_path: Path) -> None:
    first = _by_target(_build(tmp_path, every_outcome(), SarifMode.FULL))
    later = run_results(
        every_outcome(), write_profile(tmp_path), firmware="2.5.0", finished=None, status="aborted"
    )
    later.started = "2027-01-01T00:00:00+00:00"
    second = _by_target(sarif.build(later, tmp_path, SarifMode.FULL, source_root=tmp_path))
    prints = {k: r["partialFingerprints"] for k, r in first.items()}
    assert prints == {k: r["partialFingerprints"] for k, r in second.items()}
    assert len({p[sarif.FINGERPRINT] for p in prints.values()}) == len(prints)
    device = {"name": "Bench pump", "serial_number": "SN-1"}
    other_unit = {"name": "Bench pump", "serial_number": "SN-2"}
    assert sarif.fingerprint("AUTH-001", "ssh", device) != sarif.fingerprint(
        "AUTH-001", "ssh", other_unit
    )


def test_run_identity_times_and_an_interrupted_run(tmp_path: Path) -> None:
    log = _build(
        tmp_path,
        every_outcome()[:2],
        SarifMode.FULL,
        status="interrupted",
        not_run=["testsuites/x.py::a", "testsuites/x.py::b"],
    )
    run = _run(log)
    assert run["automationDetails"]["id"] == "medsec/bench-pump-sn-1/2026-11-30T02:10:12.345Z"
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["startTimeUtc"] == "2026-11-30T02:10:12.345Z"
    assert invocation["endTimeUtc"] == "2026-11-30T02:12:00.000Z"
    notes = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert notes == [
        "the run did not complete (status interrupted): 2 collected checks did not finish "
        "and have no result"
    ]
    assert run["tool"]["driver"]["name"] == "medsec-harness"
    assert run["tool"]["driver"]["version"] == "0.1.0"
    assert schema_errors(log) == []


def test_a_profile_edited_since_the_run_is_noted(tmp_path: Path) -> None:
    profile = write_profile(tmp_path)
    results = run_results(every_outcome(), profile)
    profile.write_text(profile.read_text() + "# edited\n")
    log = sarif.build(results, tmp_path, SarifMode.GITHUB, source_root=tmp_path)
    notes = _run(log)["invocations"][0]["toolExecutionNotifications"]
    assert "changed since the run" in notes[0]["message"]["text"]


HOSTILE = (
    'quote " backslash \\ nul \x00 esc \x1b[31mred\x1b[0m osc \x1b]0;title\x07 '
    "bidi \u202eevil\u202c lone \udc80 surrogate </script> line\u2028sep\nnext"
)


def test_hostile_device_strings_stay_inside_their_json_string(tmp_path: Path) -> None:
    long_reason = HOSTILE + " " + "A" * 20_000
    checks = [record("CRYPTO-001", "therapy-api", Outcome.FAILED, long_reason)]
    log = _build(tmp_path, checks, SarifMode.FULL)
    text = sarif.dumps(log)
    text.encode("utf-8")  # no lone surrogate left to encode
    message = json.loads(text)["runs"][0]["results"][0]["message"]["text"]
    assert 'quote " backslash \\ nul' in message
    assert "</script>" in message
    for char in message:
        assert char == "\n" or unicodedata.category(char) not in ("Cc", "Cf", "Cs"), repr(char)
    assert "\x1b" not in message
    assert "\u202e" not in message
    assert len(message) < 6000
    assert schema_errors(log) == []


def test_secrets_in_the_profile_never_reach_the_log(tmp_path: Path) -> None:
    checks = [
        record("AUTH-003", "http", Outcome.FAILED, "admin/ad*** opened a session"),
        record("AUTH-002", "serial", Outcome.FAILED, "root/«serial.password» got a shell"),
    ]
    text = sarif.dumps(_build(tmp_path, checks, SarifMode.FULL))
    assert SECRET not in text
    assert "https://192.0.2.10:443/api" in text  # the address, without user or query
    assert "«serial.password»" in text  # as redacted in results.json


def _run_folder(tmp_path: Path) -> Path:
    profile = write_profile(tmp_path)
    folder = tmp_path / "reports" / "run1"
    folder.mkdir(parents=True)
    res.save(run_results(every_outcome(), profile), folder / "results.json")
    return folder


def test_medsec_sarif_writes_stdout_or_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _run_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["sarif", str(folder)]) == 0
    github = json.loads(capsys.readouterr().out)
    assert len(github["runs"][0]["results"]) == 2
    out = tmp_path / "full.sarif"
    assert main(["sarif", str(folder), "--mode", "full", "-o", str(out)]) == 0
    full = json.loads(out.read_text())
    assert len(full["runs"][0]["results"]) == len(every_outcome())
    assert "6 results (full mode)" in capsys.readouterr().err
    location = full["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "profiles/bench.yaml"
    assert schema_errors(github) == schema_errors(full) == []


def test_medsec_sarif_reads_the_journal_of_a_run_cut_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _run_folder(tmp_path)
    results = res.load(folder / "results.json")
    results.checks = []  # as written at the start of a run that died
    res.save(results, folder / "results.json")
    journal = "".join(c.model_dump_json() + "\n" for c in every_outcome())
    (folder / res.CHECKS_LOG).write_text(journal + '{"torn')
    assert main(["sarif", str(folder), "--profile", str(tmp_path / "profiles/bench.yaml")]) == 0
    assert len(json.loads(capsys.readouterr().out)["runs"][0]["results"]) == 2


def test_medsec_sarif_refuses_a_folder_without_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sarif", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["sarif", str(tmp_path), "--mode", "sideways"]) == 2


def test_medsec_run_refuses_a_sarif_path_in_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "schema: medsec/profile/v1\n"
        "device: {name: x, vendor: y, model: z, firmware: '1'}\n"
        "scope: {allow: [127.0.0.1/32]}\n"
    )
    missing = tmp_path / "no" / "such" / "log.sarif"
    assert main(["run", str(profile), "--out", str(tmp_path / "run"), "--sarif", str(missing)]) == 2
    assert "--sarif: no folder" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything ran
