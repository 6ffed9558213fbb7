"""AUTH-006 against Debian's real U-Boot in QEMU, weak and hardened, and the bootloader
faults no U-Boot build here can show, against the fake console.

`tests.integration.uboot` puts U-Boot behind a device's `reboot`; its environment decides
the posture. Debian's build has neither CONFIG_AUTOBOOT_KEYED nor an autoboot password, so
a bootloader that asks one is the fake console's (`locked_bootloader`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from harness.reporting.results import CheckRecord, Outcome, load
from tests.integration import consoles, daemons, fakes, uboot
from tests.integration.cli import medsec_run

AUTH_006 = "AUTH-006[serial]"
SURFACE_008 = "SURFACE-008[serial]"
UBOOT_BANNER = "U-Boot 2023.01"


def _run(
    folder: Path, host: str, name: str, url: str, password: str, checks: str, **serial: Any
) -> dict[str, CheckRecord]:
    """`medsec run` of the auth and surface suites' `checks` on the console at `url`."""
    document = {
        "schema": "medsec/profile/v1",
        "device": {"name": name, "vendor": "bench", "model": "qemu_arm64", "firmware": "n/a"},
        "scope": {"allow": [f"{host}/32"]},
        "serial": {
            "url": url,
            "login_prompt": "login:",
            "username": "tester",
            "password": password,
            "reset_command": "reboot",
            "bootloader": {"name": "u-boot"},
            **serial,
        },
        "policy": {"timeout_s": 5},
    }
    profile = folder / f"{name}.yaml"
    profile.write_text(yaml.safe_dump(document, sort_keys=False))
    out = folder / f"run-{name}"
    medsec_run(profile, out, "--suite", "auth,surface", "--", "-k", checks)
    return {f"{c.id}[{c.target}]": c for c in load(out / "results.json").checks}


def _concurrently(**jobs: Callable[[], dict[str, CheckRecord]]) -> dict[str, Any]:
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def _evidence(folder: Path, name: str, file: str) -> str:
    return (folder / f"run-{name}/evidence/AUTH-006/serial" / file).read_text()


# name: (U-Boot environment, console password, checks run, expected outcomes)
CASES: dict[str, tuple[dict[str, str], str, str, dict[str, Outcome]]] = {
    # Debian's U-Boot as built: any key in its 2 s countdown stops it at `=>`.
    "default": ({}, daemons.random_password(), "bootloader", {AUTH_006: Outcome.FAILED}),
    # No countdown, but U-Boot still reads a key that arrived before it: one pressed from
    # the banner on stops it.
    "zero-delay": (
        {"bootdelay": "0"},
        daemons.random_password(),
        "bootloader",
        {AUTH_006: Outcome.FAILED},
    ),
    # Autoboot without reading the console at all. The console password `root` is also
    # the kernel's `root=/dev/vda2`, which is no leak (SURFACE-008).
    "no-delay": (
        {"bootdelay": "-2"},
        "root",
        "bootloader or console_output_free",
        {AUTH_006: Outcome.PASSED, SURFACE_008: Outcome.PASSED},
    ),
}


