"""AUTH rules the checks ask for, called directly: the typed judgements of the probe findings."""

from __future__ import annotations

from harness.probes.auth.console_access import BootFinding, BootOutcome, KeyOutcome
from harness.probes.console import ConsoleState


def test_console_states_that_mean_a_shell() -> None:
    assert ConsoleState.SHELL.shell
    assert ConsoleState.COMMAND_RAN.shell
    assert not ConsoleState.LOGIN.shell
    assert not ConsoleState.PASSWORD.shell
    assert not ConsoleState.NOTHING.shell
    key = KeyOutcome("Ctrl-C", ConsoleState.LOGIN, ConsoleState.COMMAND_RAN, "medsec42x", True)
    assert key.shell
    assert not KeyOutcome("Ctrl-D", ConsoleState.PASSWORD, ConsoleState.LOGIN, "").shell


def test_a_boot_stopped_at_the_bootloader_prompt_is_interrupted() -> None:
    assert BootFinding(BootOutcome.INTERRUPTED, 40, 4.0, True, "").interrupted
    assert not BootFinding(BootOutcome.LOCKED, 40, 4.0, True, "").interrupted
    assert not BootFinding(BootOutcome.BOOTED, 40, 4.0, True, "").interrupted
