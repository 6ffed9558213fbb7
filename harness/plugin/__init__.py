"""The pytest plugin: `--profile` and friends, the `check` marker, outcomes and the run folder.

Registered through the `pytest11` entry point, so `python -m pytest testsuites --profile P`
runs the product's checks without the `medsec` command. Without `--profile` the plugin
stays out of the way (its fixtures skip), so it never disturbs other test suites.

This module only names the plugin's parts; each is a module of its own:
`options` (command line, run start), `hooks` (a check's life and the run's end),
`lane_loop` and `lanes` (checks of independent interfaces at once), `lane_state`,
`outcomes` (how an ending becomes an outcome), `watchdog`, `waivers`, `applicability`,
`fixtures` (what every check may ask for), `html_hooks` (pytest-html), `session` and
`state` (what the run keeps).
"""

from __future__ import annotations

from harness.plugin.state import medsec_session

pytest_plugins = [
    "harness.plugin.options",
    "harness.plugin.interrupts",
    "harness.plugin.outcomes",
    "harness.plugin.watchdog",
    "harness.plugin.hooks",
    "harness.plugin.lab",
    "harness.plugin.lane_loop",
    "harness.plugin.fixtures",
    "harness.plugin.html_hooks",
]

__all__ = ["medsec_session"]
