"""`medsec`: run, sim, validate, schema, verify, trace and demo.

Exit status (DESIGN.md): 0 every check passed, was not applicable or waived; 1 a check
failed or errored (or the run was interrupted); 2 bad usage or an invalid profile.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from harness import __version__
from harness.core.errors import MedsecError, ProfileError

SUITES = {
    "auth": "test_authentication.py",
    "crypto": "test_encryption.py",
    "update": "test_secure_update.py",
    "surface": "test_surface.py",
}
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
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
    run.add_argument("--signing-key", type=Path, help="Ed25519 PEM that signs the manifest")
    run.add_argument(
        "--reveal-secrets",
        action="store_true",
        help="write found credentials in full to DIR.revealed-secrets.txt (local only, 0600)",
    )
    run.add_argument("--junit", type=Path, help="also copy junit.xml to this path")
    run.add_argument("--quiet", action="store_true", help="no live progress, only the summary")
    run.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")

    sim = commands.add_parser("sim", help="start the emulated infusion pump")
    sim.add_argument("--variant", choices=("hardened", "vulnerable"), default="hardened")
    sim.add_argument(
        "--weakness",
        action="append",
        default=[],
        metavar="W-NN",
        help="plant just this weakness in the hardened pump (repeatable)",
    )
    sim.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    sim.add_argument("--write-profile", type=Path, metavar="PATH")
    sim.add_argument("--workdir", type=Path, help="keys and logs (default: a temporary folder)")
    sim.add_argument("--verbose", action="store_true", help="log to stderr too")

    validate = commands.add_parser("validate", help="check a profile and its threat model")
    validate.add_argument("profile", type=Path)

    schema = commands.add_parser("schema", help="print the JSON Schema of profiles")
    schema.add_argument("--results", action="store_true", help="of results.json instead")

    verify = commands.add_parser("verify", help="check a run folder against its signed manifest")
    verify.add_argument("run_dir", type=Path)
    verify.add_argument(
        "--public-key", type=Path, help="pin the key the manifest must be signed with"
    )

    trace = commands.add_parser("trace", help="threat -> control -> check coverage of a profile")
    trace.add_argument("profile", type=Path)

    demo = commands.add_parser("demo", help="probe a hardened and a vulnerable emulator")
    demo.add_argument("--out", type=Path, help="where the two run folders go")
    demo.add_argument(
        "--no-isolate", action="store_true", help="stay in the host's network namespace"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    args.pytest_args = [*getattr(args, "pytest_args", []), *extra]
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "sim":
            from harness.sim import runner

            return runner.run(
                args.variant,
                args.weakness,
                args.host,
                args.write_profile,
                args.workdir,
                verbose=args.verbose,
            )
        if args.command == "validate":
            return cmd_validate(args.profile)
        if args.command == "schema":
            from harness.config import profile
            from harness.reporting import results

            sys.stdout.write(results.json_schema() if args.results else profile.json_schema())
            return EXIT_OK
        if args.command == "verify":
            return cmd_verify(args.run_dir, args.public_key)
        if args.command == "trace":
            return cmd_trace(args.profile)
        if args.command == "demo":
            from harness.cli import demo

            return demo.run(args.out, isolate=not args.no_isolate)
    except ProfileError as exc:
        print(f"medsec: invalid profile\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except (MedsecError, ValueError) as exc:
        print(f"medsec: {exc}", file=sys.stderr)
        return EXIT_USAGE
    raise AssertionError(args.command)


def cmd_run(args: argparse.Namespace) -> int:
    """Validate, run pytest on the chosen suites, print the summary, map the exit status."""
    import pytest

    from harness.cli import progress, suites
    from harness.config.profile import load_profile
    from harness.plugin.session import default_run_dir
    from harness.reporting import results

    console = Console(stderr=True, soft_wrap=True)
    profile = load_profile(args.profile)  # ProfileError -> exit 2 before anything runs
    names = [s.strip() for s in args.suite.split(",") if s.strip()]
    unknown = [n for n in names if n not in SUITES]
    if unknown or not names:
        console.print(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}")
        return EXIT_USAGE
    out: Path = args.out or default_run_dir(profile)
    suites_dir = suites.testsuites_dir()
    pytest_args = [
        *(str(suites_dir / SUITES[n]) for n in names),
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
        "-o",
        "generate_report_on_test=true",
        "-o",
        "render_collapsed=passed",
        *(["--allow-destructive"] if args.allow_destructive else []),
        *(["--signing-key", str(args.signing_key)] if args.signing_key else []),
        *(["--reveal-secrets"] if args.reveal_secrets else []),
        *args.pytest_args,
    ]
    console.print(f"medsec {__version__}: {profile.device.name} -> {out}", highlight=False)
    reporter = progress.ProgressReporter(console, live=not args.quiet)
    code = pytest.main(pytest_args, plugins=[reporter])
    if code == pytest.ExitCode.USAGE_ERROR or code == pytest.ExitCode.NO_TESTS_COLLECTED:
        console.print("[red]pytest refused the run (usage error or no checks collected)[/]")
        return EXIT_USAGE
    results_path = out / "results.json"
    if not results_path.is_file():
        console.print(f"[red]the run left no results.json (pytest exit {int(code)})[/]")
        return EXIT_FAILED
    run = results.load(results_path)
    console.print(progress.summary_table(run))
    console.print(f"report   {out / 'report.html'}\nresults  {results_path}", highlight=False)
    if args.junit:
        shutil.copyfile(out / "junit.xml", args.junit)
    if run.status == "interrupted":
        console.print(f"[yellow]interrupted: {len(run.not_run)} checks did not finish[/]")
        return EXIT_FAILED
    if code == pytest.ExitCode.INTERNAL_ERROR or reporter.problems:
        return EXIT_FAILED
    return EXIT_OK if run.ok else EXIT_FAILED


def cmd_validate(path: Path) -> int:
    from harness.config.profile import load_profile
    from harness.config.threatmodel import load_threat_model

    profile = load_profile(path)
    model = load_threat_model(profile.threat_model) if profile.threat_model else None
    interfaces = [n for n in ("network", "ssh", "serial", "update", "http") if getattr(profile, n)]
    print(
        f"{path}: valid medsec/profile/v1 for {profile.device.name} "
        f"(firmware {profile.device.firmware}); interfaces: {', '.join(interfaces) or 'none'}"
    )
    if model is not None:
        print(
            f"threat model {profile.threat_model}: {len(model.threats)} threats, "
            f"{len(model.controls)} controls"
        )
    for waiver in profile.waivers:
        print(f"waiver {waiver.check} {waiver.target or '(all targets)'} until {waiver.expires}")
    return EXIT_OK


def cmd_verify(run_dir: Path, public_key: Path | None) -> int:
    from harness.evidence.manifest import verify_run

    result = verify_run(run_dir, public_key)
    if result.problem:
        print(f"FAILED: {result.problem}")
    for label, paths in (
        ("modified", result.modified),
        ("missing", result.missing),
        ("added", result.added),
    ):
        for path in paths:
            print(f"{label:8} {path}")
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


def cmd_trace(path: Path) -> int:
    from harness.cli.suites import implemented_checks
    from harness.config.profile import load_profile
    from harness.config.threatmodel import load_threat_model
    from harness.reporting import matrix

    profile = load_profile(path)
    if profile.threat_model is None:
        print("the profile names no threat_model")
        return EXIT_USAGE
    model = load_threat_model(profile.threat_model)
    implemented = implemented_checks()
    for row in matrix.build(model, [], implemented):
        cells = row.cells
        have = [c.check_id for c in cells if c.implemented]
        missing = [c.check_id for c in cells if not c.implemented]
        status = "NO CHECK" if not cells else ("no implemented check" if not have else "traced")
        print(f"{row.threat.id:6} {status:21} {row.threat.title}")
        if have:
            print(f"{'':6} checks:  {', '.join(have)}")
        if missing:
            print(f"{'':6} planned: {', '.join(missing)}")
    return EXIT_OK