def test_auth_006_against_u_boot_weak_and_hardened(tmp_path: Path, loopback_address: str) -> None:
    uboot.require()
    started = time.monotonic()
    with ExitStack() as stack:
        benches = {
            name: stack.enter_context(uboot.UBootConsole(password, tmp_path / name, env))
            for name, (env, password, _, _) in CASES.items()
        }
        # The hardened board is reached as a lab's terminal server offers it: socket://.
        port = stack.enter_context(fakes.console_server(loopback_address, benches["no-delay"].path))
        urls = {name: bench.path for name, bench in benches.items()}
        urls["no-delay"] = f"socket://{loopback_address}:{port}"
        runs = _concurrently(
            **{
                name: (
                    lambda name=name, url=url, password=password, checks=checks: _run(
                        tmp_path, loopback_address, name, url, password, checks
                    )
                )
                for (name, url), (_, password, checks, _) in zip(
                    urls.items(), CASES.values(), strict=True
                )
            }
        )
    elapsed = time.monotonic() - started
    for name, (_, _, _, expected) in CASES.items():
        explained = "\n".join(f"{k}: {c.outcome.value}: {c.reason}" for k, c in runs[name].items())
        assert {k: c.outcome for k, c in runs[name].items()} == expected, f"{name}:\n{explained}"
        assert benches[name].boots == len(expected), name  # each reset came back
        summary = "\n".join(runs[name][AUTH_006].summary)
        assert f"banner: {UBOOT_BANNER}" in summary, summary
        assert "back at the login prompt: yes" in summary, summary
        keys = json.loads(_evidence(tmp_path, name, "keys.json"))
        assert [k["key"] for k in keys[:2]] == ["Ctrl-C", "space"]  # one at a time, in turn
        boot = _evidence(tmp_path, name, "boot.txt")
        assert "Unknown command" not in boot  # `boot` was typed on a clean line
        assert "Kernel command line" in boot
    assert "stopped at its prompt '=>" in runs["default"][AUTH_006].reason
    assert "no key stopped u-boot" in runs["no-delay"][AUTH_006].reason
    assert elapsed < 60


# name: (faults, serial keys over the defaults, expected outcome, words in the reason)
FAKE_CASES: dict[str, tuple[consoles.Faults, dict[str, Any], Outcome, str]] = {
    # A key stops the autoboot, but only a password opens the prompt: hardened.
    "locked": (consoles.Faults(locked_bootloader=True), {}, Outcome.PASSED, "asked for a password"),
    # `restart` is no command of this shell: its prompt comes back, nothing reboots.
    "no-reset": (
        consoles.Faults(),
        {"reset_command": "restart", "bootloader": {"name": "u-boot", "boot_timeout_s": 3}},
        Outcome.ERROR,
        "did not restart",
    ),
    # `reboot` returns to the prompt and the shell answers keys until the system goes
    # down: no key may go to it (a shell prompt was once taken for an untouched boot).
    "slow-reboot": (
        consoles.Faults(reboot_after_s=1.0, interruptible_bootloader=True),
        {},
        Outcome.FAILED,
        "stopped at its prompt '=>'",
    ),
    "boot-hangs": (
        consoles.Faults(boot_hangs=True),
        {"bootloader": {"name": "u-boot", "boot_timeout_s": 3}},
        Outcome.ERROR,
        "did not boot to its login prompt",
    ),
    # Nothing the profile calls a banner shows before the kernel: no key could be pressed.
    "kernel-first": (
        consoles.Faults(),
        {"bootloader": {"name": "u-boot", "banner": "^Never printed$"}},
        Outcome.ERROR,
        "no key was pressed",
    ),
}


def test_auth_006_verdicts_no_u_boot_build_here_shows(
    tmp_path: Path, loopback_address: str
) -> None:
    password = daemons.random_password()
    with ExitStack() as stack:
        fakes_by_name = {
            name: stack.enter_context(consoles.FakeConsole(password, faults))
            for name, (faults, _, _, _) in FAKE_CASES.items()
        }
        runs = _concurrently(
            **{
                name: (
                    lambda name=name, serial=serial: _run(
                        tmp_path,
                        loopback_address,
                        name,
                        fakes_by_name[name].path,
                        password,
                        "bootloader",
                        **serial,
                    )
                )
                for name, (_, serial, _, _) in FAKE_CASES.items()
            }
        )
    for name, (_, _, outcome, words) in FAKE_CASES.items():
        check = runs[name][AUTH_006]
        assert check.outcome is outcome, f"{name}: {check.outcome.value}: {check.reason}"
        assert words in check.reason, f"{name}: {check.reason}"
        assert check.duration_s < 20, name
