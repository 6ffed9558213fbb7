"""`medsec sarif`: a run folder's results as SARIF 2.1.0 (stdout, or a file with -o)."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.cli.exit_codes import EXIT_OK
from harness.core.errors import MedsecError


def cmd_sarif(run_dir: Path, mode: str, out: Path | None, profile: Path | None) -> int:
    """Read RUN_DIR's results (checks.jsonl too, for a run cut short) and write its SARIF."""
    from harness.evidence.manifest import MANIFEST
    from harness.reporting import results, sarif
    from harness.reporting.sources import load_verified

    if not (run_dir / "results.json").is_file():
        raise MedsecError(f"{run_dir}: not a run folder (no results.json)")
    if (run_dir / MANIFEST).is_file():
        load_verified(run_dir)  # a tampered folder is refused: findings must be the run's own
    else:
        print(
            f"{run_dir}: not sealed (no {MANIFEST}: the run was cut short); "
            "the log is built from what it recorded",
            file=sys.stderr,
        )
    run = results.load_run(run_dir)
    log = sarif.build(run, run_dir, sarif.SarifMode(mode), profile=profile)
    if out is None:
        sys.stdout.write(sarif.dumps(log))
    else:
        sarif.write(out, log)
        count = len(log["runs"][0]["results"])
        print(f"{out}: {count} results ({mode} mode)", file=sys.stderr)
    return EXIT_OK
