"""SARIF from real runs: the vulnerable emulator, `--suite crypto`, both modes, twice.

The runs start from a folder laid out as a repository (`profiles/pump.yaml` below the
working directory), as CI would upload them; `medsec run --sarif` writes one log at the
end of each run (also one cut short by Ctrl-C) and `medsec sarif` writes the other mode
from the run folder. Every log is validated against the official schema, and with
`@microsoft/sarif-multitool` where it is installed (`.ci/run` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.config.profile import load_profile
from harness.reporting.results import Outcome, RunResults, load
from harness.sim.process import EmulatorProcess
from tests.integration.daemons import require
from tests.unit.sarif_sample import schema_errors

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.13.2"
PROFILE = Path("profiles/pump.yaml")
# One planted failure accepted by the profile: a waived result with an accepted suppression.
WAIVER = """
waivers:
  - check: CRYPTO-011
    target: telemetry
    justification: 'Broker answers cleartext CONNECTs until 3.0 "mTLS" (CAPA-2001)'
    expires: 2099-12-31
    approved_by: QA lead
    reference: CAPA-2001
"""
MULTITOOL = REPO / ".sarif-tools" / "node_modules" / ".bin" / "sarif-multitool"
KINDS = {
    Outcome.FAILED: "fail",
    Outcome.WAIVED: "fail",  # its underlying failure, with an accepted suppression
    Outcome.PASSED: "pass",
    Outcome.ERROR: "review",
    Outcome.NOT_APPLICABLE: "notApplicable",
}


def medsec_in(folder: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`medsec ARGS...` with `folder` as the working directory (the repository root)."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=folder,
    )


@dataclass
class Runs:
    """Two crypto runs of one vulnerable pump, with a SARIF log of each mode of each."""

    folder: Path
    results: dict[str, RunResults]
    logs: dict[str, dict[str, Any]]  # "one-github", "one-full", "two-github", "two-full"
    secrets: list[str]
    durations: dict[str, float]


def _run(folder: Path, name: str, mode: str) -> tuple[RunResults, float]:
    started = time.monotonic()
    done = medsec_in(
        folder,
        "run",
        str(PROFILE),
        "--out",
        f"runs/{name}",
        "--suite",
        "crypto",
        "--quiet",
        "--sarif",
        f"{name}-{mode}.sarif",
        "--sarif-mode",
        mode,
    )
    assert done.returncode == 1, done.stderr[-3000:]  # failures planted
    assert f"sarif    {folder / f'{name}-{mode}.sarif'}" in done.stderr
    return load(folder / "runs" / name / "results.json"), time.monotonic() - started


@pytest.fixture(scope="module")
def runs(private_network: None, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    folder = tmp_path_factory.mktemp("sarif-repo")
    with EmulatorProcess("pump", HOST, folder / "emulator", "vulnerable") as emulator:
        (folder / "profiles").mkdir()
        shutil.copy(emulator.profile, folder / PROFILE)
        with (folder / PROFILE).open("a") as profile:
            profile.write(WAIVER)
        one, first = _run(folder, "one", "github")
        two, second = _run(folder, "two", "full")
        for name, mode in (("one", "full"), ("two", "github")):
            done = medsec_in(
                folder, "sarif", f"runs/{name}", "--mode", mode, "-o", f"{name}-{mode}.sarif"
            )
            assert done.returncode == 0, done.stderr
    logs = {
        f"{name}-{mode}": json.loads((folder / f"{name}-{mode}.sarif").read_text())
        for name in ("one", "two")
        for mode in ("github", "full")
    }
    secrets = list(load_profile(folder / PROFILE).secret_names)
    return Runs(folder, {"one": one, "two": two}, logs, secrets, {"one": first, "two": second})


def _results(log: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = log["runs"][0]["results"]
    return found


def _key(result: dict[str, Any]) -> tuple[str, str]:
    return result["ruleId"], result["properties"]["target"]


def test_every_log_is_valid_sarif(runs: Runs) -> None:
    for name, log in runs.logs.items():
        assert schema_errors(log) == [], name
        assert log["version"] == "2.1.0"


def test_github_mode_has_one_result_per_failed_check_and_target(runs: Runs) -> None:
    for name in ("one", "two"):
        failed = {
            (c.id, c.target) for c in runs.results[name].checks if c.outcome is Outcome.FAILED
        }
        results = _results(runs.logs[f"{name}-github"])
        assert sorted(map(_key, results)) == sorted(failed)
        assert {r["kind"] for r in results} == {"fail"}
    planted = {("CRYPTO-001", "therapy-api"), ("CRYPTO-004", "telemetry"), ("CRYPTO-008", "ssh")}
    assert planted <= set(map(_key, _results(runs.logs["one-github"])))
    assert ("CRYPTO-011", "telemetry") not in set(map(_key, _results(runs.logs["one-github"])))


def test_the_waived_failure_is_an_accepted_suppression(runs: Runs) -> None:
    (waived,) = [r for r in _results(runs.logs["two-full"]) if "suppressions" in r]
    assert _key(waived) == ("CRYPTO-011", "telemetry")
    assert waived["properties"]["outcome"] == "waived"
    (suppression,) = waived["suppressions"]
    assert suppression["kind"] == "external"
    assert suppression["status"] == "accepted"
    assert 'until 3.0 "mTLS" (CAPA-2001)' in suppression["justification"]
    assert "approved by QA lead" in suppression["justification"]


def test_full_mode_has_every_record_as_its_kind(runs: Runs) -> None:
    for name in ("one", "two"):
        records = runs.results[name].checks
        results = _results(runs.logs[f"{name}-full"])
        assert len(results) == len(records)
        expected = sorted((c.id, c.target, KINDS[c.outcome]) for c in records)
        assert sorted((*_key(r), r["kind"]) for r in results) == expected
        assert {r["kind"] for r in results} >= {"fail", "pass"}


def test_the_same_finding_has_the_same_fingerprint_in_both_runs(runs: Runs) -> None:
    prints = {
        name: {_key(r): r["partialFingerprints"] for r in _results(runs.logs[f"{name}-full"])}
        for name in ("one", "two")
    }
    assert prints["one"] == prints["two"]
    ids = [runs.logs[f"{n}-github"]["runs"][0]["automationDetails"]["id"] for n in ("one", "two")]
    assert ids[0] != ids[1]
    assert ids[0].rsplit("/", 1)[0] == ids[1].rsplit("/", 1)[0]  # one category per device


def test_results_point_at_the_profile_lines_of_their_targets(runs: Runs) -> None:
    lines = (runs.folder / PROFILE).read_text().splitlines()
    for result in _results(runs.logs["one-full"]):
        rule, target = _key(result)
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"] == {
            "uri": "profiles/pump.yaml",
            "uriBaseId": "%SRCROOT%",
        }
        line = lines[physical["region"]["startLine"] - 1]
        address = result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
        if target in ("therapy-api", "telemetry"):
            assert line.strip() == f"- name: {target}", (rule, line)
            assert address.startswith(f"tls://{HOST}:")
        elif target == "ssh":
            assert line == "ssh:", (rule, line)
            assert address.startswith(f"ssh://{HOST}:")
        elif rule == "CRYPTO-012":  # the device as a TLS client of the harness
            assert (target, line) == ("tls", "tls_client:")
            assert address == f"tls-client://{HOST}"
        else:
            assert target == "network", (rule, target)
            assert line == "network:", (rule, line)


def test_evidence_is_attached_by_its_path_in_the_run_folder(runs: Runs) -> None:
    run_dir = runs.folder / "runs" / "one"
    log = runs.logs["one-github"]
    base = log["runs"][0]["originalUriBaseIds"]["RUNDIR"]
    assert base == {"uri": "runs/one/", "uriBaseId": "%SRCROOT%"}
    for result in _results(log):
        assert result["attachments"], result["ruleId"]
        for attachment in result["attachments"]:
            assert (run_dir / attachment["artifactLocation"]["uri"]).is_file()


def test_no_profile_secret_reaches_a_log(runs: Runs) -> None:
    assert runs.secrets  # the emulator's profile holds console and API passwords
    for name in runs.logs:
        text = (runs.folder / f"{name}.sarif").read_text()
        for secret in runs.secrets:
            assert secret not in text, name


def test_an_interrupted_run_still_writes_its_sarif(runs: Runs) -> None:
    folder = runs.folder
    out = folder / "runs" / "cut"
    with EmulatorProcess("again", HOST, folder / "emulator-again", "vulnerable") as emulator:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "harness", "run", str(emulator.profile)),
                *("--out", str(out), "--suite", "crypto", "--quiet", "--sarif", "cut.sarif"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=folder,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = out / "checks.jsonl"
            if log.is_file() and log.read_text().strip():
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 130
    log = json.loads((folder / "cut.sarif").read_text())
    assert schema_errors(log) == []
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = " ".join(n["message"]["text"] for n in invocation["toolExecutionNotifications"])
    assert "the run did not complete (status interrupted)" in notes
    results = load(out / "results.json")
    failed = [c for c in results.checks if c.outcome is Outcome.FAILED]
    assert len(_results(log)) == len(failed)


@pytest.fixture(scope="module")
def multitool() -> Path:
    """Microsoft's validator (asked before the runs, so that a skip costs nothing)."""
    configured = os.environ.get("MEDSEC_SARIF_MULTITOOL")
    tool = Path(configured) if configured else MULTITOOL
    require(tool.is_file(), f"@microsoft/sarif-multitool is not installed at {tool} (.ci/run)")
    return tool


@pytest.mark.parametrize("name", ["one-github", "two-full"])
def test_sarif_multitool_validates_both_modes(
    multitool: Path, runs: Runs, name: str, tmp_path: Path
) -> None:
    report = tmp_path / "validation.sarif"
    done = subprocess.run(
        [
            *(str(multitool), "validate", str(runs.folder / f"{name}.sarif")),
            *("-o", str(report), "--log", "ForceOverwrite"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    findings = json.loads(report.read_text())["runs"][0].get("results", [])
    serious = [f for f in findings if f.get("level", "warning") in ("error", "warning")]
    assert serious == [], json.dumps(serious, indent=1)[:3000]


def test_a_tampered_run_folder_gets_no_sarif(runs: Runs) -> None:
    tampered = runs.folder / "runs" / "tampered"
    shutil.copytree(runs.folder / "runs" / "one", tampered)
    results = tampered / "results.json"
    results.write_text(results.read_text().replace('"failed"', '"passed"'))
    done = medsec_in(runs.folder, "sarif", "runs/tampered", "-o", "tampered.sarif")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "does not verify" in done.stderr
    assert not (runs.folder / "tampered.sarif").exists()
