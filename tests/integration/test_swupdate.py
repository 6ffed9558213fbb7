"""The update kit against a real update agent: Debian's SWUpdate on loopback.

Three agents run the UPDATE suite through `python -m harness run`, concurrently: the
hardened one (CMS signatures checked against the test CA, `-N`/`-R` floor, hardware
revision, HTTPS and Digest authentication on its web server) passes every check; one
without the downgrade floor fails exactly UPDATE-005; one whose web server takes uploads
without credentials fails exactly UPDATE-008.
"""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from harness.evidence.manifest import verify_run
from harness.reporting.results import Outcome, RunResults, load
from tests.integration.cli import medsec_run
from tests.integration.swupdate_agent import agent

RUN_TIMEOUT_S = 240
AGENTS = {  # label: (downgrade floor, authentication, the checks it must fail)
    "hardened": (True, True, frozenset()),
    "no-floor": (False, True, frozenset({"UPDATE-005"})),
    "open": (True, False, frozenset({"UPDATE-008"})),
}


def _run(profile: Path, out: Path) -> int:
    done = medsec_run(
        profile, out, "--suite", "update", "--allow-destructive", "--quiet", timeout=RUN_TIMEOUT_S
    )
    (out.parent / "run.log").write_text(done.stdout + done.stderr)
    return done.returncode


@pytest.fixture(scope="module")
def runs(
    private_network: None, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[int, RunResults, Path]]:
    base = tmp_path_factory.mktemp("swu")
    with contextlib.ExitStack() as stack:
        jobs = {}
        for index, (label, (floor, auth, _)) in enumerate(AGENTS.items()):
            folder = base / label
            running = stack.enter_context(
                agent(folder, f"127.0.10.{index + 2}", floor=floor, auth=auth)
            )
            profile = folder / "profile.yaml"
            profile.write_text(yaml.safe_dump(running.profile(), sort_keys=False))
            jobs[label] = (profile, folder / "run")
        with ThreadPoolExecutor(len(jobs)) as pool:
            codes = dict(zip(jobs, pool.map(lambda job: _run(*job), jobs.values()), strict=True))
    return {
        label: (codes[label], load(out / "results.json"), out) for label, (_, out) in jobs.items()
    }


def _outcomes(results: RunResults) -> dict[str, Outcome]:
    return {c.id: c.outcome for c in results.checks}


def test_hardened_swupdate_passes_every_update_check(runs) -> None:
    code, results, folder = runs["hardened"]
    outcomes = _outcomes(results)
    assert len(outcomes) == 11
    assert {k: v for k, v in outcomes.items() if v is not Outcome.PASSED} == {}, [
        (c.id, c.reason) for c in results.checks if c.outcome is not Outcome.PASSED
    ]
    assert code == 0
    assert verify_run(folder).ok


@pytest.mark.parametrize("label", ["no-floor", "open"])
def test_each_weak_swupdate_fails_exactly_its_check(runs, label: str) -> None:
    code, results, _ = runs[label]
    failed = {k for k, v in _outcomes(results).items() if v is Outcome.FAILED}
    assert failed == AGENTS[label][2], [(c.id, c.outcome.value, c.reason) for c in results.checks]
    assert Outcome.ERROR not in _outcomes(results).values()
    assert code == 1


def test_the_evidence_holds_swupdates_own_words_and_the_versions(runs) -> None:
    _, results, folder = runs["hardened"]
    checks = {c.id: c for c in results.checks}
    rollback = "\n".join(checks["UPDATE-005"].summary)
    assert "No downgrading allowed" in rollback
    assert "No reinstalling allowed" in rollback
    assert "version 2.0.0 -> 2.0.0: refused" in rollback
    signature = "\n".join(checks["UPDATE-003"].summary)
    assert "sw-description.sig left out of the archive" in signature
    assert "sha256 " in signature
    trial = json.loads(
        (folder / "evidence/UPDATE-004/update/untrusted-key-profile.json").read_text()
    )
    assert trial["reply"]["accepted"] is False
    assert "ERROR : Authentication of all signatures failed" in trial["reply"]["messages"]
    assert trial["version_before"] == trial["version_after"] == "2.0.0"
    _, weak, _ = runs["no-floor"]
    installed = next(c for c in weak.checks if c.id == "UPDATE-005")
    assert "installed, version 2.0.0 -> 1.0.0" in installed.reason
    _, open_agent, _ = runs["open"]
    taken = next(c for c in open_agent.checks if c.id == "UPDATE-008")
    # -R still refuses the reinstall, but only after SWUpdate took the image unauthenticated
    assert "took an image without valid credentials" in taken.reason
    assert "no credentials: refused" in taken.reason  # HTTP status or a dropped connection: racy
