"""`medsec fleet FLEET.yaml`: every device's run as its own process, then one sealed fleet folder.

Exit 0 when every device passed, 1 when any failed or errored, 2 for a bad fleet file (or
a profile it names), 130 when interrupted (the fleet folder is still written and sealed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from harness.cli.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from harness.cli.fleet_runs import DeviceJob, JobEnd, run_jobs, signals_to
from harness.cli.suites import SUITES
from harness.config.fleet import Fleet, load_fleet, render_template
from harness.config.profile import Profile
from harness.core.errors import MedsecError, ProfileError
from harness.core.terminal import clean, markup_safe
from harness.evidence.manifest import load_signing_key
from harness.evidence.recorder import slug
from harness.reporting.fleet import (
    DEVICES,
    LOGS,
    PROFILES,
    DeviceRun,
    FleetMeta,
    fleet_results,
    judge_device,
)
from harness.reporting.fleet_write import write_fleet

DEFAULT_TIMEOUT_S = 3600.0
_STYLES = {"passed": "green", "failed": "bold red", "error": "bold yellow", "interrupted": "yellow"}


def _keys(fleet: Fleet) -> list[str]:
    """Each device's folder: its name from the fleet file, exactly (names are unique and
    folder-safe); else its serial number or name, made unique against every other key."""
    taken = {d.name for d in fleet.devices if d.name}
    keys: list[str] = []
    for device in fleet.devices:
        if device.name:
            keys.append(device.name)
            continue
        profiled = device.device.device if device.device is not None else None
        base = slug((profiled.serial_number or profiled.name) if profiled else "device")
        key = base
        for n in range(2, len(fleet.devices) + 2):  # at most that many keys are taken
            if key not in taken:
                break
            key = f"{base}-{n}"
        taken.add(key)
        keys.append(key)
    return keys


def _profiles(fleet: Fleet, keys: list[str], out: Path) -> list[tuple[Path, Profile]]:
    """Each device's profile: listed as it is, template devices rendered into the folder."""
    found: list[tuple[Path, Profile]] = []
    issues = []
    for device, key in zip(fleet.devices, keys, strict=True):
        if device.device is not None:
            found.append((device.profile_path, device.device))
            continue
        rendered = out / PROFILES / f"{key}.yaml"
        try:
            found.append((rendered, render_template(device, rendered)))
        except ProfileError as exc:
            issues += exc.issues
    if issues:
        raise ProfileError(issues)
    return found


def _command(args: argparse.Namespace, profile: Path, folder: Path) -> tuple[str, ...]:
    return (
        sys.executable,
        "-m",
        "harness",
        "run",
        str(profile),
        "--out",
        str(folder),
        "--suite",
        args.suite,
        "--quiet",
        *(["--allow-destructive"] if args.allow_destructive else []),
        *(["--signing-key", str(args.signing_key)] if args.signing_key else []),
        *(["--lanes", str(args.lanes)] if args.lanes else []),
    )


def _identity(profile: Profile) -> dict[str, str]:
    device = profile.device
    return {
        "name": device.name,
        "serial_number": device.serial_number or "",
        "firmware": device.firmware,
    }


def _say_end(console: Console, done: int, total: int, line: str, style: str) -> None:
    console.print(f"[{style}]{done:>{len(str(total))}}/{total}[/] {line}", highlight=False)


