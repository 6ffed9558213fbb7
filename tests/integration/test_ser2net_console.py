"""Every console check through a real ser2net (RFC 2217) gives the verdict it gives on the pty.

The hardened and the vulnerable pump each run twice, one pump per path so the two runs
never share a console: once with `serial.url` the emulator's pty, once with it replaced by
`rfc2217://HOST:PORT` of a ser2net exporting that pty. The four runs go at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.config.catalogue import CATALOGUE
from harness.core.deadline import Deadline
from harness.core.errors import DeviceUnreachable
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.reporting.results import Outcome, load
from harness.sim.process import EmulatorProcess
from harness.sim.weaknesses import WEAKNESSES
from harness.transports.serial import Console
from tests.integration import ser2net
from tests.integration.cli import medsec_run
from tests.integration.verdicts import concurrently

# Every check that uses the console, by result key, and the test functions that run them.
CONSOLE_CHECKS = {
    "AUTH-002[serial]": "test_default_credentials_refused_on_serial_console",
    "AUTH-005[serial]": "test_serial_console_requires_login",
    "AUTH-006[serial]": "test_bootloader_interrupt_refused",
    "AUTH-009[serial]": "(test_lockout_or_rate_limit_after_failures and serial)",
    "AUTH-011[serial]": "(test_idle_session_timeout and serial)",
    "SURFACE-004[network]": "test_no_version_disclosure_before_login",  # its console part
    "SURFACE-008[serial]": "test_console_output_free_of_secrets",
    "ROBUST-006[serial]": "test_serial_garbage_survived",
    "UPDATE-010[update]": "test_device_reports_its_version",  # version_over: serial too
}
# What the vulnerable pump fails among them, and the weakness each names (W-03, a lockout
# missing on HTTP only, leaves AUTH-009[serial] passing).
VULNERABLE_FAILS = {
    "AUTH-002[serial]": "W-18",
    "AUTH-005[serial]": "W-02",
    "SURFACE-004[network]": "W-13",
    "ROBUST-006[serial]": "W-16",
}
VARIANTS = ("hardened", "vulnerable")
PATHS = ("pty", "ser2net")


def test_every_serial_check_is_listed() -> None:
    serial = {spec.id for spec in CATALOGUE.values() if "serial" in spec.interfaces}
    assert serial <= {key.split("[")[0] for key in CONSOLE_CHECKS}
    for key, weakness in VULNERABLE_FAILS.items():
        assert WEAKNESSES[weakness].caught_by == key.split("[")[0]


def _run(profile: Path, out: Path) -> dict[str, Any]:
    started = time.monotonic()
    done = medsec_run(
        profile,
        out,
        "--allow-destructive",
        "--quiet",
        "--suite",
        "auth,surface,robust,update",
        "--",
        "-k",
        " or ".join(CONSOLE_CHECKS.values()),
        timeout=180,
    )
    (out.parent / f"{out.name}.log").write_text(done.stdout + done.stderr)
    checks = {f"{c.id}[{c.target}]": c for c in load(out / "results.json").checks}
    return {"checks": checks, "s": time.monotonic() - started}


def _through(emulator: EmulatorProcess, url: str) -> Path:
    """A copy of the emulator's profile whose console is `url`."""
    document = yaml.safe_load(emulator.profile.read_text())
    document["serial"]["url"] = url
    profile = emulator.folder / "rfc2217.yaml"
    profile.write_text(yaml.safe_dump(document, sort_keys=False))
    return profile


def test_console_verdicts_equal_through_ser2net(private_network: None, tmp_path: Path) -> None:
    ser2net.require_ser2net()
    emulators = {
        (variant, path): EmulatorProcess(
            f"{variant}-{path}", f"127.0.14.{10 + i}", tmp_path / f"{variant}-{path}", variant
        )
        for i, (variant, path) in enumerate((v, p) for v in VARIANTS for p in PATHS)
    }
    with contextlib.ExitStack() as stack:
        for emulator in emulators.values():
            stack.callback(emulator.stop)
            emulator.start()
        profiles = {}
        for (variant, path), emulator in emulators.items():
            emulator.wait_ready()
            profiles[variant, path] = emulator.profile
            if path == "ser2net":
                url = stack.enter_context(
                    ser2net.rfc2217_console(
                        emulator.ready["console"], emulator.host, emulator.folder / "ser2net"
                    )
                )
                profiles[variant, path] = _through(emulator, url)
        runs = concurrently(
            **{
                f"{variant}-{path}": partial(_run, profile, tmp_path / f"run-{variant}-{path}")
                for (variant, path), profile in profiles.items()
            }
        )
    shown = {
        label: {k: f"{c.outcome.value} ({c.reason[:120]})" for k, c in run["checks"].items()}
        for label, run in runs.items()
    }
    for variant in VARIANTS:
        pty, rfc2217 = runs[f"{variant}-pty"]["checks"], runs[f"{variant}-ser2net"]["checks"]
        assert set(pty) == set(rfc2217) == set(CONSOLE_CHECKS), shown
        assert {k: c.outcome for k, c in rfc2217.items()} == {
            k: c.outcome for k, c in pty.items()
        }, shown
    for variant, failing in (("hardened", set()), ("vulnerable", VULNERABLE_FAILS)):
        outcomes = {k: c.outcome for k, c in runs[f"{variant}-ser2net"]["checks"].items()}
        expected = {k: Outcome.FAILED if k in failing else Outcome.PASSED for k in CONSOLE_CHECKS}
        assert outcomes == expected, shown[f"{variant}-ser2net"]
    durations = {label: round(run["s"], 1) for label, run in runs.items()}
    print(f"run durations (s): {durations}")


def test_console_ends_when_the_line_behind_ser2net_closes(
    private_network: None, tmp_path: Path
) -> None:
    ser2net.require_ser2net()
    host = "127.0.14.20"
    master, slave = os.openpty()
    closed = False
    try:
        with ser2net.rfc2217_console(os.ttyname(slave), host, tmp_path) as url:
            transcript = Transcript(url)
            with Console(
                Scope.of([f"{host}/32"]), url, baudrate=115200, timeout=2, transcript=transcript
            ) as console:
                os.write(master, b"login: ")
                console.expect([re.compile(rb"login: ")], Deadline(5))
                os.close(master)
                os.close(slave)
                closed = True
                started = time.monotonic()
                with pytest.raises(DeviceUnreachable, match="connection failed"):
                    console.expect([re.compile(rb"never")], Deadline(5))
                assert time.monotonic() - started < 2  # at once, not at the deadline
    finally:
        if not closed:
            os.close(master)
            os.close(slave)
