"""`python -m harness` is the `medsec` command."""

from harness.cli import main

raise SystemExit(main())
