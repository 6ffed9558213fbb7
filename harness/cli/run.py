"""`medsec run`: validate the profile, run the chosen suites under pytest, map the exit status."""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import threading
from pathlib import Path

from rich.console import Console

from harness import __version__
from harness.cli.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from harness.cli.suites import SUITES
from harness.core.terminal import markup_safe


class FreezeImported:
    """Once the checks are collected, what is in memory (every module the checks import:
    scapy, paramiko, cryptography, pydantic) lives as long as the `medsec run` process.
    `gc.freeze()` keeps the collector from walking it again in each full collection: about
    1 s of CPU a run."""

    def pytest_collection_finish(self, session: object) -> None:
        gc.freeze()


def cmd_run(args: argparse.Namespace) -> int:
    """Validate, run pytest on the chosen suites, print the summary, map the exit status."""
    import pytest

    from harness.cli import progress
    from harness.config.profile import load_profile
    from harness.config.yamlfile import read_env_file
    from harness.plugin.session import default_run_dir
    from harness.plugin.suites import testsuites_dir
    from harness.reporting import results

    console = Console(stderr=True, soft_wrap=True)
    if args.env_file:  # the file's values win over the environment's, for the plugin too
        os.environ.update(read_env_file(args.env_file))
    profile = load_profile(args.profile)  # ProfileError -> exit 2 before anything runs
    if profile.labgrid is not None:
        from harness.transports import labgrid_place

        if (missing := labgrid_place.missing()) is not None:
            console.print(f"[red]{markup_safe(str(missing))}[/]", highlight=False)
            return EXIT_USAGE
    names = [s.strip() for s in args.suite.split(",") if s.strip()]
    unknown = [n for n in names if n not in SUITES]
    if unknown or not names:
        console.print(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}")
        return EXIT_USAGE
    out: Path = args.out or default_run_dir(profile)
    sarif_out: Path | None = args.sarif.resolve() if args.sarif else None
    if args.lanes is not None and args.lanes < 1:
        console.print("--lanes: at least 1")
        return EXIT_USAGE
    if sarif_out is not None and not sarif_out.parent.is_dir():
        console.print(f"--sarif: no folder {markup_safe(str(sarif_out.parent))}", highlight=False)
        return EXIT_USAGE
    suites_dir = testsuites_dir()
    modules = dict.fromkeys(module for n in names for module in SUITES[n])  # suites may overlap
    pytest_args = [
        *(str(suites_dir / module) for module in modules),
        "--profile",
        str(args.profile),
        "--medsec-out",
        str(out),
        "--rootdir",
        str(suites_dir),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        # labgrid's own pytest plugin (the labgrid extra installs it) reads the terminal
        # plugin's --verbose when it is configured, and a medsec run needs none of it.
        "-p",
        "no:labgrid",
        # Its two full garbage collections at the end (about 0.7 s of CPU, every run)
        # look for warnings that no terminal would show.
        "-p",
        "no:unraisableexception",
        *(["--allow-destructive"] if args.allow_destructive else []),
        *(["--signing-key", str(args.signing_key)] if args.signing_key else []),
        *(["--fuzz-seed", str(args.fuzz_seed)] if args.fuzz_seed is not None else []),
        *(["--reveal-secrets"] if args.reveal_secrets else []),
        *(["--medsec-lanes", str(args.lanes)] if args.lanes is not None else []),
        *(["--medsec-sarif", str(sarif_out)] if sarif_out else []),
        *(["--medsec-sarif-mode", args.sarif_mode] if sarif_out else []),
        *args.pytest_args,
    ]
    console.print(
        f"medsec {__version__}: {markup_safe(profile.device.name)} -> {markup_safe(str(out))}",
        highlight=False,
    )
    reporter = progress.ProgressReporter(console, live=not args.quiet)
    code = pytest.main(pytest_args, plugins=[reporter, FreezeImported()])
    interrupted = code == pytest.ExitCode.INTERRUPTED
    if code == pytest.ExitCode.USAGE_ERROR or code == pytest.ExitCode.NO_TESTS_COLLECTED:
        console.print("[red]pytest refused the run (usage error or no checks collected)[/]")
        return EXIT_USAGE
    results_path = out / "results.json"
    if not results_path.is_file():
        console.print(f"[red]the run left no results.json (pytest exit {int(code)})[/]")
        return EXIT_INTERRUPTED if interrupted else EXIT_FAILED
    run = results.load(results_path)
    console.print(progress.summary_table(run))
    for line in progress.firmware_notes(run):
        console.print(f"[yellow]{line}[/]", highlight=False)
    console.print(
        f"report   {markup_safe(str(out / 'report.html'))}\n"
        f"results  {markup_safe(str(results_path))}",
        highlight=False,
    )
    if sarif_out is not None and sarif_out.is_file():
        console.print(f"sarif    {markup_safe(str(sarif_out))}", highlight=False)
    if args.junit and (out / "junit.xml").is_file():
        shutil.copyfile(out / "junit.xml", args.junit)
    if interrupted or run.status == "interrupted":
        console.print(f"[yellow]interrupted: {len(run.not_run)} checks did not finish[/]")
        _exit_if_threads_linger(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    if run.status != "complete":
        console.print(f"[red]the run did not complete ({run.status}, pytest exit {int(code)})[/]")
        return EXIT_FAILED
    if code == pytest.ExitCode.INTERNAL_ERROR or reporter.problems:
        return EXIT_FAILED
    return EXIT_OK if run.ok else EXIT_FAILED


def _exit_if_threads_linger(code: int) -> None:
    """Exit now when an interrupted check left threads blocked in an I/O (a lane's probe
    pool waiting on a silent device): Python would wait for each to time out before
    exiting (a pool's threads are joined at exit, daemon or not). The run folder is
    written and sealed by then; nothing is lost."""
    if threading.active_count() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
