"""`medsec verify`: a run folder against its signed manifest."""

from __future__ import annotations

from pathlib import Path

from harness.cli.exit_codes import EXIT_FAILED, EXIT_OK
from harness.core.terminal import clean


def cmd_verify(run_dir: Path, public_key: Path | None) -> int:
    from harness.evidence.manifest import verify_run

    result = verify_run(run_dir, public_key)
    if result.problem:
        print(f"FAILED: {clean(result.problem)}")
    for label, paths in (
        ("modified", result.modified),
        ("missing", result.missing),
        ("added", result.added),
    ):
        for path in paths:
            kind = result.irregular.get(path)
            shown = clean(path) + (f" ({kind}, not a regular file)" if kind else "")
            print(f"{label:8} {shown}")
    pin = (
        "pinned key"
        if result.key_pinned
        else "key saved in the run folder (pass --public-key to pin)"
    )
    if result.ok:
        print(f"OK: every file matches the manifest signed by {result.fingerprint} ({pin})")
        return EXIT_OK
    print(f"FAILED: the run folder does not match its signed manifest ({pin})")
    return EXIT_FAILED
