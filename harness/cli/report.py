"""`medsec report RUN_DIR`: the report page rendered again from results.json and the evidence.

The page is written beside the run folder (`RUN_DIR.report.html`), never inside it unless
asked with `--in-place`: the folder's signed manifest covers its report.html, so a page
written inside no longer matches it. `--pdf FILE` prints the page with the user's
Chromium or WeasyPrint.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import ValidationError

from harness.cli.exit_codes import EXIT_OK, EXIT_USAGE
from harness.core.terminal import clean
from harness.reporting import results as res


def _say(text: str) -> None:
    print(clean(text, keep_newlines=True))


def _complain(text: str) -> int:
    print(f"medsec report: {clean(text, keep_newlines=True)}", file=sys.stderr)
    return EXIT_USAGE


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def cmd_report(run_dir: Path, out: Path | None, pdf: Path | None, in_place: bool) -> int:
    from harness.reporting import page
    from harness.reporting.pdf import NoPdfEngine, print_pdf

    if not (run_dir / "results.json").is_file():
        return _complain(f"{run_dir} has no results.json: not a run folder")
    try:
        results = res.load_run(run_dir)
    except (ValidationError, ValueError, OSError) as exc:
        return _complain(f"{run_dir / 'results.json'} cannot be read: {exc}")
    folder = run_dir.resolve()
    if out is None:
        out = (
            folder / page.REPORT_NAME
            if in_place
            else folder.with_name(folder.name + ".report.html")
        )
    inside = [p for p in (out, pdf) if p is not None and _inside(p, folder)]
    if inside and not in_place:
        return _complain(
            f"{inside[0]} is inside the run folder: its signed manifest would no longer "
            "verify. Choose a path outside it, or pass --in-place to do it knowingly."
        )
    if out.resolve().is_dir():
        return _complain(f"{out} is a folder; --out names the page file")
    out.parent.mkdir(parents=True, exist_ok=True)
    page.write_report(folder, results, out)
    _say(f"wrote {out} ({len(results.checks)} check records)")
    if pdf is not None:
        pdf.parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = print_pdf(out, pdf)
        except NoPdfEngine as exc:
            return _complain(str(exc))
        _say(f"wrote {pdf} (printed by {engine})")
    if inside:
        _say(
            f"warning: written inside {run_dir} (--in-place): `medsec verify {run_dir}` now "
            "reports it as modified or added; the signed manifest no longer covers the folder"
        )
    else:
        _say(f"the run folder {run_dir} is unchanged: its signed manifest still covers it")
    return EXIT_OK
