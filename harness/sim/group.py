"""Several emulated pumps in one process: `python -m harness.sim.group SPEC.json`.

`medsec sim --fleet` starts a few of these. SPEC.json lists the pumps (label, address,
weaknesses, where its profile and keys go); the process starts them all, writes each
profile, prints one JSON ready line, and serves until SIGTERM or SIGINT, then stops them.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.sim.pump import EmulatedPump, SimConfig

EXIT_OK = 0
EXIT_FAILED = 1


@dataclass(frozen=True)
class PumpSpec:
    """One pump of a group."""

    label: str
    host: str
    weaknesses: tuple[str, ...]
    profile: str  # where its profile is written
    workdir: str  # its keys, SBOM and log


def write_spec(path: Path, pumps: list[PumpSpec]) -> None:
    path.write_text(json.dumps([asdict(p) for p in pumps], indent=1))


def read_spec(path: Path) -> list[PumpSpec]:
    return [
        PumpSpec(p["label"], p["host"], tuple(p["weaknesses"]), p["profile"], p["workdir"])
        for p in json.loads(path.read_text())
    ]


def serve(specs: list[PumpSpec]) -> int:
    """Start every pump, say so on one line, serve until a signal; must run on the main thread."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    pumps: list[EmulatedPump] = []
    try:
        for spec in specs:
            if stop.is_set():
                return EXIT_OK
            pump = EmulatedPump(
                SimConfig(
                    workdir=Path(spec.workdir).resolve(),
                    weaknesses=frozenset(spec.weaknesses),
                    host=spec.host,
                    label=spec.label,
                )
            )
            pumps.append(pump)
            pump.start()
            pump.write_profile(Path(spec.profile))
        sys.stdout.write(json.dumps({"ready": True, "pumps": [s.label for s in specs]}) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        return EXIT_OK
    except (OSError, ValueError) as exc:
        print(f"medsec sim: a pump could not start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        for pump in pumps:
            pump.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(serve(read_spec(Path(sys.argv[1]))))
