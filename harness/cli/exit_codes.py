"""Exit status of `medsec` (DESIGN.md): what scripts and CI read."""

from __future__ import annotations

EXIT_OK = 0  # every check passed, was not applicable or waived
EXIT_FAILED = 1  # a check failed or errored, or the run was interrupted
EXIT_USAGE = 2  # bad usage or an invalid profile
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), whatever the run had done by then