def cmd_fleet(args: argparse.Namespace) -> int:
    """Validate, run every device (N at a time), judge, write and seal the fleet folder."""
    console = Console(stderr=True, soft_wrap=True)
    names = [s.strip() for s in args.suite.split(",") if s.strip()]
    if not names or any(n not in SUITES for n in names):
        console.print(
            f"unknown suite in {markup_safe(args.suite)}; choose from {', '.join(SUITES)}"
        )
        return EXIT_USAGE
    if args.jobs < 1 or (args.lanes is not None and args.lanes < 1):
        console.print("-j and --lanes: at least 1")
        return EXIT_USAGE
    try:
        key = load_signing_key(args.signing_key) if args.signing_key else None
    except MedsecError as exc:
        console.print(f"medsec fleet: {markup_safe(str(exc))}", highlight=False)
        return EXIT_USAGE
    try:
        fleet = load_fleet(args.fleet)
    except ProfileError as exc:
        print(
            f"medsec fleet: invalid fleet file\n{clean(str(exc), keep_newlines=True)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    stamp = dt.datetime.now(dt.timezone.utc)
    out: Path = args.out or Path("reports") / f"fleet-{stamp:%Y%m%dT%H%M%SZ}"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        console.print(
            f"{markup_safe(str(out))} exists and is not an empty folder: choose a new one"
        )
        return EXIT_USAGE
    out.mkdir(parents=True, exist_ok=True)
    keys = _keys(fleet)
    # Until the devices start, SIGTERM ends the fleet as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        profiles = _profiles(fleet, keys, out)
    except ProfileError as exc:
        shutil.rmtree(out)  # nothing ran: no half fleet folder is left as if it were one
        print(
            f"medsec fleet: invalid profile\n{clean(str(exc), keep_newlines=True)}", file=sys.stderr
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        shutil.rmtree(out, ignore_errors=True)  # nothing ran; rendered profiles hold secrets
        print("medsec fleet: interrupted before any device ran; nothing is left", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    return _run(args, console, fleet, out, keys, profiles, key, stamp)


def _run(
    args: argparse.Namespace,
    console: Console,
    fleet: Fleet,
    out: Path,
    keys: list[str],
    profiles: list[tuple[Path, Profile]],
    key: Ed25519PrivateKey | None,
    started: dt.datetime,
) -> int:
    jobs = [
        DeviceJob(k, _command(args, path, (out / DEVICES / k).resolve()), out / LOGS / f"{k}.log")
        for k, (path, _) in zip(keys, profiles, strict=True)
    ]
    by_key = dict(zip(keys, profiles, strict=True))
    console.print(
        f"medsec fleet: {markup_safe(fleet.name)}: {len(jobs)} devices, {args.jobs} at a time "
        f"-> {markup_safe(str(out))}",
        highlight=False,
    )
    stop = threading.Event()
    finished: list[int] = []

    def on_end(end: JobEnd) -> None:
        finished.append(1)
        device = judge_device(_device_run(end, by_key[end.key]), out)
        _say_end(
            console,
            len(finished),
            len(jobs),
            f"{markup_safe(device.key)}  {markup_safe(device.name)}  "
            f"firmware {markup_safe(device.firmware or '-')}  [{_STYLES[device.verdict]}]"
            f"{device.verdict}[/]  {device.open_findings} open findings  {end.duration_s:.1f} s",
            _STYLES[device.verdict],
        )

    with signals_to(stop):
        ends = run_jobs(jobs, args.jobs, args.device_timeout, stop, on_end)
        devices = [judge_device(_device_run(e, by_key[e.key]), out) for e in ends]
        meta = FleetMeta(
            name=fleet.name,
            fleet_file=fleet.path,
            fleet_sha256=fleet.sha256,
            started=started,
            interrupted=stop.is_set(),
            options={
                "suite": args.suite,
                "jobs": args.jobs,
                "allow_destructive": args.allow_destructive,
                "device_timeout_s": args.device_timeout,
            },
        )
        results = fleet_results(meta, devices)
        _remove_empty_folders(out)
        fingerprint = write_fleet(
            out,
            results,
            key or Ed25519PrivateKey.generate(),
            key_source=f"file {args.signing_key}" if key else "generated for this fleet run",
        )
    counts = ", ".join(f"{n} {v}" for v, n in results.verdicts.items() if n)
    console.print(
        f"fleet    {markup_safe(str(out / 'fleet.html'))}\n"
        f"results  {markup_safe(str(out / 'fleet.json'))} ({counts})\n"
        f"sealed   manifest signed by {fingerprint}",
        highlight=False,
    )
    if results.status == "interrupted":
        console.print("[yellow]interrupted: the devices marked interrupted did not finish[/]")
        return EXIT_INTERRUPTED
    return EXIT_OK if results.ok else EXIT_FAILED


def _device_run(end: JobEnd, found: tuple[Path, Profile]) -> DeviceRun:
    path, profile = found
    return DeviceRun(
        key=end.key,
        profile=path,
        exit_code=end.exit_code,
        duration_s=end.duration_s,
        timed_out=end.timed_out,
        stopped=end.stopped,
        **_identity(profile),
    )


def _remove_empty_folders(out: Path) -> None:
    """A run killed before it wrote anything may leave an empty folder, which the seal
    would list as irregular; remove those (deepest first)."""
    for root, _, _ in os.walk(out, topdown=False):
        if Path(root) != out and not any(Path(root).iterdir()):
            Path(root).rmdir()
