"""The `medsec` command line: every command and its options."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from harness import __version__
from harness.cli.suites import SUITES

SARIF_MODES = ("github", "full")


def _positive_seconds(text: str) -> float:
    """A number of seconds above zero (not nan, not infinite)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return seconds


def _default_jobs() -> int:
    """min(4, CPUs): each run mostly waits on its device, but starts up on a CPU."""
    return max(1, min(4, os.cpu_count() or 1))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medsec", description="Security checks for connected medical devices."
    )
    parser.add_argument("--version", action="version", version=f"medsec-harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the check suites against a profiled device")
    run.add_argument("profile", type=Path)
    run.add_argument("--out", type=Path, help="run folder (default reports/<device>-<UTC>)")
    run.add_argument(
        "--suite",
        default=",".join(SUITES),
        help=f"comma-separated suites: {', '.join(SUITES)} (default all)",
    )
    run.add_argument(
        "--allow-destructive",
        action="store_true",
        help="include destructive checks (the profile must allow them too)",
    )
    run.add_argument(
        "--fuzz-seed",
        type=int,
        metavar="N",
        help="ROBUST-007's seed: the one a run recorded replays its exact fuzz cases",
    )
    run.add_argument("--signing-key", type=Path, help="Ed25519 PEM that signs the manifest")
    run.add_argument(
        "--reveal-secrets",
        action="store_true",
        help="write found credentials in full to DIR.revealed-secrets.txt (local only, 0600)",
    )
    run.add_argument("--junit", type=Path, help="also copy junit.xml to this path")
    run.add_argument(
        "--sarif", type=Path, metavar="FILE", help="also write the results as SARIF 2.1.0"
    )
    run.add_argument(
        "--sarif-mode",
        choices=SARIF_MODES,
        default="github",
        help="github: failed checks at profile lines (default); full: every outcome",
    )
    run.add_argument(
        "--lanes",
        type=int,
        metavar="N",
        help="checks of independent interfaces at once, in up to N lanes (5: all; "
        "default 1: one after the other)",
    )
    run.add_argument("--quiet", action="store_true", help="no live progress, only the summary")
    run.add_argument("--env-file", type=Path, help="NAME=value lines for the profile's ${NAME}s")
    run.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")

    sim = commands.add_parser("sim", help="start the emulated infusion pump")
    sim.add_argument("--variant", choices=("hardened", "vulnerable"), default="hardened")
    sim.add_argument(
        "--weakness",
        action="append",
        default=[],
        metavar="W-NN",
        help="plant just this weakness in the hardened pump (repeatable); with --fleet: "
        "the weaknesses the pumps cycle through (default every planted one)",
    )
    sim.add_argument(
        "--host",
        help="loopback address to bind (default 127.0.0.1; with --fleet: the first pump's, "
        "default 127.0.100.2)",
    )
    sim.add_argument("--write-profile", type=Path, metavar="PATH")
    sim.add_argument("--workdir", type=Path, help="keys and logs (default: a temporary folder)")
    sim.add_argument("--verbose", action="store_true", help="log to stderr too")
    sim.add_argument(
        "--fleet",
        type=int,
        metavar="K",
        help="start K pumps (hardened and single-weakness variants, cycling) on 127.0.x.y",
    )
    sim.add_argument(
        "--write-fleet",
        type=Path,
        metavar="FLEET.yaml",
        help="with --fleet: the fleet file to write once every pump is ready",
    )

    validate = commands.add_parser("validate", help="check a profile and its threat model")
    validate.add_argument("profile", type=Path)
    validate.add_argument(
        "--env-file", type=Path, help="NAME=value lines for the profile's ${NAME}s"
    )

    schema = commands.add_parser("schema", help="print the JSON Schema of profiles")
    schema.add_argument("--results", action="store_true", help="of results.json instead")

    verify = commands.add_parser("verify", help="check a run folder against its signed manifest")
    verify.add_argument("run_dir", type=Path)
    verify.add_argument(
        "--public-key", type=Path, help="pin the key the manifest must be signed with"
    )

    report = commands.add_parser(
        "report", help="render a run folder's report page again (beside it) and print it to PDF"
    )
    report.add_argument("run_dir", type=Path)
    report.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where the page goes (default RUN_DIR.report.html, beside the run folder)",
    )
    report.add_argument(
        "--pdf", type=Path, metavar="FILE", help="also print it to PDF (Chromium or WeasyPrint)"
    )
    report.add_argument(
        "--in-place",
        action="store_true",
        help="allow writing inside the run folder (default there: RUN_DIR/report.html); "
        "its signed manifest then no longer verifies",
    )

    compare = commands.add_parser(
        "compare", help="what changed between two runs (exit 1 on any regression)"
    )
    compare.add_argument("old_run", type=Path, metavar="OLD_RUN")
    compare.add_argument("new_run", type=Path, metavar="NEW_RUN")
    compare.add_argument("--html", type=Path, metavar="FILE", help="also write the HTML view")
    compare.add_argument("--json", type=Path, metavar="FILE", help="also write it as JSON")
    compare.add_argument(
        "--force", action="store_true", help="compare runs of different devices (name, serial)"
    )

    merge = commands.add_parser(
        "merge", help="one report, results.json and signed manifest for several runs"
    )
    merge.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    merge.add_argument("-o", "--out", type=Path, required=True, metavar="MERGED")
    merge.add_argument("--signing-key", type=Path, help="Ed25519 PEM that signs the manifest")

    fleet = commands.add_parser(
        "fleet", help="run many devices (a fleet file), N at a time, into one sealed folder"
    )
    fleet.add_argument("fleet", type=Path, metavar="FLEET.yaml")
    fleet.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=_default_jobs(),
        metavar="N",
        help=f"device runs at once (default min(4, CPUs): {_default_jobs()})",
    )
    fleet.add_argument("--out", type=Path, help="fleet folder (default reports/fleet-<UTC>)")
    fleet.add_argument(
        "--suite",
        default=",".join(SUITES),
        help=f"comma-separated suites for every device: {', '.join(SUITES)} (default all)",
    )
    fleet.add_argument(
        "--allow-destructive",
        action="store_true",
        help="include destructive checks (each profile must allow them too)",
    )
    fleet.add_argument(
        "--signing-key", type=Path, help="Ed25519 PEM that signs every run and the fleet"
    )
    fleet.add_argument(
        "--lanes",
        type=int,
        metavar="N",
        help="each device run's --lanes (default: the run's own, one check after the other)",
    )
    fleet.add_argument(
        "--device-timeout",
        type=_positive_seconds,
        default=3600.0,
        metavar="S",
        help="a device run still going after S seconds is stopped (default 3600)",
    )

    sarif = commands.add_parser("sarif", help="a run folder's results as SARIF 2.1.0")
    sarif.add_argument("run_dir", type=Path)
    sarif.add_argument(
        "--mode",
        choices=SARIF_MODES,
        default="github",
        help="github: one result per failed check and target (default); full: every outcome",
    )
    sarif.add_argument("-o", "--out", type=Path, metavar="FILE", help="default: stdout")
    sarif.add_argument(
        "--profile",
        type=Path,
        help="the run's profile, where it is now (default: the path results.json records)",
    )

    trace = commands.add_parser("trace", help="threat -> control -> check coverage of a profile")
    trace.add_argument("profile", type=Path)

    importer = commands.add_parser(
        "import-tm",
        help="write a threat model from pytm, Threat Dragon, Threagile, OTM or TMT (.tm7)",
    )
    importer.add_argument("source", type=Path, help="the tool's file (pytm: `./tm.py --json`)")
    importer.add_argument(
        "--format",
        choices=("auto", "pytm", "threat-dragon", "threagile", "otm", "tm7"),
        default="auto",
        help="the source's format (default: recognised from the file)",
    )
    importer.add_argument(
        "--map", type=Path, metavar="MAP.yaml", help="source threat ids -> check ids (wins)"
    )
    importer.add_argument(
        "--suggest",
        action="store_true",
        help="also write OUT.map-draft.yaml: guessed checks for unmapped threats (not applied)",
    )
    importer.add_argument(
        "--risks", type=Path, metavar="RISKS.json", help="threagile: the risks.json it generated"
    )
    importer.add_argument("-o", "--out", type=Path, required=True, help="threat model to write")
    importer.add_argument("--force", action="store_true", help="replace existing output files")

    demo = commands.add_parser("demo", help="probe a hardened and a vulnerable emulator")
    demo.add_argument("--out", type=Path, help="where the two run folders go")
    demo.add_argument(
        "--no-isolate", action="store_true", help="stay in the host's network namespace"
    )
    demo.add_argument(
        "--lanes",
        type=int,
        metavar="N",
        help="each run's --lanes (default 5: checks of independent interfaces at once; "
        "1: one after the other)",
    )
    init = commands.add_parser("init", help="probe a device once and write a draft profile")
    init.add_argument("host", help="the device: loopback, or inside an --allow network")
    init.add_argument("--out", type=Path, help="where the draft goes (default: stdout)")
    init.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="CIDR",
        help="a network you may probe besides loopback (repeatable)",
    )
    init.add_argument("--ports", help="TCP ports to scan, e.g. 1-1024,8080 (default all)")
    init.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    return parser
