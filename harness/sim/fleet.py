"""`medsec sim --fleet K --write-fleet FLEET.yaml`: K emulated pumps and the fleet file of them.

The pumps cycle through the hardened variant and each planted single weakness (pump 1
hardened, pump 2 W-01, ...; `--weakness` names the ones to cycle through), each on its
own loopback address from `--host` on (default 127.0.100.2, then .3, ...). They are
shared round-robin among a few processes (`harness.sim.group`), so runs of neighbouring
pumps land in different processes. The fleet file is written once every pump is ready;
Ctrl-C or SIGTERM stops them all.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.config.fleet import fleet_yaml
from harness.sim.group import PumpSpec, write_spec
from harness.sim.process import READY_TIMEOUT_S, read_ready_line, stop_process
from harness.sim.pump import label_for, validate_weaknesses
from harness.sim.weaknesses import PLANTED

FIRST_ADDRESS = "127.0.100.2"
MAX_PUMPS = 1000
PROCESSES = 4  # pumps are cheap (~1 MB); a few processes keep one busy pump from starving others
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class FleetMember:
    """One pump of the fleet."""

    label: str
    host: str
    weaknesses: tuple[str, ...]


def plan(
    count: int, first: str = FIRST_ADDRESS, weaknesses: Sequence[str] = PLANTED
) -> list[FleetMember]:
    """`count` pumps: hardened, then one per weakness (default every planted one), cycling;
    consecutive loopback addresses from `first`. ValueError if they leave 127.0.0.0/8 or
    a weakness is not one the emulator plants."""
    start = ipaddress.IPv4Address(first)
    loopback = ipaddress.IPv4Network("127.0.0.0/8")
    if not 1 <= count <= MAX_PUMPS:
        raise ValueError(f"--fleet takes 1 to {MAX_PUMPS} pumps, not {count}")
    if start not in loopback or start + (count - 1) not in loopback:
        raise ValueError(f"{count} pumps from {first} would leave 127.0.0.0/8")
    validate_weaknesses(weaknesses)
    variants: list[tuple[str, ...]] = [(), *((w,) for w in dict.fromkeys(weaknesses))]
    members = []
    for index in range(count):
        weaknesses = variants[index % len(variants)]
        label = label_for("hardened", weaknesses)
        members.append(FleetMember(f"pump-{index + 1:03d}-{label}", str(start + index), weaknesses))
    return members


def _groups(members: list[FleetMember], folder: Path) -> list[list[PumpSpec]]:
    count = min(PROCESSES, len(members))
    groups: list[list[PumpSpec]] = [[] for _ in range(count)]
    for index, member in enumerate(members):
        groups[index % count].append(
            PumpSpec(
                member.label,
                member.host,
                member.weaknesses,
                str(folder / f"{member.label}.yaml"),
                str(folder / member.label),
            )
        )
    return groups


def _start_group(index: int, specs: list[PumpSpec], folder: Path) -> subprocess.Popen[bytes]:
    spec = folder / f"group-{index}.json"
    write_spec(spec, specs)
    with open(folder / f"group-{index}.stderr", "wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "harness.sim.group", str(spec)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )


def run(
    count: int,
    write_fleet: Path | None,
    workdir: Path | None,
    *,
    host: str | None,
    weaknesses: Sequence[str] = (),
) -> int:
    """Start the pumps, write the fleet file, serve until SIGTERM/SIGINT, stop them all."""
    if write_fleet is None:
        print("medsec sim: --fleet needs --write-fleet FLEET.yaml", file=sys.stderr)
        return EXIT_USAGE
    try:
        members = plan(count, host or FIRST_ADDRESS, weaknesses or PLANTED)
    except ValueError as exc:
        print(f"medsec sim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    folder = (workdir or Path(tempfile.mkdtemp(prefix="medsec-fleet-"))).resolve()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        groups = _groups(members, folder)
        processes = [_start_group(i, g, folder) for i, g in enumerate(groups)]
        timeout = READY_TIMEOUT_S + 0.5 * len(members)  # keys and certificates per pump
        for index, process in enumerate(processes):
            stderr = folder / f"group-{index}.stderr"
            read_ready_line(process, f"pump group {index}", stderr, timeout)
        write_fleet.parent.mkdir(parents=True, exist_ok=True)
        write_fleet.write_text(
            fleet_yaml(
                f"{count} emulated pumps",
                [(m.label, folder / f"{m.label}.yaml") for m in members],
                "Written by medsec sim --fleet; the profiles hold this start's ports and secrets.",
            )
        )
        ready = {"ready": True, "fleet": str(write_fleet.resolve()), "pumps": count}
        sys.stdout.write(json.dumps({**ready, "pid": os.getpid()}) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            gone = [i for i, p in enumerate(processes) if p.poll() is not None]
            if gone:
                print(f"medsec sim: pump group {gone[0]} stopped by itself", file=sys.stderr)
                return EXIT_FAILED
        return EXIT_OK
    except RuntimeError as exc:
        print(f"medsec sim: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        for process in processes:  # all at once, then each waited for
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            stop_process(process, timeout=10.0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
