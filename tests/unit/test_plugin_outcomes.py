"""How the plugin classifies the end of a check, pinned with pytester (a real pytest run).

An assertion is `failed`; a DeviceError, a timeout, the watchdog and any other exception
are `error`; `not_applicable(reason)` from a check or a fixture is `not_applicable`; a
waiver turns failed or error into `waived` and keeps the underlying outcome; secrets in a
traceback (even with --showlocals) never reach the terminal or the report.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.config import catalogue
from harness.plugin import hooks

pytest_plugins = ["pytester"]

PROFILE = """\
schema: medsec/profile/v1
device: {name: pytester pump, vendor: T, model: P-1, firmware: "1.0"}
scope: {allow: [127.0.0.1/32]}
network: {host: 127.0.0.1}
ssh: {username: service, password: "${PYTESTER_SECRET}"}
waivers:
  - {check: CRYPTO-008, justification: replaced in 3.0 (CAPA-1), expires: 2999-01-01,
     approved_by: QA lead, reference: CAPA-1}
"""

CHECKS = """
import time

import pytest

from harness.core.errors import DeviceTimeout, ProtocolViolation, inconclusive, not_applicable


@pytest.fixture
def missing_interface():
    not_applicable("the profile has no widget section")


@pytest.mark.check("AUTH-001")
def test_assertion_is_failed(profile):
    password = profile.ssh.password.get_secret_value()
    assert password == "something else", "the device accepted admin/admin"


@pytest.mark.check("AUTH-007")
def test_device_error_is_error():
    raise ProtocolViolation("127.0.0.1:22", "garbage instead of a banner")


@pytest.mark.check("AUTH-008")
def test_timeout_is_error():
    raise DeviceTimeout("127.0.0.1:22", "no answer within 3 s")


@pytest.mark.check("AUTH-013")
def test_other_exception_is_a_harness_error():
    {}["missing"]


@pytest.mark.check("CRYPTO-010")
def test_not_applicable_in_the_check():
    not_applicable("nothing to judge here")


@pytest.mark.check("CRYPTO-009")
def test_not_applicable_from_a_fixture(missing_interface):
    raise AssertionError("never reached")


@pytest.mark.check("CRYPTO-008")
def test_waived_failure():
    assert False, "console accepts root/root"


@pytest.mark.check("AUTH-011")
def test_inconclusive_is_error_not_failed():
    inconclusive("127.0.0.1:22", "the positive control failed: the refusals prove nothing")


@pytest.mark.check("SURFACE-001")
def test_passes():
    pass
"""


@dataclass(frozen=True)
class Run:
    checks: dict[str, dict[str, Any]]  # results.json checks by id
    terminal: str  # what pytest printed
    folder: Path


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("PYTESTER_SECRET", "Hunter2-very-secret")
    pytester.makefile(".yaml", profile=PROFILE)
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest_subprocess(
        "--profile", "profile.yaml", "--medsec-out", "run", "--showlocals", "-rA"
    )
    out = pytester.path / "run"
    results = json.loads((out / "results.json").read_text())
    return Run(
        {c["id"]: c for c in results["checks"]},
        result.stdout.str() + result.stderr.str(),
        out,
    )


def test_each_ending_gets_its_outcome(run: Run) -> None:
    outcomes = {check_id: check["outcome"] for check_id, check in run.checks.items()}
    assert outcomes == {
        "AUTH-001": "failed",
        "AUTH-007": "error",
        "AUTH-008": "error",
        "AUTH-013": "error",
        "CRYPTO-010": "not_applicable",
        "CRYPTO-009": "not_applicable",
        "CRYPTO-008": "waived",
        "AUTH-011": "error",
        "SURFACE-001": "passed",
    }
    assert run.checks["AUTH-001"]["reason"] == "the device accepted admin/admin"
    assert run.checks["AUTH-007"]["reason"].startswith("device error: 127.0.0.1:22: garbage")
    assert run.checks["AUTH-008"]["reason"] == "device error: 127.0.0.1:22: no answer within 3 s"
    assert run.checks["AUTH-013"]["reason"] == "harness error: KeyError: 'missing'"
    assert run.checks["AUTH-011"]["reason"] == (
        "inconclusive: 127.0.0.1:22: the positive control failed: the refusals prove nothing"
    )
    assert run.checks["CRYPTO-010"]["reason"] == "nothing to judge here"
    assert run.checks["CRYPTO-009"]["reason"] == "the profile has no widget section"
    assert run.checks["CRYPTO-008"]["underlying_outcome"] == "failed"
    waiver = run.checks["CRYPTO-008"]["waiver"]
    assert (waiver["approved_by"], waiver["reference"]) == ("QA lead", "CAPA-1")


def test_no_secret_in_the_terminal_or_the_run_folder(run: Run) -> None:
    assert "test_assertion_is_failed" in run.terminal  # the traceback was printed...
    assert "Hunter2-very-secret" not in run.terminal  # ...without the secret
    assert "«ssh.password»" in run.terminal  # named by the profile key that holds it
    for path in run.folder.rglob("*"):
        if path.is_file():
            assert b"Hunter2-very-secret" not in path.read_bytes(), path
    assert "test_assertion_is_failed" not in (run.folder / "report.html").read_text()


def test_the_watchdog_ends_a_hanging_check_as_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTESTER_SECRET", "x")
    pytester.makefile(".yaml", profile=PROFILE)
    pytester.makepyfile(
        test_hang=textwrap.dedent(
            """
            import time
            import pytest
            from harness.plugin import watchdog

            watchdog.budget_s = lambda policy: 0.5

            @pytest.mark.check("AUTH-001")
            def test_hangs():
                # Sliced, as the harness's own waits are: a check running in a lane is
                # interrupted between Python steps, not inside one 30 s C call.
                for _ in range(300):
                    time.sleep(0.1)
            """
        )
    )
    result = pytester.runpytest_subprocess("--profile", "profile.yaml", "--medsec-out", "run")
    results = json.loads((pytester.path / "run" / "results.json").read_text())
    assert result.ret != 0
    (check,) = results["checks"]
    assert check["outcome"] == "error"
    assert "did not finish within" in check["reason"]
    assert check["duration_s"] < 10  # ended by the watchdog, not by the end of the wait


@pytest.mark.parametrize(
    ("check", "target"),
    [("ROBUST-004", "device"), ("SURFACE-004", "network"), ("SURFACE-001", "network")],
)
def test_an_unparametrized_check_is_named_after_what_it_judges(check: str, target: str) -> None:
    # ROBUST-004 judges SSH, HTTP and TLS at once: naming the first would mislead a reader
    item = SimpleNamespace()  # no callspec: the check has one target
    assert hooks._target(item, catalogue.CATALOGUE[check]) == target  # type: ignore[arg-type]
