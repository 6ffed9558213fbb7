"""`python -m harness.sim ...` is `medsec sim ...`."""

from __future__ import annotations

import sys

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main(["sim", *sys.argv[1:]]))
