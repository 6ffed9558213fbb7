"""busybox telnetd and `login`, as small devices ship them, weak and hardened.

AUTH-004 must find every default pair that logs in, pass a device whose passwords are
all strong, and end as an error (never a pass) when `login` hangs up after a password
without refusing it: busybox `login` dies with `bad salt` on a locked root (`*`), which
is not a refused password. Every connection has a transcript of its own. Telnet is
cleartext, so CRYPTO-010 fails each of them.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.reporting.results import Outcome
from tests.integration import daemons, embedded
from tests.integration.embedded import Account
from tests.integration.verdicts import concurrently, outcomes, reasons, run

CHECKS = ("--suite", "auth,crypto", "--", "-k", "telnet or cleartext_protocol_on_any_port")


def _profile(host: str, port: int) -> dict[str, Any]:
    return {
        "network": {
            "host": host,
            "expected_tcp": [port],
            "services": [{"name": "console", "port": port, "protocol": "telnet"}],
        },
        "policy": {"lockout_after_failures": 2, "timeout_s": 8},  # one pair per user name
    }


def test_auth004_against_busybox_telnetd(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    strong = daemons.random_password
    devices = {
        "weak": [Account("service", "service"), Account("root", "root", uid=0)],
        "hardened": [Account("service", strong()), Account("root", strong(), uid=0)],
        "locked-root": [Account("service", strong()), Account("root", None, uid=0)],
        "no-login": [Account("service", strong())],
    }
    hosts = dict(zip(devices, embedded.addresses(loopback_address, len(devices)), strict=True))
    with ExitStack() as stack:
        ports = {}
        for name, accounts in devices.items():
            etc = stack.enter_context(embedded.private_etc(tmp_path / name, accounts))
            login = "/bin/sh" if name == "no-login" else "login"  # a shell without any login
            ports[name] = stack.enter_context(
                embedded.telnetd(hosts[name], tmp_path / name, etc, login=login)
            )
        results = concurrently(
            **{
                name: (
                    lambda name=name: run(
                        tmp_path, hosts[name], f"telnetd-{name}", *CHECKS,
                        **_profile(hosts[name], ports[name]),
                    )
                )
                for name in devices
            }
        )  # fmt: skip
    for result in results.values():
        assert outcomes(result)["CRYPTO-010[network]"] is Outcome.FAILED, reasons(result)
        assert "/tcp: telnet" in result["checks"]["CRYPTO-010[network]"].reason
        assert result["checks"]["CRYPTO-010[network]"].reason.count("/tcp") == 1

    weak = results["weak"]["checks"]["AUTH-004[network]"]
    assert weak.outcome is Outcome.FAILED, reasons(results["weak"])
    assert "service / se***" in weak.reason
    assert "root / ro***" in weak.reason
    hardened = results["hardened"]["checks"]["AUTH-004[network]"]
    assert hardened.outcome is Outcome.PASSED, reasons(results["hardened"])
    # A login that died after the password refused nothing: the check cannot pass.
    locked = results["locked-root"]["checks"]["AUTH-004[network]"]
    assert locked.outcome is Outcome.ERROR, reasons(results["locked-root"])
    assert "root / ro***" in locked.reason
    assert "without a refusal" in locked.reason
    no_login = results["no-login"]["checks"]["AUTH-004[network]"]
    assert no_login.outcome is Outcome.FAILED, reasons(results["no-login"])
    assert "(no login)" in no_login.reason

    # One transcript per connection: each opens exactly one connection, named in its label.
    folder = results["weak"]["out"] / "evidence/AUTH-004/network"
    transcripts = sorted(folder.glob("telnet-[0-9][0-9].txt"))
    assert len(transcripts) >= 2
    for transcript in transcripts:
        text = transcript.read_text()
        assert len(re.findall(r"# connect ", text)) == 1, text
        assert re.search(r"connection \d+ \(user \w+\)", text.splitlines()[0])
