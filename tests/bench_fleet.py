"""A fleet of emulated pumps, every suite: wall time and peak memory of the whole thing.

    python -m tests.bench fleet [--pumps 50] [--jobs N] [--lanes N]

Inside a private network namespace: `medsec sim --fleet K` (hardened and single-weakness
pumps, cycling), then `medsec fleet FLEET.yaml -j N --allow-destructive` on every suite.
Wall time is the fleet command's; memory is the sum of the resident set sizes of every
process of the benchmark (this one, the pump processes, the fleet command and each device
run), sampled from /proc every 0.25 s, at its peak. The verdicts are checked as the
emulator tests check them: hardened passes, each weakness fails exactly its check.
A measurement, not a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness.core import netns
from harness.core.terminal import clean
from harness.sim.process import read_ready_line, stop_process
from harness.sim.weaknesses import expected_failures, tolerated_failures

REPO = Path(__file__).resolve().parents[1]
SAMPLE_S = 0.25
MEDSEC = (sys.executable, "-m", "harness")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> tuple[int, int]:
    """(sum of RSS in bytes, number of processes) of `root` and all its descendants."""
    tree = _children()
    pending, total, count = [root], 0, 0
    for _ in range(100_000):
        if not pending:
            break
        pid = pending.pop()
        total += _rss(pid)
        count += 1
        pending += tree.get(pid, [])
    return total, count


@dataclass
class Peak:
    bytes: int = 0
    processes: int = 0


def _sample(stop: threading.Event, peak: Peak) -> None:
    while not stop.wait(SAMPLE_S):
        total, count = tree_rss(os.getpid())
        if total > peak.bytes:
            peak.bytes, peak.processes = total, count
        peak.processes = max(peak.processes, count)


def _label_weaknesses(key: str) -> set[str]:
    label = key.split("-", 2)[2]  # pump-007-W-06 -> W-06
    return set() if label == "hardened" else set(label.split("+"))


def _judge(results: dict[str, object]) -> list[str]:
    """Devices whose verdict is not what their planted weaknesses predict."""
    wrong = []
    for device in results["devices"]:  # type: ignore[attr-defined]
        weaknesses = _label_weaknesses(device["key"])
        failed = {c.split("[")[0] for c in device["failed_checks"]}
        failed -= tolerated_failures(weaknesses)
        if failed != set(expected_failures(weaknesses)):
            wrong.append(
                f"{device['key']}: {device['verdict']} {sorted(failed)} ({device['reason']})"
            )
    return wrong


def main(pumps: int, jobs: int, lanes: int | None = None, keep: Path | None = None) -> int:
    """Run the benchmark; with `keep`, its folders (fleet file, pumps, device runs) stay there."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=False)
        return _measure(pumps, jobs, lanes, keep.resolve())
    with tempfile.TemporaryDirectory(prefix="medsec-bench-fleet-") as workdir:
        return _measure(pumps, jobs, lanes, Path(workdir))


def _measure(pumps: int, jobs: int, lanes: int | None, base: Path) -> int:
    why_not = netns.enter_private_network()
    if why_not is not None:
        print(f"cannot isolate the benchmark ({why_not})", file=sys.stderr)
        return 2
    peak, stop = Peak(), threading.Event()
    sampler = threading.Thread(target=_sample, args=(stop, peak), daemon=True)
    load_before = os.getloadavg()
    started = time.monotonic()
    with open(base / "sim.stderr", "wb") as stderr:
        sim = subprocess.Popen(
            [*MEDSEC, "sim", "--fleet", str(pumps), "--write-fleet", str(base / "fleet.yaml")],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=REPO,
        )
    sampler.start()
    try:
        read_ready_line(sim, "medsec sim --fleet", base / "sim.stderr", timeout=300)
        ready_s = time.monotonic() - started
        began = time.monotonic()
        fleet_command = [*MEDSEC, "fleet", str(base / "fleet.yaml"), "-j", str(jobs)]
        fleet_command += ["--lanes", str(lanes)] if lanes else []
        fleet = subprocess.run(
            [*fleet_command, "--allow-destructive", "--out", str(base / "out")],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=3600,
        )
        wall = time.monotonic() - began
    finally:
        stop_process(sim, timeout=30)
        stop.set()
        sampler.join(timeout=5)
    results = json.loads((base / "out" / "fleet.json").read_text())
    cpu = os.times()
    wrong = _judge(results)
    print(f"pumps ready in {ready_s:.1f} s; load average before {load_before[0]:.1f}")
    shown = f" --lanes {lanes}" if lanes else ""
    print(f"medsec fleet -j {jobs}{shown}: exit {fleet.returncode}, verdicts {results['verdicts']}")
    print("| pumps | jobs | wall time | peak memory (sum of RSS) | processes at peak | CPU |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {pumps} | {jobs} | {wall:.0f} s ({wall / 60:.1f} min) | {peak.bytes / 2**30:.2f} GiB "
        f"| {peak.processes} | {cpu.children_user + cpu.children_system:.0f} s |"
    )
    for device in results["devices"]:
        if device["verdict"] == "error":  # right failures, but some check could not decide
            print(clean(f"error: {device['key']}: {device['reason']} ({device['folder']})"))
    for line in wrong:
        print(clean(f"unexpected verdict: {line}"))  # reasons can quote the device
    return 0 if not wrong else 1
