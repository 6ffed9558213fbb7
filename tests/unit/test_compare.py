"""`medsec compare`: outcomes classified, evidence diffed and bounded, bad input refused."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from harness.cli import main
from harness.cli.compare import show
from harness.reporting import compare_page
from harness.reporting.compare import Change, classify, compare_runs
from harness.reporting.evidence_diff import MAX_FILE_BYTES, MAX_ITEMS, flatten
from harness.reporting.results import Outcome
from harness.reporting.sources import RunInputError, load_verified
from tests.unit.run_folders import make_run

P, F, E, N, W = (
    Outcome.PASSED,
    Outcome.FAILED,
    Outcome.ERROR,
    Outcome.NOT_APPLICABLE,
    Outcome.WAIVED,
)
HOSTILE = "<script>alert(1)</script>\x1b]0;owned\x07\x1b[2J\u202eevil[/]"


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        (P, F, Change.REGRESSED),
        (N, F, Change.NEWLY_FAILING),
        (None, F, Change.NEWLY_FAILING),
        (E, F, Change.NEWLY_FAILING),
        (P, E, Change.NEWLY_ERROR),
        (None, E, Change.NEWLY_ERROR),
        (F, F, Change.STILL_FAILING),
        (E, E, Change.STILL_FAILING),
        (W, F, Change.STILL_FAILING),
        (F, P, Change.FIXED),
        (W, P, Change.FIXED),
        (P, N, Change.NEWLY_NOT_APPLICABLE),
        (N, P, Change.NEWLY_PASSING),
        (P, W, Change.NEWLY_WAIVED),
        (W, W, Change.UNCHANGED),
        (N, N, Change.UNCHANGED),
        (P, P, Change.UNCHANGED_PASS),
        (None, P, Change.ADDED),
        (P, None, Change.REMOVED),
    ],
)
def test_every_transition_has_one_change(
    tmp_path: Path, before: Outcome | None, after: Outcome | None, change: Change
) -> None:
    old_checks = [("AUTH-001", "ssh", before)] if before else [("AUTH-002", "serial", P)]
    new_checks = [("AUTH-001", "ssh", after)] if after else [("AUTH-002", "serial", P)]
    old = load_verified(make_run(tmp_path / "old", old_checks))
    new = load_verified(make_run(tmp_path / "new", new_checks))
    found = {(c.check_id, c.target): c.change for c in compare_runs(old, new).changes}
    assert found[("AUTH-001", "ssh")] is change
    assert change.gates == (change in (Change.REGRESSED, Change.NEWLY_FAILING, Change.NEWLY_ERROR))


def test_classify_reads_a_waived_failure_as_the_failure_it_was() -> None:
    assert classify(None, None) is Change.REMOVED


def _suites(*names: str) -> dict[str, object]:
    return {"TLS 1.2": {"accepted": list(names), "encrypt_then_mac": [], "server_order": True}}


def test_structured_evidence_is_diffed_by_kind(tmp_path: Path) -> None:
    checks = [("CRYPTO-002", "api", P), ("CRYPTO-008", "ssh", P), ("SURFACE-001", "network", P)]
    scan = {"scan": {"open": [22, 443]}, "unexpected": [], "expected_closed": []}
    old = make_run(
        tmp_path / "old",
        checks,
        evidence={
            ("CRYPTO-002", "api"): {"suites.json": _suites("TLS_AES_GCM")},
            ("CRYPTO-008", "ssh"): {"algorithms.json": {"kex": ["curve25519-sha256"]}},
            ("SURFACE-001", "network"): {"scan.json": scan},
        },
    )
    new_scan = {"scan": {"open": [22, 443, 9999]}, "unexpected": [9999], "expected_closed": []}
    new = make_run(
        tmp_path / "new",
        [(c, t, F) for c, t, _ in checks],
        evidence={
            ("CRYPTO-002", "api"): {"suites.json": _suites("TLS_AES_GCM", "TLS_RSA_WITH_RC4")},
            ("CRYPTO-008", "ssh"): {
                "algorithms.json": {"kex": ["curve25519-sha256", "diffie-hellman-group1-sha1"]}
            },
            ("SURFACE-001", "network"): {"scan.json": new_scan},
        },
    )
    comparison = compare_runs(load_verified(old), load_verified(new))
    facts = {(d.kind, f.fact): f for d in comparison.evidence for f in d.changes}
    assert facts[("TLS cipher suites", "TLS 1.2 cipher suites")].added == ("TLS_RSA_WITH_RC4",)
    assert facts[("SSH algorithms", "SSH key exchange")].added == ("diffie-hellman-group1-sha1",)
    assert facts[("open TCP ports", "open TCP ports not expected")].added == ("9999",)
    assert len(comparison.regressions) == 3


def test_generic_json_leaves_out_what_differs_on_every_run() -> None:
    facts = flatten(
        {"attempts": [{"user": "admin", "latency_s": 0.1, "utc": "x"}], "started": "y", "ok": 1}
    )
    assert facts == {"attempts": frozenset({'{"user": "admin"}'}), "ok": "1"}


def test_hostile_and_huge_evidence_is_bounded_and_escaped(tmp_path: Path) -> None:
    banners_old = [{"where": "ssh", "kind": "identification", "text": "SSH-2.0-pumpd"}]
    banners_new = [{"where": "ssh", "kind": "identification", "text": HOSTILE}]
    many = {"TLS 1.2": {"accepted": [f"SUITE_{n}" for n in range(1000)]}}
    checks = [("SURFACE-004", "network", P), ("CRYPTO-002", "api", P), ("CRYPTO-003", "api", P)]
    old = make_run(
        tmp_path / "old",
        checks,
        evidence={("SURFACE-004", "network"): {"banners.json": banners_old}},
    )
    new = make_run(
        tmp_path / "new",
        [("SURFACE-004", HOSTILE, F), *checks[1:]],
        evidence={
            ("SURFACE-004", "network"): {"banners.json": banners_new},
            ("CRYPTO-002", "api"): {"suites.json": many},
            ("CRYPTO-003", "api"): {"key-exchange.json": "[" * (MAX_FILE_BYTES + 10)},
        },
    )
    # the old run lacks the CRYPTO-002/003 files: only files both runs have are compared
    comparison = compare_runs(load_verified(old), load_verified(new))
    page = compare_page.render(comparison)
    assert "<script>alert" not in page
    # data- attributes keep the exact text for scripts (as report.html does); shown text
    # has every control and bidi character written as an escape
    shown = re.sub(r'="[^"]*"', "", page)
    assert "\x1b" not in shown
    assert "\u202e" not in shown
    assert "&lt;script&gt;" in page
    assert "\\u202e" in page
    assert page.count("<script>") == 1  # the page's own print helper, nothing else
    out = io.StringIO()
    show(Console(file=out, width=200, force_terminal=True), comparison, "")
    printed = out.getvalue()
    assert "]0;owned" not in printed
    assert "\x1b[2J" not in printed
    assert "\u202e" not in printed


def test_set_and_file_bounds(tmp_path: Path) -> None:
    checks = [("CRYPTO-002", "api", P), ("CRYPTO-003", "api", P)]
    old = make_run(
        tmp_path / "old",
        checks,
        evidence={
            ("CRYPTO-002", "api"): {"suites.json": _suites()},
            ("CRYPTO-003", "api"): {"key-exchange.json": {"groups": []}},
        },
    )
    new = make_run(
        tmp_path / "new",
        checks,
        evidence={
            ("CRYPTO-002", "api"): {"suites.json": _suites(*(f"S{n:04}" for n in range(1000)))},
            ("CRYPTO-003", "api"): {"key-exchange.json": "[" * (MAX_FILE_BYTES + 10)},
        },
    )
    comparison = compare_runs(load_verified(old), load_verified(new))
    by_kind = {d.kind: d for d in comparison.evidence}
    suites = by_kind["TLS cipher suites"].changes[0]
    assert len(suites.added) == MAX_ITEMS
    assert suites.more_added == 1000 - MAX_ITEMS
    assert "not compared" in by_kind["TLS key exchange and groups"].note


def test_older_runs_give_tls_versions_from_their_summary(tmp_path: Path) -> None:
    lines = ["TLS 1.0: refused with alert 70 (protocol_version)", "TLS 1.2: accepted (suite 1)"]
    weak = ["TLS 1.0: accepted (suite 0xc00a)", "TLS 1.2: accepted (suite 1)"]
    key = ("CRYPTO-001", "api")
    old = make_run(tmp_path / "old", [(*key, P)], summaries={key: lines})
    new = make_run(tmp_path / "new", [(*key, F)], summaries={key: weak})
    (diff,) = compare_runs(load_verified(old), load_verified(new)).evidence
    assert diff.kind == "TLS versions"
    assert diff.changes[0].added == ("TLS 1.0",)


def test_a_tampered_or_unsigned_run_is_refused(tmp_path: Path) -> None:
    old = make_run(tmp_path / "old", [("AUTH-001", "ssh", P)])
    new = make_run(tmp_path / "new", [("AUTH-001", "ssh", P)])
    (new / "report.html").write_text("<html>edited</html>")
    with pytest.raises(RunInputError, match=r"modified: report\.html"):
        load_verified(new)
    assert main(["compare", str(old), str(new)]) == 2
    (old / "manifest.json").unlink()
    assert main(["compare", str(old), str(old)]) == 2
    assert main(["compare", str(tmp_path / "nowhere"), str(old)]) == 2


def test_different_devices_need_force_and_exit_by_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = make_run(tmp_path / "old", [("AUTH-001", "ssh", P)])
    other = make_run(tmp_path / "other", [("AUTH-001", "ssh", F)], serial="SN-2")
    same = make_run(tmp_path / "same", [("AUTH-001", "ssh", P)])
    assert main(["compare", str(old), str(other)]) == 2
    assert "different devices" in capsys.readouterr().err
    html, data = tmp_path / "cmp.html", tmp_path / "cmp.json"
    code = main(
        ["compare", str(old), str(other), "--force", "--html", str(html), "--json", str(data)]
    )
    assert code == 1
    assert "compared because of --force" in capsys.readouterr().out
    written = json.loads(data.read_text())
    assert written["regressions"] == 1
    assert written["same_device"] is False
    assert 'data-change="regressed"' in html.read_text()
    assert main(["compare", str(old), str(same)]) == 0
