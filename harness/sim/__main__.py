"""`python -m harness.sim`: the emulator without the rest of the CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.sim.pump import VARIANTS
from harness.sim.runner import run


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the emulated pump until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.sim", description="Run the emulated infusion pump IP-100."
    )
    parser.add_argument("--variant", choices=VARIANTS, default="hardened")
    parser.add_argument(
        "--weakness",
        action="append",
        default=[],
        metavar="W-nn",
        help="plant one weakness in the hardened pump (repeatable)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="IP address to listen on")
    parser.add_argument("--write-profile", type=Path, metavar="PATH")
    parser.add_argument("--workdir", type=Path, metavar="DIR", help="kept after exit")
    parser.add_argument("--verbose", action="store_true", help="log to stderr too")
    args = parser.parse_args(argv)
    return run(
        args.variant,
        args.weakness,
        args.host,
        args.write_profile,
        args.workdir,
        verbose=args.verbose,
    )


if __name__ == "__main__":
    sys.exit(main())
