"""Checks in lanes, pinned with pytester (real pytest runs of stand-in checks that sleep).

The same records in the same order with or without lanes; checks that share a lockout
budget or the console never overlap; a check that hangs in one lane is ended by the
watchdog while the other lanes go on.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from types import SimpleNamespace
from typing import Any

import pytest

from harness.config import catalogue
from harness.config.profile import Profile
from harness.plugin.lanes import CONSOLE, place

pytest_plugins = ["pytester"]

PROFILE = """\
schema: medsec/profile/v1
device: {name: pytester pump, vendor: T, model: P-1, firmware: "1.0"}
scope: {allow: [127.0.0.1/32]}
network: {host: 127.0.0.1}
ssh: {username: service, password: secret}
http: {base_url: "http://127.0.0.1:8080"}
serial: {url: "loop://"}
auth:
  lockout_account:
    ssh: {username: locktest, password: pw}
    serial: {username: locktest, password: pw}
    http: {username: webtest, password: pw}
"""

CHECKS = """
import time

import pytest

from harness.core.deadline import pause

STEP_S = 0.4


@pytest.mark.check("UPDATE-002")
def test_an_image_first_in_the_file():
    pause(0.1)


@pytest.mark.check("AUTH-001")
def test_ssh_defaults():
    pause(STEP_S)


@pytest.mark.check("AUTH-002")
def test_console_defaults():
    pause(STEP_S)
    assert False, "the console let root in"


@pytest.mark.check("AUTH-003")
def test_http_defaults():
    pause(STEP_S)


@pytest.mark.check("AUTH-008")
def test_root_over_ssh():
    pause(STEP_S)


@pytest.mark.check("AUTH-009")
@pytest.mark.parametrize("interface", ["ssh", "http", "serial"])
def test_lockout(interface):
    pause(STEP_S)


@pytest.mark.check("CRYPTO-010")
def test_cleartext():
    pause(STEP_S)


@pytest.mark.check("ROBUST-006")
def test_alone(evidence):
    pause(0.1)


@pytest.mark.check("AUTH-006")
def test_a_reset_last_in_the_file():
    pause(0.1)
