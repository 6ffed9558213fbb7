"""`medsec`: run, sim, validate, schema, verify, report, compare, merge, fleet, sarif, trace,
import-tm, demo, init.

Each command is a module of its own (run, profiles, verify, demo), imported only when
it is asked for, so `medsec --help` and `medsec validate` start fast.
Exit status: see `harness.cli.exit_codes`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from harness.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from harness.cli.parser import build_parser
from harness.core.errors import MedsecError, ProfileError
from harness.core.terminal import clean


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    args.pytest_args = [*getattr(args, "pytest_args", []), *extra]
    try:
        if args.command == "run":
            from harness.core import interrupt_hold

            interrupt_hold.hold()  # until the plugin takes Ctrl-C over (imports first)
            from harness.cli.run import cmd_run

            code = cmd_run(args)
            return EXIT_INTERRUPTED if interrupt_hold.held() else code
        if args.command == "sim" and args.fleet is not None:
            from harness.sim import fleet

            return fleet.run(
                args.fleet, args.write_fleet, args.workdir, host=args.host, weaknesses=args.weakness
            )
        if args.command == "sim":
            from harness.sim import runner

            return runner.run(
                args.variant,
                args.weakness,
                args.host or "127.0.0.1",
                args.write_profile,
                args.workdir,
                verbose=args.verbose,
            )
        if args.command == "validate":
            from harness.cli.profiles import cmd_validate

            return cmd_validate(args.profile, args.env_file)
        if args.command == "schema":
            from harness.config import profile
            from harness.reporting import results

            sys.stdout.write(results.json_schema() if args.results else profile.json_schema())
            return EXIT_OK
        if args.command == "verify":
            from harness.cli.verify import cmd_verify

            return cmd_verify(args.run_dir, args.public_key)
        if args.command == "report":
            from harness.cli.report import cmd_report

            return cmd_report(args.run_dir, args.out, args.pdf, args.in_place)
        if args.command == "compare":
            from harness.cli.compare import cmd_compare

            return cmd_compare(args.old_run, args.new_run, args.html, args.json, args.force)
        if args.command == "merge":
            from harness.cli.merge import cmd_merge

            return cmd_merge(args.run_dirs, args.out, args.signing_key)
        if args.command == "fleet":
            from harness.cli.fleet import cmd_fleet

            return cmd_fleet(args)
        if args.command == "sarif":
            from harness.cli.sarif import cmd_sarif

            return cmd_sarif(args.run_dir, args.mode, args.out, args.profile)
        if args.command == "trace":
            from harness.cli.profiles import cmd_trace

            return cmd_trace(args.profile)
        if args.command == "import-tm":
            from harness.cli.import_tm import cmd_import_tm

            return cmd_import_tm(
                args.source, args.out, args.format, args.map, args.suggest, args.risks, args.force
            )
        if args.command == "init":
            from harness.cli.init import cmd_init

            return cmd_init(args.host, args.out, args.allow, args.ports, args.force)
        if args.command == "demo":
            from harness.cli import demo

            return demo.run(args.out, isolate=not args.no_isolate, lanes=args.lanes)
    except KeyboardInterrupt:
        print("medsec: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ProfileError as exc:
        print(f"medsec: invalid profile\n{clean(str(exc), keep_newlines=True)}", file=sys.stderr)
        return EXIT_USAGE
    except (MedsecError, ValueError) as exc:
        print(f"medsec: {clean(str(exc), keep_newlines=True)}", file=sys.stderr)
        return EXIT_USAGE
    raise AssertionError(args.command)
