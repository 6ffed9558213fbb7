"""`medsec merge RUN_DIR... -o MERGED`: several runs as one signed report.

Exit 0 when the merged folder is written and sealed, 2 for bad input (a run that does not
verify, runs of different harness major versions, an output folder that is not new).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.cli.exit_codes import EXIT_OK, EXIT_USAGE
from harness.core.errors import MedsecError
from harness.core.terminal import clean
from harness.evidence.manifest import load_signing_key
from harness.reporting.merge import merge_runs
from harness.reporting.sources import RunInputError


def cmd_merge(run_dirs: list[Path], out: Path, signing_key: Path | None) -> int:
    try:
        if signing_key is not None:
            key, source = load_signing_key(signing_key), f"file {signing_key}"
        else:
            key, source = Ed25519PrivateKey.generate(), "generated for this merge"
    except MedsecError as exc:
        print(f"medsec merge: {clean(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    existed = out.exists()
    try:
        merged = merge_runs(run_dirs, out, key, key_source=source)
    except RunInputError as exc:
        print(f"medsec merge: {clean(str(exc))}", file=sys.stderr)
        if not existed and out.is_dir():
            shutil.rmtree(out)  # a half-written merge is never left behind as if complete
        return EXIT_USAGE
    for device in merged.results.devices:
        open_findings = device.counts.get("failed", 0) + device.counts.get("error", 0)
        print(
            clean(
                f"{device.key}: {device.name}, firmware {device.firmware or '-'}, "
                f"{sum(device.counts.values())} check records, {open_findings} failed or error"
            )
        )
    print(clean(f"wrote {out}/report.html, results.json, junit.xml"))
    print(clean(f"sealed: manifest signed by {merged.fingerprint} ({source})"))
    return EXIT_OK