"""


def _profile(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", profile=PROFILE)


def _run(pytester: pytest.Pytester, lanes: int, out: str, *args: str) -> dict[str, Any]:
    pytester.runpytest_subprocess(
        "--profile", "profile.yaml", "--medsec-out", out, "--medsec-lanes", str(lanes), *args
    )
    results: dict[str, Any] = json.loads((pytester.path / out / "results.json").read_text())
    return results


def _span(check: dict[str, Any]) -> tuple[float, float]:
    def seconds(moment: str) -> float:
        return dt.datetime.fromisoformat(moment).timestamp()

    return seconds(check["started"]), seconds(check["finished"])


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    (a_start, a_end), (b_start, b_end) = _span(a), _span(b)
    return a_start < b_end and b_start < a_end


def _named(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{c['id']}[{c['target']}]": c for c in results["checks"]}


@pytest.fixture
def both(pytester: pytest.Pytester) -> tuple[dict[str, Any], dict[str, Any]]:
    _profile(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    return _run(pytester, 1, "one"), _run(pytester, 5, "lanes")


def test_the_same_records_in_collection_order_with_or_without_lanes(
    both: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    one, lanes = both
    keep = ("id", "target", "outcome", "reason", "nodeid", "evidence", "threats", "firmware")
    assert [{k: c[k] for k in keep} for c in lanes["checks"]] == [
        {k: c[k] for k in keep} for c in one["checks"]
    ]
    assert lanes["status"] == one["status"] == "complete"
    assert (one["options"].get("lanes"), lanes["options"]["lanes"]) == (None, 5)


def test_resets_run_first_then_the_rest_then_robust_then_update(
    both: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    for results in both:
        ids = [c["id"] for c in results["checks"]]
        assert ids[0] == "AUTH-006"
        assert ids[1:-2] == ["AUTH-001", "AUTH-002", "AUTH-003", "AUTH-008"] + ["AUTH-009"] * 3 + [
            "CRYPTO-010"
        ]
        assert ids[-2:] == ["ROBUST-006", "UPDATE-002"]


def test_lanes_overlap_but_never_what_shares_a_budget_or_the_console(
    both: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, lanes = both
    checks = _named(lanes)
    ssh = [checks["AUTH-001[ssh]"], checks["AUTH-008[ssh]"], checks["AUTH-009[ssh]"]]
    console = [checks["AUTH-002[serial]"], checks["AUTH-009[serial]"]]
    # the ssh lane's lockout budget, and the console, one check at a time
    for group in (ssh, console):
        for n, a in enumerate(group):
            assert not any(_overlap(a, b) for b in group[n + 1 :]), (a["nodeid"], group)
    # the same lockout account on two interfaces is never locked out twice at once
    assert not _overlap(checks["AUTH-009[ssh]"], checks["AUTH-009[serial]"])
    # a check that runs alone overlaps nothing
    alone = checks["ROBUST-006[serial]"]
    assert not any(_overlap(alone, c) for c in lanes["checks"] if c is not alone)
    # while independent interfaces did run at once
    assert _overlap(checks["AUTH-001[ssh]"], checks["AUTH-002[serial]"])
    assert _overlap(checks["AUTH-001[ssh]"], checks["AUTH-003[http]"])


def test_a_check_hanging_in_one_lane_is_ended_by_the_watchdog_and_the_others_go_on(
    pytester: pytest.Pytester,
) -> None:
    _profile(pytester)
    pytester.makepyfile(
        test_hang=textwrap.dedent(
            """
            import time
            import pytest
            from harness.core.deadline import pause
            from harness.plugin import watchdog

            watchdog.budget_s = lambda policy: 1.0

            @pytest.mark.check("AUTH-001")
            def test_hangs():
                while True:  # a device that keeps every I/O just within its timeout
                    time.sleep(0.05)

            @pytest.mark.check("AUTH-003")
            def test_http_goes_on():
                pause(0.3)

            @pytest.mark.check("AUTH-012")
            @pytest.mark.parametrize("interface", ["http"])
            def test_http_goes_on_after(interface):
                pause(0.3)
            """
        )
    )
    results = _run(pytester, 5, "run")
    checks = _named(results)
    hung = checks["AUTH-001[ssh]"]
    assert hung["outcome"] == "error"
    assert "did not finish within 1 s" in hung["reason"]
    assert 0.9 < hung["duration_s"] < 5
    assert checks["AUTH-003[http]"]["outcome"] == "passed"
    assert checks["AUTH-012[http]"]["outcome"] == "passed"
    assert _overlap(hung, checks["AUTH-003[http]"])
    assert results["status"] == "complete"


def _lab_profile(**auth: Any) -> Profile:
    document = {
        "schema": "medsec/profile/v1",
        "device": {"name": "p", "vendor": "v", "model": "m", "firmware": "1"},
        "scope": {"allow": ["127.0.0.1/32"]},
        "network": {"host": "127.0.0.1"},
        "serial": {"url": "loop://"},
        "auth": auth,
    }
    return Profile.model_validate(document, context={"check_files": False})


@pytest.mark.parametrize(
    ("check", "params", "lane", "holds", "alone"),
    [
        ("AUTH-001", {}, "ssh", set(), False),
        ("AUTH-011", {"interface": "serial"}, "serial", {CONSOLE}, False),
        ("AUTH-010", {"interface": "mqtt"}, "network", set(), False),
        ("CRYPTO-001", {}, "network", set(), False),
        ("CRYPTO-008", {}, "tls", set(), False),  # the crypto audit: the connection cap
        ("SURFACE-003", {}, "tls", set(), False),
        ("SURFACE-001", {}, "tls", set(), False),  # the TCP scan: scan_concurrency at once
        ("SURFACE-005", {}, "tls", set(), False),  # asks the scan, may be first to
        ("CRYPTO-012", {}, "tls", set(), False),  # a listener a concurrent scan would see
        ("AUTH-004", {}, "tls", set(), False),  # telnet logins beside no scan of the port
        ("SURFACE-004", {}, "serial", {CONSOLE}, False),  # reads the console's banner too
        ("AUTH-006", {}, "serial", {CONSOLE}, True),  # resets the device
        ("ROBUST-002", {}, "ssh", set(), True),
        ("UPDATE-003", {}, "network", set(), True),
    ],
)
def test_each_check_is_placed_by_what_it_touches(
    check: str, params: dict[str, Any], lane: str, holds: set[str], alone: bool
) -> None:
    placement = place(catalogue.get(check), params, _lab_profile())
    assert (placement.lane, set(placement.holds), placement.alone) == (lane, holds, alone)


def test_one_lockout_account_on_two_interfaces_is_held_by_both() -> None:
    account = {"username": "locktest", "password": "pw"}
    profile = _lab_profile(lockout_account={"ssh": account, "serial": account})
    ssh = place(catalogue.get("AUTH-009"), {"interface": "ssh"}, profile)
    serial = place(catalogue.get("AUTH-009"), {"interface": "serial"}, profile)
    assert "account:locktest" in ssh.holds & serial.holds


def test_two_lanes_ending_at_once_do_not_both_pop_pytest_current_test() -> None:
    # pytest pops PYTEST_CURRENT_TEST at each test's end; two lanes ending together pop
    # it twice, and the second pop was a KeyError in a check's teardown (seen in CI)
    import _pytest.runner

    from harness.plugin import lane_state

    item = SimpleNamespace(nodeid="testsuites/test_x.py::test_y")
    with lane_state.current_test_var_for_lanes():
        update = _pytest.runner._update_current_test_var
        update(item, "teardown")  # type: ignore[arg-type]
        update(item, None)  # type: ignore[arg-type]
        update(item, None)  # type: ignore[arg-type]  # the other lane's end
    assert _pytest.runner._update_current_test_var is not update
